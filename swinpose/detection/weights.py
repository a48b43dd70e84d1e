"""The bundled detector's weights file: float16 safetensors with its config and training record in the metadata."""

from __future__ import annotations

import json
from pathlib import Path

from torch import nn

from runtime.errors import CheckpointError, MissingDependencyError
from runtime.files import atomic_path
from swinpose.detection.model import DetectorConfig, build_detector
from swinpose.models.pose_io import BUNDLED

__all__ = ["BUNDLED_DETECTOR", "load_detector", "resolve_detector", "save_detector"]

_CONFIG_KEY = "swinpose_detector_config"
RECORD_KEY = "swinpose_detector_training"

#: the detector trained on synthetic figures that ships with swinpose (see DETECTOR_CARD.md beside it)
BUNDLED_DETECTOR = Path(__file__).resolve().parents[1] / "weights" / "swinpose_det_fcos_320x256_synthetic.safetensors"


def resolve_detector(value: str | Path) -> Path:
    """``"bundled"`` (:data:`swinpose.models.pose_io.BUNDLED`) → :data:`BUNDLED_DETECTOR`; anything else is a path.
    The one place a detector's special name is read."""
    return BUNDLED_DETECTOR if str(value) == BUNDLED else Path(value)


def save_detector(model: nn.Module, cfg: DetectorConfig, path: Path, record: dict | None = None) -> Path:
    """Write a :func:`build_detector` model's weights (float16) and config atomically to ``path`` (.safetensors)."""
    try:
        from safetensors.torch import save_file
    except ImportError as e:
        raise MissingDependencyError("safetensors", "train", "saving the detector") from e
    if path.suffix != ".safetensors":
        raise CheckpointError(f"{path}: detector weights are written as .safetensors; use that suffix")
    sd = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    sd = {k: v.half() if v.is_floating_point() else v for k, v in sd.items()}
    meta = {_CONFIG_KEY: cfg.to_json(), RECORD_KEY: json.dumps(record or {})}
    with atomic_path(path) as tmp:
        save_file(sd, str(tmp), metadata=meta)
    return path


def load_detector(path: str | Path) -> tuple[nn.Module, DetectorConfig, dict]:
    """(the model in eval mode, float32; its config; its training record) from a :func:`save_detector` file."""
    try:
        from safetensors import safe_open
        from safetensors.torch import load_file
    except ImportError as e:
        raise MissingDependencyError("safetensors", "train", "loading the detector") from e
    path = resolve_detector(path)
    if not path.is_file():
        raise CheckpointError(f"no detector weights at {path}; pass 'bundled' or a file swinpose-train-detector wrote")
    try:
        with safe_open(str(path), "pt") as f:
            meta = f.metadata() or {}
        sd = load_file(str(path))
    except Exception as e:  # safetensors raises its own types for damaged files
        raise CheckpointError(f"{path} is not a readable safetensors file ({e}); re-train or re-download it") from e
    if _CONFIG_KEY not in meta:
        raise CheckpointError(f"{path} is not a swinpose detector file: its metadata has no {_CONFIG_KEY!r}")
    cfg = DetectorConfig.from_json(meta[_CONFIG_KEY])
    model = build_detector(cfg)
    try:
        model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in sd.items()})
    except RuntimeError as e:
        raise CheckpointError(f"{path}: the weights do not fit {cfg.name} ({str(e)[:300]})") from e
    model.eval()
    return model, cfg, json.loads(meta.get(RECORD_KEY, "{}"))
