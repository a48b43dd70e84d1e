"""The settings of MMPose config files (``configs/.../td-hm_swin-b-p4-w7_8xb32-210e_coco-256x192.py``, 0.x
``swin_b_p4_w7_...py``). The file is read without running it, since a config from the internet is code
(:mod:`swinpose.models.config_file`, whose readers this module re-exports).

:func:`mmpose_settings` turns the merged config into :class:`MMPoseSettings`: the input and heatmap size, the
normalisation and colour order, the box padding, the flip test and its heatmap shift, the keypoint count and the
backbone the config describes. What swinpose does not reproduce (UDP, DARK decoding, other codecs) is refused by
name, never approximated.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runtime.errors import ConfigError
from swinpose.models.config_file import Unresolved, parse_mmpose_config, read_mmpose_config

__all__ = [
    "Unresolved",
    "read_mmpose_config",
    "parse_mmpose_config",
    "MMPoseSettings",
    "mmpose_settings",
    "load_mmpose_settings",
]

logger = logging.getLogger(__name__)

#: MMPose's defaults where a config leaves them out: bbox_xyxy2cs's padding and MSRAHeatmap's sigma
MMPOSE_BOX_PADDING, MMPOSE_SIGMA = 1.25, 2.0


@dataclass(frozen=True)
class MMPoseSettings:
    """What an MMPose config says about a Swin top-down model's inference. Sizes are (H, W), ours; MMPose
    writes them (W, H)."""

    source: str
    layout: str  #: "1.x" (codec, data_preprocessor, test_cfg) or "0.x" (data_cfg, NormalizeTensor)
    input_size: tuple[int, int]
    heatmap_size: tuple[int, int]
    sigma: float
    color_order: str  #: "RGB" or "BGR", the order the network takes
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    pixel_scale: float  #: 255.0 when mean/std are on the 0..255 scale (1.x), 1.0 on 0..1 (0.x)
    box_padding: float
    flip_test: bool
    shift_heatmap: bool
    num_keypoints: int | None
    backbone: dict[str, Any] = field(default_factory=dict)  #: embed_dims, depths, num_heads, window_size
    neck: bool = False
    keypoints: dict[str, Any] | None = None  #: KeypointSpec.to_dict from a resolved 0.x dataset_info

    def describe(self) -> str:
        h, w = self.input_size
        return (
            f"{h}×{w} input, {self.color_order}, mean {list(self.mean)} std {list(self.std)} "
            f"(0..{self.pixel_scale:g} scale), box padding {self.box_padding:g}, "
            f"flip test {'on' if self.flip_test else 'off'}"
            f"{' with heatmap shift' if self.shift_heatmap else ''}"
        )


def _get(d: Any, dotted: str, default: Any = None) -> Any:
    for part in dotted.split("."):
        if not isinstance(d, dict) or part not in d:
            return default
        d = d[part]
    return d


class _Reader:
    """Typed reads of config values, each failure naming the key, the file and the flag that settles it."""

    def __init__(self, cfg: dict[str, Any], source: str) -> None:
        self.cfg, self.source = cfg, source

    def fail(self, what: str, fix: str) -> ConfigError:
        return ConfigError(f"MMPose config {self.source}: {what}; {fix}")

    def value(self, dotted: str, default: Any = None, base: Any = None) -> Any:
        v = _get(self.cfg if base is None else base, dotted, default)
        if isinstance(v, Unresolved):
            raise self.fail(f"{dotted} is {v.why}", "write it as a plain value in the config")
        return v

    def size(self, dotted: str, value: Any, flag: str) -> tuple[int, int]:
        if value is None:
            raise self.fail(f"it sets no {dotted}", f"pass {flag}")
        if isinstance(value, Unresolved):
            raise self.fail(f"{dotted} is {value.why}", f"write it as a plain value, or pass {flag}")
        if not (isinstance(value, (list, tuple)) and len(value) == 2 and all(type(v) is int and v > 0 for v in value)):
            raise self.fail(f"{dotted} is {value!r}, not (width, height) in pixels", f"fix it, or pass {flag}")
        return int(value[1]), int(value[0])  # MMPose's (W, H) → our (H, W)

    def number(self, dotted: str, value: Any, default: float, lo: float = 0.0) -> float:
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= lo:
            raise self.fail(f"{dotted} is {value!r}, not a number above {lo:g}", "fix it in the config")
        return float(value)

    def triple(self, dotted: str, value: Any) -> tuple[float, float, float]:
        ok = isinstance(value, (list, tuple)) and len(value) == 3
        if not ok or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
            raise self.fail(f"{dotted} is {value!r}, not three per-channel numbers", "fix it in the config")
        return float(value[0]), float(value[1]), float(value[2])

    def flag(self, dotted: str, value: Any, default: bool) -> bool:
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self.fail(f"{dotted} is {value!r}, not True or False", "fix it in the config")
        return value


def _pipeline_step(cfg: dict[str, Any], kinds: tuple[str, ...]) -> dict[str, Any] | None:
    """The first step whose type is one of ``kinds`` in the pipeline MMPose tests with (1.x's test_dataloader, 0.x's
    data.test), else in the val pipeline."""
    keys = (
        "test_dataloader.dataset.pipeline",
        "data.test.pipeline",
        "test_pipeline",
        "val_dataloader.dataset.pipeline",
        "data.val.pipeline",
        "val_pipeline",
    )
    for key in keys:
        steps = _get(cfg, key)
        if isinstance(steps, list):
            for s in steps:
                if isinstance(s, dict) and s.get("type") in kinds:
                    return s
    return None


def _refuse(r: _Reader, condition: bool, what: str) -> None:
    if condition:
        raise r.fail(
            f"{what}, which swinpose's decoding does not reproduce",
            "deploy a config with MSRAHeatmap decoding and no UDP (as MMPose's Swin configs are), or open an "
            "issue with the config",
        )


def mmpose_settings(cfg: dict[str, Any], source: str) -> MMPoseSettings:
    """The inference settings of a merged MMPose config (:func:`read_mmpose_config`)."""
    r = _Reader(cfg, source)
    model = r.value("model", {})
    if not isinstance(model, dict) or not model:
        raise r.fail("it has no model = dict(...)", "pass the top-down pose config the checkpoint was trained with")
    backbone = _get(model, "backbone", {})
    if not isinstance(backbone, dict) or backbone.get("type") != "SwinTransformer":
        kind = backbone.get("type") if isinstance(backbone, dict) else backbone
        raise r.fail(f"its backbone is {kind!r}, not SwinTransformer", "swinpose deploys MMPose's Swin pose models")
    bb = {
        k: backbone[k]
        for k in ("embed_dims", "depths", "num_heads", "window_size")
        if k in backbone and not isinstance(backbone[k], Unresolved)
    }
    if "head" in model:
        return _settings_1x(r, model, bb)
    if "keypoint_head" in model:
        return _settings_0x(r, model, bb)
    raise r.fail("its model has neither head (MMPose 1.x) nor keypoint_head (0.x)", "pass a top-down heatmap config")


def _settings_1x(r: _Reader, model: dict[str, Any], bb: dict[str, Any]) -> MMPoseSettings:
    head = model["head"]
    codec = _get(head, "decoder")
    codec = codec if isinstance(codec, dict) else r.value("codec")
    if not isinstance(codec, dict):
        raise r.fail(
            "it has no codec (model.head.decoder or codec = dict(type='MSRAHeatmap', ...))",
            "pass --input-size, or the config the checkpoint was trained with",
        )
    _refuse(r, codec.get("type") != "MSRAHeatmap", f"its codec is {codec.get('type')!r}, not MSRAHeatmap")
    _refuse(r, bool(codec.get("unbiased")), "its MSRAHeatmap codec decodes with DARK (unbiased=True)")
    test_cfg = r.value("test_cfg", {}, model) or {}
    _refuse(r, test_cfg.get("flip_mode", "heatmap") != "heatmap", f"its flip_mode is {test_cfg.get('flip_mode')!r}")
    affine = _pipeline_step(r.cfg, ("TopdownAffine",)) or {}
    _refuse(r, bool(affine.get("use_udp")), "its TopdownAffine uses UDP (use_udp=True)")
    box = _pipeline_step(r.cfg, ("GetBBoxCenterScale",)) or {}
    pre = r.value("data_preprocessor", {}, model) or {}
    if pre.get("mean") is None or pre.get("std") is None:
        raise r.fail(
            "model.data_preprocessor sets no mean and std",
            "add MMPose's mean=[123.675, 116.28, 103.53], "
            "std=[58.395, 57.12, 57.375], bgr_to_rgb=True if that is how the model was trained",
        )
    out_channels = head.get("out_channels")
    return MMPoseSettings(
        source=r.source,
        layout="1.x",
        input_size=r.size("codec.input_size", codec.get("input_size"), "--input-size HxW"),
        heatmap_size=r.size("codec.heatmap_size", codec.get("heatmap_size"), "--input-size HxW"),
        sigma=r.number("codec.sigma", codec.get("sigma"), MMPOSE_SIGMA),
        color_order="RGB" if r.flag("data_preprocessor.bgr_to_rgb", pre.get("bgr_to_rgb"), False) else "BGR",
        mean=r.triple("data_preprocessor.mean", pre["mean"]),
        std=r.triple("data_preprocessor.std", pre["std"]),
        pixel_scale=255.0,
        box_padding=r.number("GetBBoxCenterScale.padding", box.get("padding"), MMPOSE_BOX_PADDING),
        flip_test=r.flag("test_cfg.flip_test", test_cfg.get("flip_test"), False),
        shift_heatmap=r.flag("test_cfg.shift_heatmap", test_cfg.get("shift_heatmap"), False),
        num_keypoints=out_channels if type(out_channels) is int else None,
        backbone=bb,
        neck=isinstance(model.get("neck"), dict),
    )


def _settings_0x(r: _Reader, model: dict[str, Any], bb: dict[str, Any]) -> MMPoseSettings:
    head = model["keypoint_head"]
    data_cfg = r.value("data_cfg", {}) or {}
    test_cfg = r.value("test_cfg", {}, model) or {}
    _refuse(
        r,
        test_cfg.get("target_type", "GaussianHeatmap") != "GaussianHeatmap",
        f"its target_type is {test_cfg.get('target_type')!r}",
    )
    _refuse(r, bool(test_cfg.get("use_udp")), "its test_cfg uses UDP (use_udp=True)")
    _refuse(
        r,
        test_cfg.get("post_process", "default") != "default",
        f"its post_process is {test_cfg.get('post_process')!r} (swinpose reproduces 'default')",
    )
    affine = _pipeline_step(r.cfg, ("TopDownAffine",)) or {}
    _refuse(r, bool(affine.get("use_udp")), "its TopDownAffine uses UDP (use_udp=True)")
    norm = _pipeline_step(r.cfg, ("NormalizeTensor",))
    if norm is None:
        raise r.fail("its test pipeline has no NormalizeTensor", "pass the config the checkpoint was trained with")
    box = _pipeline_step(r.cfg, ("TopDownGetBboxCenterScale",)) or {}
    load = _pipeline_step(r.cfg, ("LoadImageFromFile",)) or {}
    target = next(
        (
            s
            for k in ("train_pipeline",)
            for s in (_get(r.cfg, k) or [])
            if isinstance(s, dict) and s.get("type") == "TopDownGenerateTarget"
        ),
        {},
    )
    out_channels = head.get("out_channels")
    return MMPoseSettings(
        source=r.source,
        layout="0.x",
        input_size=r.size("data_cfg.image_size", data_cfg.get("image_size"), "--input-size HxW"),
        heatmap_size=r.size("data_cfg.heatmap_size", data_cfg.get("heatmap_size"), "--input-size HxW"),
        sigma=r.number("TopDownGenerateTarget.sigma", target.get("sigma"), MMPOSE_SIGMA),
        color_order="BGR" if load.get("channel_order", "rgb") == "bgr" else "RGB",
        mean=r.triple("NormalizeTensor.mean", norm.get("mean")),
        std=r.triple("NormalizeTensor.std", norm.get("std")),
        pixel_scale=1.0,
        box_padding=r.number("TopDownGetBboxCenterScale.padding", box.get("padding"), MMPOSE_BOX_PADDING),
        flip_test=r.flag("test_cfg.flip_test", test_cfg.get("flip_test"), False),
        shift_heatmap=r.flag("test_cfg.shift_heatmap", test_cfg.get("shift_heatmap"), False),
        num_keypoints=out_channels if type(out_channels) is int else None,
        backbone=bb,
        neck=isinstance(model.get("neck"), dict),
        keypoints=_dataset_keypoints(r.cfg.get("dataset_info")),
    )


def _dataset_keypoints(info: Any) -> dict[str, Any] | None:
    """KeypointSpec.to_dict from a 0.x ``dataset_info`` (keypoint_info with swap names, skeleton_info, sigmas),
    or None when it is absent or not plain data."""
    try:
        kinfo = info["keypoint_info"]
        order = sorted(kinfo)
        names = [str(kinfo[i]["name"]) for i in order]
        index = {n: i for i, n in enumerate(names)}
        pairs = sorted(
            {tuple(sorted((index[n], index[kinfo[i]["swap"]]))) for i, n in zip(order, names) if kinfo[i].get("swap")}
        )
        links = info.get("skeleton_info", {})
        skeleton = [[index[links[j]["link"][0]], index[links[j]["link"][1]]] for j in sorted(links)]
        sigmas = [float(s) for s in info.get("sigmas", [])]
    except (KeyError, TypeError, ValueError, IndexError, AttributeError):
        return None
    return {"names": names, "skeleton": skeleton, "flip_pairs": [list(p) for p in pairs], "oks_sigmas": sigmas}


def load_mmpose_settings(path: str | Path) -> MMPoseSettings:
    """:func:`mmpose_settings` of the config file at ``path``."""
    return mmpose_settings(read_mmpose_config(path), str(path))
