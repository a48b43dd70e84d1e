"""Whole MMPose Swin pose models (backbone, neck, head) from their checkpoints, as our SwinPose.

MMPose publishes Swin-T/B/L top-down models (a Swin on its last stage, then three 4×4 stride-2 deconvs with BN and
ReLU, then a 1×1 conv) and, in 0.x, Swin-B + FPN (``swin_b_p4_w7_fpn``: FPN to 256 channels with bilinear top-down
sums and 3×3 output convs, a 1×1 conv on level 0). Their files are mmengine (1.x: ``head.*``) or mmcv (0.x:
``keypoint_head.*``) checkpoints, ``{"meta": {...}, "state_dict": {...}}``.

- **Reading:** ``torch.load(weights_only=True)`` with numpy's array, dtype and scalar reconstruction allowlisted
  (1.x ``meta.dataset_meta`` holds numpy arrays), and nothing else: a file with pickled code is still refused.
- **The architecture comes from the tensors:** embed dim, depths, heads, window, the neck, the deconvs, their
  width and the keypoint count. The input size is not in the file: the caller gives it (``--input-size``).
- **Numerics:** MMPose's Swin never clips the window (``window_clip=False``), and its patch-merging weights are in
  ``nn.Unfold`` order, which :func:`swinpose.models.checkpoint.to_backbone_names` undoes.
"""

from __future__ import annotations

import re
from typing import Any

from torch import Tensor

from runtime.codec import HeatmapCodec
from runtime.errors import CheckpointError
from runtime.keypoints import KeypointSpec
from runtime.package import InferenceSpec
from runtime.transforms import IMAGENET_MEAN, IMAGENET_STD, Preprocess
from swinpose.models.checkpoint import to_backbone_names
from swinpose.models.config import BackboneConfig, PoseModelConfig
from swinpose.models.mmpose_config import MMPOSE_BOX_PADDING, MMPOSE_SIGMA, MMPoseSettings

__all__ = [
    "is_mmpose_state_dict",
    "mmpose_config",
    "mmpose_to_swinpose",
    "numpy_safe_globals",
    "mmpose_keypoints",
    "mmpose_inference",
    "check_against_config",
]

#: MMPose 0.x's NormalizeTensor: the same statistics on the 0..1 scale
MMPOSE_0X_MEAN, MMPOSE_0X_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def numpy_safe_globals() -> list[Any]:
    """What ``torch.load(weights_only=True)`` may build besides tensors when reading MMPose files: numpy arrays,
    dtypes and scalars (plain data; their classes run no code of the file's)."""
    import numpy as np
    import numpy.dtypes as dtypes

    core = (getattr(np, "_core", None) or np.core).multiarray  # numpy 2 moved numpy.core to numpy._core
    allow: list[Any] = [(np.ndarray, "numpy.ndarray"), (np.dtype, "numpy.dtype")]
    for name in ("_reconstruct", "scalar"):
        allow += [
            (getattr(core, name), f"numpy.core.multiarray.{name}"),
            (getattr(core, name), f"numpy._core.multiarray.{name}"),
        ]
    allow += [getattr(dtypes, n) for n in dir(dtypes) if n.endswith("DType") and isinstance(getattr(dtypes, n), type)]
    return allow


def is_mmpose_state_dict(sd: dict[str, Tensor]) -> bool:
    """An MMPose top-down Swin model: an mmseg-style backbone and a 1.x ``head`` or 0.x ``keypoint_head``."""
    backbone = any(k.startswith(("backbone.stages.", "backbone.patch_embed.projection.")) for k in sd)
    head = any(k.startswith(("head.final_layer.", "keypoint_head.final_layer.")) for k in sd)
    return backbone and head


def _head_prefix(sd: dict[str, Tensor]) -> str:
    return "keypoint_head." if any(k.startswith("keypoint_head.") for k in sd) else "head."


def mmpose_config(sd: dict[str, Tensor], input_size: tuple[int, int], name: str, source: str) -> PoseModelConfig:
    """The PoseModelConfig of an MMPose state dict, read from its tensors' names and shapes, at ``input_size``."""
    try:
        embed = sd["backbone.patch_embed.projection.weight"].shape[0]
        stages = sorted({int(m[1]) for k in sd if (m := re.match(r"backbone\.stages\.(\d+)\.", k))})
        depths, heads, windows = [], [], set()
        for s in stages:
            blocks = {int(m[1]) for k in sd if (m := re.match(rf"backbone\.stages\.{s}\.blocks\.(\d+)\.", k))}
            depths.append(len(blocks))
            table = sd[f"backbone.stages.{s}.blocks.0.attn.w_msa.relative_position_bias_table"]
            heads.append(table.shape[1])
            windows.add((int(round(table.shape[0] ** 0.5)) + 1) // 2)
        head = _head_prefix(sd)
        final = sd[f"{head}final_layer.weight"]
        pattern = re.compile(rf"{re.escape(head)}deconv_layers\.(\d+)\.weight$")
        deconvs = sorted({int(m[1]) for k in sd if (m := pattern.match(k)) and sd[k].dim() == 4})
    except KeyError as e:
        raise CheckpointError(f"{source} is not an MMPose Swin top-down model: it lacks {e}") from e
    if len(stages) != 4 or len(windows) != 1:
        raise CheckpointError(
            f"{source}: {len(stages)} Swin stages with windows {sorted(windows)}; expected 4 stages of one window size"
        )
    fpn = "neck.lateral_convs.0.conv.weight" in sd
    if final.shape[2:] != (1, 1):
        raise CheckpointError(
            f"{source}: its final conv is {tuple(final.shape[2:])}, not 1×1; this head is not MMPose's HeatmapHead"
        )
    backbone = BackboneConfig(
        img_size=tuple(input_size),
        embed_dim=embed,
        depths=tuple(depths),
        num_heads=tuple(heads),
        window_size=windows.pop(),
        drop_path_rate=0.0,
        window_clip=False,
    )
    if fpn:
        neck_channels = sd["neck.lateral_convs.0.conv.weight"].shape[0]
        return PoseModelConfig(
            name,
            backbone,
            neck_channels=neck_channels,
            num_keypoints=final.shape[0],
            neck="fpn",
            head="deconv",
            deconv_layers=len(deconvs),
            head_channels=neck_channels,
        )
    width = sd[f"{head}deconv_layers.0.weight"].shape[1] if deconvs else final.shape[1]
    return PoseModelConfig(
        name,
        backbone,
        num_keypoints=final.shape[0],
        neck="none",
        head="deconv",
        deconv_layers=len(deconvs),
        head_channels=width,
    )


def mmpose_to_swinpose(sd: dict[str, Tensor]) -> tuple[dict[str, Tensor], list[str]]:
    """An MMPose state dict in our SwinPose's names, and the file's tensors that have no place in it (the FPN's
    output convs of levels 1–3 and the output norms of unused stages, which MMPose computes and discards)."""
    backbone, _ = to_backbone_names({k: v for k, v in sd.items() if k.startswith("backbone.")})
    out = {f"backbone.{k}": v for k, v in backbone.items()}
    unused: list[str] = []
    head = _head_prefix(sd)
    for k, v in sd.items():
        if k.startswith("neck."):
            m = re.match(r"neck\.(lateral|fpn)_convs\.(\d+)\.conv\.(weight|bias)$", k)
            if m is None:
                raise CheckpointError(f"neck tensor {k} is not MMPose's FPN (lateral_convs / fpn_convs)")
            kind, level, what = m[1], int(m[2]), m[3]
            if kind == "lateral":
                out[f"neck.lateral.{level}.{what}"] = v
            elif level == 0:
                out[f"neck.output.{what}"] = v
            else:
                unused.append(k)
        elif k.startswith(head):
            rest = k[len(head) :]
            if rest.startswith("final_layer."):
                out["head.final." + rest.removeprefix("final_layer.")] = v
            elif m := re.match(r"deconv_layers\.(\d+)\.(.+)$", rest):
                out[f"head.deconv.{m[1]}.{m[2]}"] = v  # deconv, BN, ReLU triples: the same indices
            else:
                raise CheckpointError(f"head tensor {k} is not MMPose's HeatmapHead (deconv_layers / final_layer)")
    return out, unused


def mmpose_keypoints(dataset_meta: dict[str, Any] | None, k: int) -> dict[str, Any] | None:
    """The keypoint part of the package (``KeypointSpec.to_dict``) from a 1.x checkpoint's ``dataset_meta``
    (names, flip indices, skeleton links, sigmas), or None when it has none for ``k`` keypoints."""
    if not isinstance(dataset_meta, dict):
        return None
    try:
        id2name = dataset_meta["keypoint_id2name"]
        names = [str(id2name[i]) for i in range(k)]
        flips = [int(v) for v in dataset_meta["flip_indices"]]
        pairs = sorted({tuple(sorted((i, j))) for i, j in enumerate(flips) if i != j})
        skeleton = [[int(a), int(b)] for a, b in dataset_meta.get("skeleton_links", [])]
        sigmas = [float(v) for v in dataset_meta.get("sigmas", [])]
    except (KeyError, TypeError, ValueError):
        return None
    if len(flips) != k:
        return None
    return {"names": names, "skeleton": skeleton, "flip_pairs": [list(p) for p in pairs], "oks_sigmas": sigmas}


def mmpose_inference(
    cfg: PoseModelConfig, layout: str, keypoints: dict[str, Any] | None, settings: MMPoseSettings | None = None
) -> InferenceSpec:
    """The InferenceSpec of an MMPose Swin model: its pre-processing (RGB, ImageNet mean/std, padding 1.25,
    ``get_warp_matrix`` without UDP) and its decoding (``MSRAHeatmap``, sigma 2, no DARK, flip test with
    ``shift_heatmap``), with the checkpoint's keypoints (else the config's, else COCO's). ``settings`` (an MMPose
    config, :mod:`swinpose.models.mmpose_config`) replaces these defaults with what the config says."""
    if settings is not None:
        pre = Preprocess(
            cfg.input_size,
            settings.color_order,
            settings.mean,
            settings.std,
            settings.pixel_scale,
            settings.box_padding,
            "fixed",
            "mmpose",
        )
        sigma, shift = settings.sigma, settings.shift_heatmap
        keypoints = keypoints or settings.keypoints
    else:
        # MMPose 1.x's PoseDataPreprocessor: the ImageNet statistics on the 0..255 scale; 0.x's on the 0..1 scale
        zero_x = layout == "0.x"
        mean, std, scale = (MMPOSE_0X_MEAN, MMPOSE_0X_STD, 1.0) if zero_x else (IMAGENET_MEAN, IMAGENET_STD, 255.0)
        pre = Preprocess(cfg.input_size, "RGB", mean, std, scale, MMPOSE_BOX_PADDING, "fixed", "mmpose")
        sigma, shift = MMPOSE_SIGMA, True
    codec = HeatmapCodec(cfg.input_size, cfg.heatmap_size, sigma, use_dark=False, convention="msra", flip_shift=shift)
    points = KeypointSpec.from_dict(keypoints) if keypoints else KeypointSpec.coco()
    return InferenceSpec(pre, codec, points)


def check_against_config(cfg: PoseModelConfig, settings: MMPoseSettings, source: str) -> None:
    """Refuse a checkpoint whose architecture (read from its tensors) is not the one its MMPose config describes."""
    b = cfg.backbone
    ours = {
        "embed_dims": b.embed_dim,
        "depths": list(b.depths),
        "num_heads": list(b.num_heads),
        "window_size": b.window_size,
    }
    theirs = {k: list(v) if isinstance(v, (list, tuple)) else v for k, v in settings.backbone.items()}
    diff = [f"{k} {ours[k]} in the file, {v} in the config" for k, v in theirs.items() if v != ours[k]]
    if settings.num_keypoints is not None and settings.num_keypoints != cfg.num_keypoints:
        diff.append(f"{cfg.num_keypoints} keypoints in the file, out_channels={settings.num_keypoints} in the config")
    if settings.neck != (cfg.neck == "fpn"):
        diff.append(
            f"{'an' if cfg.neck == 'fpn' else 'no'} FPN neck in the file, {'a' if settings.neck else 'no'} "
            "neck in the config"
        )
    if settings.heatmap_size != cfg.heatmap_size:
        diff.append(
            f"heatmaps of {cfg.heatmap_size[0]}×{cfg.heatmap_size[1]} from the network, "
            f"{settings.heatmap_size[0]}×{settings.heatmap_size[1]} in the config's codec"
        )
    if diff:
        raise CheckpointError(
            f"{source} is not the model its config {settings.source} describes: {'; '.join(diff)}; "
            "pass the config the checkpoint was trained with"
        )
