"""Load ImageNet (or pose-trained) Swin weights from a file into our backbone. Never downloads.

Three layouts are understood and mapped onto our (timm 1.0) parameter names:

* **timm** (``layers.{i}.downsample`` at the *start* of stages 1..3; ``norm`` after the last stage), including the
  ``layers_{i}`` names of its ``features_only`` models;
* **official** microsoft/Swin-Transformer (``layers.{i}.downsample`` at the *end* of stages 0..2, ``attn_mask`` and
  ``relative_position_index`` buffers saved in the file);
* **MMPose / mmseg** (``backbone.`` prefix, ``stages``, ``attn.w_msa``, ``ffn.layers``, ``patch_embed.projection``,
  per-stage ``norm{i}``, and patch-merging weights in ``nn.Unfold`` channel order).

Files are read with ``torch.load(weights_only=True)``: a checkpoint that carries pickled code is refused.
"""

from __future__ import annotations

import logging
import math
import pickle
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from runtime.errors import CheckpointError, MissingDependencyError
from swinpose.models.swin import SwinTransformer

__all__ = ["LoadReport", "load_pretrained_backbone", "load_weights_only", "read_state_dict", "to_backbone_names"]

log = logging.getLogger(__name__)

_WRAPPERS = ("state_dict", "model", "module")
_DROPPED = re.compile(r"(relative_position_index|attn_mask|relative_coords_table)$|^head\.")
# mmseg/MMPose name -> timm name, applied in order on the key with its `backbone.` prefix removed
_MMSEG_RENAMES = (
    (re.compile(r"^stages\."), "layers."),
    (re.compile(r"^patch_embed\.projection\."), "patch_embed.proj."),
    (re.compile(r"\.attn\.w_msa\."), ".attn."),
    (re.compile(r"\.ffn\.layers\.0\.0\."), ".mlp.fc1."),
    (re.compile(r"\.ffn\.layers\.1\."), ".mlp.fc2."),
)


@dataclass
class LoadReport:
    """What :func:`load_pretrained_backbone` did."""

    source_format: str  # "timm", "official" or "mmpose"
    loaded: list[str] = field(default_factory=list)
    resized: list[str] = field(default_factory=list)  # relative-position tables interpolated to our window
    initialised: list[str] = field(default_factory=list)  # output norms the file has no weights for
    ignored: list[str] = field(default_factory=list)  # output-norm weights for a model built with out_norm=False


def read_safetensors(path: Path) -> tuple[dict[str, Tensor], dict[str, str]]:
    """(tensors, string metadata) of a ``.safetensors`` file, on the CPU."""
    try:
        from safetensors import safe_open
    except ImportError as e:
        raise MissingDependencyError("safetensors", "train", f"reading {path.name}") from e
    try:
        with safe_open(str(path), "pt", device="cpu") as f:
            return {k: f.get_tensor(k) for k in f.keys()}, dict(f.metadata() or {})
    except Exception as e:  # safetensors raises its own error types on damaged headers
        raise CheckpointError(f"{path} is not a readable safetensors file ({type(e).__name__}: {e})") from e


def read_state_dict(path: str | Path) -> dict[str, Tensor]:
    """Tensors of a ``.pth``/``.pt``/``.ckpt`` (weights only) or ``.safetensors`` file, unwrapped from
    ``{"state_dict"|"model"|"module": ...}`` containers."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist; pass the path of a .pth or .safetensors file")
    if path.suffix == ".safetensors":
        return read_safetensors(path)[0]
    obj = load_weights_only(path)
    while isinstance(obj, dict) and not _is_state_dict(obj):
        inner = next((obj[k] for k in _WRAPPERS if isinstance(obj.get(k), dict)), None)
        if inner is None:
            break
        obj = inner
    if not (isinstance(obj, dict) and _is_state_dict(obj)):
        keys = sorted(obj)[:10] if isinstance(obj, dict) else type(obj).__name__
        raise CheckpointError(f"{path} holds no state dict of tensors (top level: {keys}); save model.state_dict()")
    return obj


def load_weights_only(path: Path, allow: list[Any] | tuple = (), kind: str = "PyTorch checkpoint") -> Any:
    """``torch.load(path, weights_only=True)``, with ``allow`` added to the types it may build (see
    ``torch.serialization.safe_globals``). A file that needs any other pickled object or code is refused, naming
    it; a damaged or foreign file is "not a readable ``kind``"."""
    try:
        with torch.serialization.safe_globals(list(allow)):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        # the name of what it would build: torch says "GLOBAL mod.name" for callables, "got <class ...>" for types
        found = next((m[1] for p in (r"GLOBAL (\S+)", r"got <class '([^']+)'>") if (m := re.search(p, str(e)))), None)
        if found is None:  # not a pickle of objects at all: a damaged or foreign file
            raise CheckpointError(f"{path} is not a readable {kind} ({_last_line(e)})") from e
        raise CheckpointError(
            f"{path} carries pickled Python objects or code ({found}), which "
            "swinpose refuses to load (torch.load weights_only=True). If you trust its origin, re-save only its "
            "tensors: torch.save(torch.load(p, weights_only=False)['state_dict'], 'clean.pth')"
        ) from e
    except Exception as e:  # torch raises RuntimeError/EOFError/zipfile errors on damaged files
        raise CheckpointError(f"{path} is not a readable {kind} ({type(e).__name__}: {_last_line(e)})") from e


def _last_line(e: Exception) -> str:
    lines = [line.strip() for line in str(e).splitlines() if line.strip() and "documentation" not in line]
    return lines[-1] if lines else type(e).__name__


def _is_state_dict(d: dict) -> bool:
    return bool(d) and all(isinstance(v, Tensor) for v in d.values())


def to_backbone_names(state_dict: dict[str, Tensor]) -> tuple[dict[str, Tensor], str]:
    """Map a timm, official or MMPose Swin state dict onto our backbone's names. Returns (mapped, format)."""
    sd = {re.sub(r"^layers_(\d+)\.", r"layers.\1.", k.removeprefix("module.")): v for k, v in state_dict.items()}
    if any(k.startswith("backbone.") for k in sd):  # MMPose pose model, or our own SwinPose
        sd = {k.removeprefix("backbone."): v for k, v in sd.items() if k.startswith("backbone.")}
    fmt = "timm"
    if any(k.startswith("stages.") or ".w_msa." in k for k in sd):
        fmt, sd = "mmpose", _from_mmseg(sd)
    elif "layers.0.downsample.reduction.weight" in sd:
        fmt = "official"
    if fmt != "timm":  # downsample sits at the end of stage i there, at the start of stage i+1 here
        sd = {
            re.sub(r"^layers\.(\d+)\.downsample", lambda m: f"layers.{int(m[1]) + 1}.downsample", k): v
            for k, v in sd.items()
        }
    out = {}
    for k, v in sd.items():
        if _DROPPED.search(k):
            continue
        k = re.sub(r"^norm(\d)\.", r"out_norms.\1.", k)  # MMPose per-stage output norms
        out[re.sub(r"^norm\.", "out_norms.3.", k)] = v  # classification models' final norm = last stage's
    return out, fmt


def _from_mmseg(sd: dict[str, Tensor]) -> dict[str, Tensor]:
    out = {}
    for k, v in sd.items():
        for pattern, repl in _MMSEG_RENAMES:
            k = pattern.sub(repl, k)
        if re.search(r"\.downsample\.reduction\.weight$", k):
            v = _unfold_to_official_order(v, dim=1)
        elif re.search(r"\.downsample\.norm\.(weight|bias)$", k):
            v = _unfold_to_official_order(v, dim=0)
        out[k] = v
    return out


def _unfold_to_official_order(t: Tensor, dim: int) -> Tensor:
    """mmseg's PatchMerging (nn.Unfold) orders the 4C inputs channel-major (c, kh, kw); official Swin orders them
    position-major: (0,0), (1,0), (0,1), (1,1) blocks of C. Undo mmseg's ``correct_unfold_*_order``."""
    t = t.movedim(dim, -1)
    c = t.shape[-1] // 4
    t = t.reshape(*t.shape[:-1], c, 4).transpose(-1, -2)[..., [0, 2, 1, 3], :]  # …×4×C, position-major
    return t.reshape(*t.shape[:-2], 4 * c).movedim(-1, dim)


def resize_relative_position_table(table: Tensor, window: int) -> Tensor:
    """Bicubically resample an L×heads table (L = (2w-1)²) to window ``window``: (2·window-1)²×heads."""
    side = math.isqrt(table.shape[0])
    if side * side != table.shape[0]:
        raise CheckpointError(f"relative_position_bias_table has {table.shape[0]} rows, not a square window's")
    new = 2 * window - 1
    grid = table.T.reshape(1, table.shape[1], side, side).float()
    grid = F.interpolate(grid, size=(new, new), mode="bicubic", align_corners=False)
    return grid.reshape(table.shape[1], new * new).T.to(table.dtype)


def load_pretrained_backbone(model: nn.Module, path: str | Path) -> LoadReport:
    """Load Swin weights from ``path`` into ``model.backbone`` (or into ``model`` if it is the backbone).

    Relative-position tables are resized where the window differs (e.g. ImageNet window 7 → our clipped 6×6 last
    stage); per-stage output norms the file lacks keep their identity initialisation. Anything else missing,
    unexpected or of the wrong shape raises one :class:`CheckpointError` that lists the keys.
    """
    backbone = model if isinstance(model, SwinTransformer) else getattr(model, "backbone", None)
    if not isinstance(backbone, SwinTransformer):
        raise CheckpointError(f"{type(model).__name__} has no Swin backbone; pass a SwinPose or SwinTransformer")
    sd, fmt = to_backbone_names(read_state_dict(path))
    report = LoadReport(fmt)
    own = backbone.state_dict()
    if not any(k.startswith("out_norms.") for k in own):  # out_norm=False: a classifier's final norm has no place
        report.ignored = sorted(k for k in sd if k.startswith("out_norms."))
        sd = {k: v for k, v in sd.items() if not k.startswith("out_norms.")}
    shape_errors = []
    for k, v in list(sd.items()):
        if k not in own or v.shape == own[k].shape:
            continue
        if k.endswith("relative_position_bias_table") and v.shape[1] == own[k].shape[1]:
            sd[k] = resize_relative_position_table(v, backbone.get_submodule(k.rsplit(".", 1)[0]).window)
            report.resized.append(k)
        else:
            shape_errors.append(f"{k}: file {tuple(v.shape)} vs model {tuple(own[k].shape)}")
    missing = [k for k in own if k not in sd]
    report.initialised = [k for k in missing if k.startswith("out_norms.")]
    missing = [k for k in missing if not k.startswith("out_norms.")]
    unexpected = [k for k in sd if k not in own]
    if missing or unexpected or shape_errors:
        raise CheckpointError(
            f"{path} ({fmt} layout) does not fit this backbone: "
            + "; ".join(
                f"{label} ({len(keys)}): {', '.join(keys[:8])}{' …' if len(keys) > 8 else ''}"
                for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", shape_errors))
                if keys
            )
            + ". Check that the file is a Swin checkpoint of the same size (T/S/B/L) as the model."
        )
    backbone.load_state_dict(sd, strict=False)
    report.loaded = sorted(sd)
    log.info(
        "loaded %d tensors from %s (%s layout); resized %d relative-position tables; %d output-norm tensors "
        "left at their initialisation",
        len(sd),
        path,
        fmt,
        len(report.resized),
        len(report.initialised),
    )
    return report
