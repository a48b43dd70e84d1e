"""Named Swin-Pose configurations: ``create_model(name, **overrides)`` and ``list_models()``."""

from __future__ import annotations

from typing import Any

from runtime.errors import ConfigError
from swinpose.models.config import BackboneConfig, PoseModelConfig
from swinpose.models.pose import SwinPose

__all__ = ["create_model", "get_config", "list_models"]

# Swin paper widths/depths/heads; drop-path rates as MMPose uses them for top-down pose.
_SWIN = {
    "t": dict(embed_dim=96, depths=(2, 2, 6, 2), num_heads=(3, 6, 12, 24), drop_path_rate=0.2),
    "s": dict(embed_dim=96, depths=(2, 2, 18, 2), num_heads=(3, 6, 12, 24), drop_path_rate=0.3),
    "b": dict(embed_dim=128, depths=(2, 2, 18, 2), num_heads=(4, 8, 16, 32), drop_path_rate=0.3),
    "l": dict(embed_dim=192, depths=(2, 2, 18, 2), num_heads=(6, 12, 24, 48), drop_path_rate=0.5),
}
# (variant, input H×W, window): B and L at 384×288 use the window-12 ImageNet-22k checkpoints' window.
_NAMED = [
    ("t", (256, 192), 7),
    ("s", (256, 192), 7),
    ("b", (256, 192), 7),
    ("l", (256, 192), 7),
    ("t", (384, 288), 7),
    ("b", (384, 288), 12),
    ("l", (384, 288), 12),
]

_REGISTRY: dict[str, PoseModelConfig] = {}


def _register(cfg: PoseModelConfig) -> None:
    _REGISTRY[cfg.name] = cfg


for _v, _size, _win in _NAMED:
    _name = f"swinpose_{_v}_{_size[0]}x{_size[1]}"
    _register(PoseModelConfig(_name, BackboneConfig(img_size=_size, window_size=_win, **_SWIN[_v])))

# Tiny models for tests and demos: same code paths (padding, shifted windows, window clip), 2.3 M parameters.
# The 128x96 one is fast enough to train on a CPU; the bundled synthetic-data model uses it.
_NANO = dict(embed_dim=32, depths=(2, 2, 2, 2), num_heads=(1, 2, 4, 8), drop_path_rate=0.0)
for _size in ((256, 192), (128, 96)):
    _register(
        PoseModelConfig(
            f"swinpose_nano_{_size[0]}x{_size[1]}",
            BackboneConfig(img_size=_size, **_NANO),
            neck_channels=64,
            head_channels=32,
        )
    )


# MMPose's published Swin top-down models (drop path off: these are for importing trained weights). Its Swin never
# clips the window; the head is three 256-wide 4×4 deconvs on the last stage, or, for 0.x's Swin-B + FPN, a 1×1 conv
# on the FPN's stride-4 level (swinpose.models.mmpose_import reads their checkpoints).
# The windows are the configs' (tests/data/mmpose/configs): Swin-B 384×288 uses 12, Swin-L 384×288 keeps 7.
_MMPOSE = [
    ("t", (256, 192), 7),
    ("b", (256, 192), 7),
    ("b", (384, 288), 12),
    ("l", (256, 192), 7),
    ("l", (384, 288), 7),
]
for _v, _size, _win in _MMPOSE:
    _register(
        PoseModelConfig(
            f"mmpose_swin_{_v}_{_size[0]}x{_size[1]}",
            BackboneConfig(img_size=_size, window_size=_win, window_clip=False, **{**_SWIN[_v], "drop_path_rate": 0.0}),
            neck="none",
            head="deconv",
            deconv_layers=3,
            head_channels=256,
        )
    )
_register(
    PoseModelConfig(
        "mmpose_swin_b_fpn_256x192",
        BackboneConfig(img_size=(256, 192), window_size=7, window_clip=False, **{**_SWIN["b"], "drop_path_rate": 0.0}),
        neck="fpn",
        neck_channels=256,
        head="deconv",
        deconv_layers=0,
        head_channels=256,
    )
)


def list_models() -> list[str]:
    """Names accepted by :func:`create_model`, sorted."""
    return sorted(_REGISTRY)


def get_config(name: str, **overrides: Any) -> PoseModelConfig:
    """The named configuration with ``overrides`` applied (top-level or backbone fields)."""
    if name not in _REGISTRY:
        raise ConfigError(f"unknown model {name!r}; swinpose.list_models() gives {list_models()}")
    return _REGISTRY[name].replace(**overrides)


def create_model(name: str, **overrides: Any) -> SwinPose:
    """Build a named Swin-Pose model, e.g. ``create_model("swinpose_t_256x192", fusion="concat")``.

    Overrides are config fields: ``fusion`` ("sum" = method A, "concat" = B), ``num_keypoints``, ``neck_channels``,
    ``img_size``, ``window_size``, ``drop_path_rate`` and the other :class:`BackboneConfig` fields.
    """
    return SwinPose(get_config(name, **overrides))
