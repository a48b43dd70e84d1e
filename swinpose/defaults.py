"""The inference settings of swinpose's own training: the one place their values are written.

Training records them in every checkpoint (:func:`inference_spec` → the checkpoint's ``swinpose_inference``
metadata), export builds the package from what the checkpoint says, and every runtime reads the package. A
checkpoint from before the metadata existed (or a bare state dict) gets these defaults, with the sigma it recorded.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from runtime.codec import HeatmapCodec
from runtime.errors import CheckpointError, PackageError
from runtime.keypoints import COCO_KEYPOINTS, KeypointSpec
from runtime.package import InferenceSpec
from runtime.transforms import IMAGENET_MEAN, IMAGENET_STD, Preprocess
from swinpose.models.config import PoseModelConfig
from swinpose.models.pose_io import INFERENCE_META_KEY

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "PIXEL_SCALE",
    "COLOR_ORDER",
    "BOX_PADDING",
    "SIGMA",
    "USE_DARK",
    "INFERENCE_META_KEY",
    "default_keypoints",
    "inference_spec",
    "inference_for_codec",
    "inference_from_meta",
]

PIXEL_SCALE = 255.0
COLOR_ORDER = "RGB"
#: context around each person box (SimpleBaseline's and MMPose's 1.25)
BOX_PADDING = 1.25
#: the Gaussian target's standard deviation in heatmap pixels
SIGMA = 2.0
#: DARK sub-pixel decoding
USE_DARK = True


def default_keypoints(k: int) -> KeypointSpec:
    """COCO's person keypoints for K = 17, else K unnamed ones."""
    return KeypointSpec.coco() if k == len(COCO_KEYPOINTS) else KeypointSpec.generic(k)


def inference_spec(
    model_cfg: PoseModelConfig,
    *,
    color_order: str = COLOR_ORDER,
    mean: tuple[float, float, float] = IMAGENET_MEAN,
    std: tuple[float, float, float] = IMAGENET_STD,
    pixel_scale: float = PIXEL_SCALE,
    box_padding: float = BOX_PADDING,
    sigma: float = SIGMA,
    use_dark: bool = USE_DARK,
    keypoints: KeypointSpec | None = None,
) -> InferenceSpec:
    """The inference settings of a model with ``model_cfg`` trained with these settings."""
    pre = Preprocess(model_cfg.input_size, color_order, mean, std, pixel_scale, box_padding)
    codec = HeatmapCodec(model_cfg.input_size, model_cfg.heatmap_size, sigma, use_dark)
    return InferenceSpec(pre, codec, keypoints or default_keypoints(model_cfg.num_keypoints))


def inference_for_codec(codec: HeatmapCodec, num_keypoints: int = len(COCO_KEYPOINTS)) -> InferenceSpec:
    """Our training's pre-processing and ``num_keypoints``' default keypoints around ``codec`` (its input size)."""
    pre = Preprocess(codec.input_size, COLOR_ORDER, IMAGENET_MEAN, IMAGENET_STD, PIXEL_SCALE, BOX_PADDING)
    return InferenceSpec(pre, codec, default_keypoints(num_keypoints))


def inference_from_meta(
    meta: Mapping[str, Any], model_cfg: PoseModelConfig, source: str = "checkpoint"
) -> InferenceSpec:
    """The inference settings a checkpoint's metadata records, checked against the model it builds; a checkpoint
    without them gets our training's defaults (with its recorded ``sigma``, if any)."""
    raw = meta.get(INFERENCE_META_KEY)
    if raw is None:
        sigma = meta.get("sigma", SIGMA)
        try:
            sigma = float(sigma)
        except (TypeError, ValueError):
            sigma = float("nan")
        if not math.isfinite(sigma) or sigma <= 0:
            raise CheckpointError(
                f"{source}: its recorded sigma {meta.get('sigma')!r} is not a positive number; fix "
                "train_config.sigma in the checkpoint, or re-save it"
            )
        return inference_spec(model_cfg, sigma=sigma)
    try:
        data = json.loads(raw) if isinstance(raw, str) else raw
        spec = InferenceSpec.from_dict(data, f"{source} {INFERENCE_META_KEY}")
    except (ValueError, PackageError) as e:
        raise CheckpointError(f"{source}: its {INFERENCE_META_KEY} metadata is malformed ({e}); re-save it") from e
    want = (model_cfg.input_size, model_cfg.heatmap_size, model_cfg.num_keypoints)
    have = (spec.preprocess.input_size, spec.codec.heatmap_size, spec.keypoints.num_keypoints)
    if want != have:
        raise CheckpointError(
            f"{source}: its {INFERENCE_META_KEY} (input, heatmap, keypoints {have}) does not fit its "
            f"model {model_cfg.name} {want}; the file was edited or assembled wrongly"
        )
    return spec
