"""Whole-model files: a trained Swin-Pose model's weights together with the config that builds it.

``.safetensors`` files carry the config as JSON in their metadata (``swinpose_config``); ``.pth`` files (training
checkpoints) are ``{"model": state_dict, "model_config": dict, ...}`` read with ``weights_only=True``.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import torch

from runtime.errors import CheckpointError, ConfigError, InputError, MissingDependencyError
from runtime.files import atomic_path
from swinpose.models.checkpoint import load_weights_only, read_safetensors
from swinpose.models.config import PoseModelConfig
from swinpose.models.mmpose_config import MMPoseSettings, load_mmpose_settings, mmpose_settings, parse_mmpose_config
from swinpose.models.mmpose_import import (
    check_against_config,
    is_mmpose_state_dict,
    mmpose_config,
    mmpose_inference,
    mmpose_keypoints,
    mmpose_to_swinpose,
    numpy_safe_globals,
)
from swinpose.models.pose import SwinPose
from swinpose.models.registry import get_config, list_models

__all__ = [
    "BUNDLED_WEIGHTS",
    "BUNDLED",
    "RANDOM",
    "RANDOM_WEIGHTS_NAME",
    "random_model",
    "load_weights",
    "save_pose_model",
    "load_pose_model",
    "read_pose_file",
    "resolve_weights",
    "load_pose_file",
    "build_pose_model",
    "load_model",
]

logger = logging.getLogger(__name__)

_META_KEY = "swinpose_config"
#: the metadata key of the JSON-encoded inference settings (runtime.package.InferenceSpec; swinpose.defaults)
INFERENCE_META_KEY = "swinpose_inference"
#: the metadata key naming where a model came from when it is not swinpose's own ("mmpose")
SOURCE_META_KEY = "swinpose_source"


def save_pose_model(
    model: SwinPose, path: str | Path, half: bool = False, metadata: dict[str, str] | None = None
) -> Path:
    """Write ``model``'s weights and config to a ``.safetensors`` file atomically (temporary file, then rename).

    ``half`` stores float tensors as float16 (half the size; :func:`load_pose_model` restores float32).
    """
    try:
        from safetensors.torch import save_file
    except ImportError as e:
        raise MissingDependencyError("safetensors", "train", "saving a model file") from e
    path = Path(path)
    if path.suffix != ".safetensors":
        raise CheckpointError(f"{path}: model files are written as .safetensors; use that suffix")
    sd = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    if half:
        sd = {k: v.half() if v.is_floating_point() else v for k, v in sd.items()}
    meta = {_META_KEY: json.dumps(model.cfg.to_dict()), **(metadata or {})}
    with atomic_path(path) as tmp:
        save_file(sd, str(tmp), metadata=meta)
    return path


def read_pose_file(
    path: str | Path,
    model_name: str | None = None,
    input_size: tuple[int, int] | None = None,
    mmpose_config: str | Path | None = None,
) -> tuple[dict[str, torch.Tensor], dict[str, Any], dict[str, str]]:
    """(state dict, model config dict, metadata) of a model file, a training checkpoint, or an MMPose Swin pose
    checkpoint (:mod:`swinpose.models.mmpose_import`).

    ``model_name`` names the registered model of a bare state dict (``torch.save(model.state_dict(), f)``, or
    ``{"state_dict": ...}``), which carries no config; for files that carry one it must agree with it. An MMPose
    file records no input size: ``input_size`` (H, W) gives it, or ``model_name`` (e.g. ``mmpose_swin_b_256x192``),
    or ``mmpose_config``, the MMPose ``.py`` config it was trained with, which also gives its pre-processing and
    flip-test settings (read without running it: :mod:`swinpose.models.mmpose_config`).
    """
    path = Path(path)
    settings = load_mmpose_settings(mmpose_config) if mmpose_config is not None else None
    if model_name is not None:
        get_config(model_name)  # an unknown name fails here, listing the known ones
    if not path.is_file():
        raise CheckpointError(f"model file {path} does not exist; pass a .safetensors model or a training .pth")
    if path.suffix == ".safetensors":
        sd, meta = read_safetensors(path)
        if _META_KEY not in meta:
            raise CheckpointError(
                f"{path} has no '{_META_KEY}' metadata, so the model to build is unknown; it is a backbone or "
                "foreign file: build the model with create_model(...) and load it with load_pretrained_backbone"
            )
        if settings is not None:
            raise CheckpointError(
                f"{path} is a swinpose model file; --mmpose-config {mmpose_config} applies only to "
                "MMPose Swin pose checkpoints (drop it)"
            )
        try:
            cfg = json.loads(meta[_META_KEY])
        except ValueError as e:
            raise CheckpointError(
                f"{path}: its '{_META_KEY}' metadata is not JSON ({e}); the file was damaged or "
                "written by another tool: re-save it with save_pose_model"
            ) from e
        if not isinstance(cfg, dict):
            raise CheckpointError(
                f"{path}: its '{_META_KEY}' metadata is {type(cfg).__name__}, not a model config "
                "object; re-save it with save_pose_model"
            )
        return _check_name(path, sd, cfg, meta, model_name)
    # MMPose's metadata holds numpy arrays: plain data, allowed; nothing else is
    obj = load_weights_only(path, numpy_safe_globals(), kind="weights-only checkpoint")
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict) and is_mmpose_state_dict(obj["state_dict"]):
        return _mmpose_file(path, obj, model_name, input_size, settings)
    if settings is not None:
        raise CheckpointError(
            f"{path} is not an MMPose checkpoint; --mmpose-config {mmpose_config} applies only to "
            "MMPose Swin pose checkpoints (drop it)"
        )
    if isinstance(obj, dict) and isinstance(obj.get("model"), dict) and isinstance(obj.get("model_config"), dict):
        train = obj.get("train_config", {})
        if not isinstance(train, dict):
            raise CheckpointError(
                f"{path}: its train_config is {type(train).__name__}, not the dict swinpose.train "
                "writes; the file was edited or written by another tool"
            )
        sigma = train.get("sigma")
        meta = {} if sigma is None else {"sigma": str(sigma)}
        if INFERENCE_META_KEY in obj:  # written by swinpose.train as a JSON string
            meta[INFERENCE_META_KEY] = str(obj[INFERENCE_META_KEY])
        return _check_name(path, obj["model"], obj["model_config"], meta, model_name)
    bare = obj.get("state_dict", obj.get("model", obj)) if isinstance(obj, dict) else None
    if isinstance(bare, dict) and bare and all(isinstance(v, torch.Tensor) for v in bare.values()):
        if model_name is None:
            raise CheckpointError(
                f"{path} is a bare state dict without a model config; name its model, e.g. --model "
                f"swinpose_t_256x192 (one of {list_models()})"
            )
        return bare, get_config(model_name).to_dict(), {}
    raise CheckpointError(
        f"{path} is not a swinpose checkpoint (needs 'model' and 'model_config', or a bare state dict with "
        "--model NAME); for ImageNet backbones use load_pretrained_backbone"
    )


def _mmpose_file(
    path: Path, obj: dict, model_name: str | None, input_size: tuple[int, int] | None, settings: MMPoseSettings | None
) -> tuple:
    """An MMPose checkpoint as (our state dict, config dict, metadata)."""
    sd = obj["state_dict"]
    if settings is None:
        settings = _embedded_settings(path, obj.get("meta"))
    if settings is not None:
        for given, flag in (
            (input_size, "--input-size"),
            (model_name and get_config(model_name).input_size, "--model"),
        ):
            if given is not None and tuple(given) != settings.input_size:
                raise CheckpointError(
                    f"{flag} says {given[0]}x{given[1]}, and the config {settings.source} says "
                    f"{settings.input_size[0]}x{settings.input_size[1]}; drop {flag}, the config settles the input size"
                )
        input_size = settings.input_size
    if input_size is None and model_name is not None:
        input_size = get_config(model_name).input_size
    if input_size is None:
        raise CheckpointError(
            f"{path} is an MMPose Swin pose model, and MMPose files do not record their input size: pass "
            "--mmpose-config <its MMPose .py config>, --input-size 256x192 (or 384x288, as the model was trained), or "
            f"--model mmpose_swin_b_256x192 (one of {[n for n in list_models() if n.startswith('mmpose_')]})"
        )
    name = model_name or f"mmpose_import_{input_size[0]}x{input_size[1]}"
    cfg = mmpose_config(sd, tuple(input_size), name, str(path))
    if settings is not None:
        check_against_config(cfg, settings, str(path))
    if model_name is not None:
        want = get_config(model_name, img_size=tuple(input_size))
        if cfg.replace(drop_path_rate=want.backbone.drop_path_rate) != want:
            raise CheckpointError(
                f"{path} holds {_describe(cfg)}, not {model_name} ({_describe(want)}); drop --model "
                "and pass --input-size"
            )
    ours, unused = mmpose_to_swinpose(sd)
    layout = "0.x" if any(k.startswith("keypoint_head.") for k in sd) else "1.x"
    keypoints = mmpose_keypoints((obj.get("meta") or {}).get("dataset_meta"), cfg.num_keypoints)
    spec = mmpose_inference(cfg, layout, keypoints, settings)
    meta = {
        SOURCE_META_KEY: "mmpose",
        "mmpose_layout": layout,
        "mmpose_unused": json.dumps(unused),
        INFERENCE_META_KEY: json.dumps(spec.to_dict()),
    }
    if settings is not None:
        meta["mmpose_config"] = settings.source
        logger.info("%s: %s from %s", path.name, settings.describe(), settings.source)
    return ours, cfg.to_dict(), meta


def _embedded_settings(path: Path, meta: Any) -> MMPoseSettings | None:
    """The settings of the config that mmengine's Runner saves in its checkpoints (``meta["cfg"]``, Python text,
    parsed and never run), or None when there is none or it does not say what we need (then logged)."""
    text = meta.get("cfg") if isinstance(meta, dict) else None
    if not isinstance(text, str):
        return None
    try:
        return mmpose_settings(parse_mmpose_config(text, f"{path.name}:meta.cfg"), f"{path.name}:meta.cfg")
    except ConfigError as e:
        logger.info("%s: its embedded config is not used: %s", path.name, e)
        return None


def _describe(cfg: PoseModelConfig) -> str:
    b = cfg.backbone
    return (
        f"embed {b.embed_dim}, depths {list(b.depths)}, heads {list(b.num_heads)}, window {b.window_size}, neck "
        f"{cfg.neck}, {cfg.deconv_layers} deconvs of {cfg.head_channels}, {cfg.num_keypoints} keypoints"
    )


def _check_name(path: Path, sd: dict, cfg: dict[str, Any], meta: dict[str, str], model_name: str | None) -> tuple:
    if model_name is not None and cfg.get("name") != model_name:
        raise CheckpointError(
            f"{path} holds a {cfg.get('name')} model, not {model_name}; drop --model, or pass --model {cfg.get('name')}"
        )
    return sd, cfg, meta


def load_pose_model(path: str | Path) -> SwinPose:
    """Build the model a file describes and load its weights (float32, eval mode)."""
    return load_pose_file(path)[0]


def load_pose_file(
    path: str | Path,
    model_name: str | None = None,
    input_size: tuple[int, int] | None = None,
    mmpose_config: str | Path | None = None,
) -> tuple[SwinPose, dict[str, str]]:
    """The model a file describes, with its weights (float32, eval mode), and the file's metadata.

    The metadata holds the inference settings it was trained with (``swinpose_inference``, read by
    :func:`swinpose.defaults.inference_from_meta`) or, in older files, the codec ``sigma``. ``model_name``,
    ``input_size`` and ``mmpose_config`` as in :func:`read_pose_file`.
    """
    sd, cfg_dict, meta = read_pose_file(path, model_name, input_size, mmpose_config)
    return build_pose_model(sd, cfg_dict, path), meta


def build_pose_model(sd: dict[str, torch.Tensor], cfg_dict: dict[str, Any], source: str | Path) -> SwinPose:
    """The model ``cfg_dict`` describes with the weights ``sd`` (float32, eval mode); ``source`` names the file."""
    try:
        cfg = PoseModelConfig.from_dict(cfg_dict)
        model = SwinPose(cfg)
    except (TypeError, KeyError, ValueError) as e:  # a field of the wrong type fails in the config or the model
        raise CheckpointError(
            f"{source}: its model config is malformed ({type(e).__name__}: {e}); re-save it with save_pose_model"
        ) from e
    sd = {k: v.float() if v.is_floating_point() else v for k, v in sd.items()}
    try:
        result = model.load_state_dict(sd, strict=False)
    except RuntimeError as e:  # tensor shapes differ: another variant, input size or keypoint count
        detail = " ".join(str(e).split())[:300]
        raise CheckpointError(
            f"{source} does not fit {cfg.name}: {detail}; pass the model the weights were trained as"
        ) from e
    # a model on the last stage never reads stages 0–2's output norms, and MMPose's files have none
    unread = re.compile(r"^backbone\.out_norms\.[0-2]\.") if cfg.neck == "none" else None
    missing = [k for k in result.missing_keys if unread is None or not unread.match(k)]
    if missing or result.unexpected_keys:
        raise CheckpointError(
            f"{source} does not fit {cfg.name}: missing {missing[:5]}, unexpected "
            f"{result.unexpected_keys[:5]}; the file and its config disagree"
        )
    return model.eval()


#: the model trained on synthetic figures that ships with swinpose (see its MODEL_CARD.md)
BUNDLED_WEIGHTS = Path(__file__).resolve().parent.parent / "weights" / "swinpose_nano_128x96_synthetic.safetensors"
#: the special ``--weights`` names: the shipped model, and a registered model with seeded random weights (whose
#: packages and benchmarks time like trained ones). :func:`resolve_weights` is the one place that reads them.
BUNDLED = "bundled"
RANDOM = "random"
#: what model.json and reports call random weights
RANDOM_WEIGHTS_NAME = "random init (seed 0)"


def resolve_weights(value: str | Path, allow_random: bool = False) -> Path | None:
    """``"bundled"`` → :data:`BUNDLED_WEIGHTS`; ``"random"`` → None where ``allow_random`` (the caller builds
    :func:`random_model`), else an :class:`InputError`; anything else is a path."""
    if str(value) == BUNDLED:
        return BUNDLED_WEIGHTS
    if str(value) == RANDOM:
        if not allow_random:
            raise InputError(
                "--weights random makes untrained weights, which only an export or a benchmark can use; "
                "pass a weights file or 'bundled'"
            )
        return None
    return Path(value)


def random_model(cfg: PoseModelConfig) -> SwinPose:
    """The model ``cfg`` describes with random weights drawn from seed 0, without touching the caller's random
    state: the same weights wherever they are made (float32, eval mode)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return SwinPose(cfg).eval()


def load_weights(
    value: str | Path,
    model: str | None = None,
    input_size: tuple[int, int] | None = None,
    mmpose_config: str | Path | None = None,
    config: PoseModelConfig | None = None,
) -> tuple[SwinPose, dict[str, str] | None, str]:
    """The model ``value`` names (a file, ``"bundled"`` or ``"random"``), its file's metadata (None for random
    weights) and the weights' name for records. Random weights build ``config``, else the registered ``model``;
    ``model``, ``input_size`` and ``mmpose_config`` as in :func:`read_pose_file`."""
    path = resolve_weights(value, allow_random=True)
    if path is None:
        if config is None and model is None:
            raise InputError("--weights random needs --model NAME, e.g. --model swinpose_t_256x192")
        return random_model(config if config is not None else get_config(model)), None, RANDOM_WEIGHTS_NAME
    pose, meta = load_pose_file(path, model, input_size, mmpose_config)
    return pose, meta, path.name


def load_model(
    path: str | Path,
    model: str | None = None,
    input_size: tuple[int, int] | None = None,
    mmpose_config: str | Path | None = None,
) -> SwinPose:
    """The PyTorch model a file holds (float32, eval mode): a swinpose model file or training checkpoint, a bare
    state dict with ``model``, or an MMPose Swin pose checkpoint (1.x or 0.x) with ``mmpose_config``, ``input_size``
    or ``model``."""
    return load_pose_file(resolve_weights(path), model, input_size, mmpose_config)[0]
