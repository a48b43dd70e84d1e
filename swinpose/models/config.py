"""Frozen model configurations with ``to_dict``/``from_dict`` (what a checkpoint and a model package carry)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from runtime.errors import ConfigError

__all__ = ["BackboneConfig", "PoseModelConfig", "NECKS", "HEADS"]

NECKS = ("fusion", "fpn", "none")
HEADS = ("conv", "deconv")

#: the input must divide by patch_size · 2^(stages-1) so that every FPN level is exactly twice the next one
_STRIDE = 32


@dataclass(frozen=True)
class BackboneConfig:
    """Swin backbone hyper-parameters for a fixed input size (H, W) in pixels."""

    img_size: tuple[int, int] = (256, 192)
    patch_size: int = 4
    embed_dim: int = 96
    depths: tuple[int, ...] = (2, 2, 6, 2)
    num_heads: tuple[int, ...] = (3, 6, 12, 24)
    window_size: int = 7
    mlp_ratio: float = 4.0
    qkv_bias: bool = True
    drop_path_rate: float = 0.2
    out_norm: bool = True
    window_clip: bool = True  # official Swin's last-stage window clip; False: MMPose's padded, always-shifted windows

    def __post_init__(self) -> None:
        object.__setattr__(self, "img_size", tuple(int(v) for v in self.img_size))
        object.__setattr__(self, "depths", tuple(int(v) for v in self.depths))
        object.__setattr__(self, "num_heads", tuple(int(v) for v in self.num_heads))
        if len(self.img_size) != 2 or any(v <= 0 or v % _STRIDE for v in self.img_size):
            fix = tuple(max(_STRIDE, round(v / _STRIDE) * _STRIDE) for v in self.img_size)
            raise ConfigError(f"img_size {self.img_size} must be two positive multiples of {_STRIDE}; try {fix}")
        if len(self.depths) != 4 or len(self.num_heads) != 4:
            raise ConfigError(f"depths {self.depths} and num_heads {self.num_heads} must each list 4 stages")
        for i, heads in enumerate(self.num_heads):
            dim = self.embed_dim * 2**i
            if heads <= 0 or dim % heads:
                raise ConfigError(f"stage {i} has {dim} channels, which {heads} heads do not divide; change num_heads")
        if self.patch_size != 4 or self.window_size < 1:
            raise ConfigError(
                f"patch_size must be 4 (got {self.patch_size}) and window_size >= 1 (got {self.window_size})"
            )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BackboneConfig:
        return cls(**_known_fields(cls, d))


@dataclass(frozen=True)
class PoseModelConfig:
    """A whole pose model: backbone, neck and heatmap head.

    ``neck``: ``"fusion"`` (Swin-Pose's FPN fusion, ``fusion`` sum or concat, stride-4 level), ``"fpn"`` (MMPose's FPN:
    bilinear top-down sum and a 3×3 output conv, its stride-4 level) or ``"none"`` (the last stage, stride 32).
    ``head``: ``"conv"`` (3×3 conv + BN + ReLU + 1×1, Swin-Pose's) or ``"deconv"`` (``deconv_layers`` 4×4 stride-2
    deconvs with BN and ReLU, then a 1×1 conv: MMPose's HeatmapHead; 0 deconvs is the 1×1 conv alone).
    ``head_channels`` is the 3×3 conv's or each deconv's width."""

    name: str
    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    neck_channels: int = 256
    fusion: str = "sum"
    head_channels: int = 64
    num_keypoints: int = 17
    neck: str = "fusion"
    head: str = "conv"
    deconv_layers: int = 0

    def __post_init__(self) -> None:
        if self.neck not in NECKS or self.head not in HEADS:
            raise ConfigError(
                f"neck {self.neck!r} / head {self.head!r}: choose a neck of {NECKS} and a head of {HEADS}"
            )
        if self.head == "deconv":
            level = 32 if self.neck == "none" else 4  # the neck's output stride
            if self.deconv_layers < 0 or level != 4 * 2**self.deconv_layers:
                raise ConfigError(
                    f"the {self.neck} neck gives stride-{level} features, so the deconv head needs "
                    f"{(level // 4).bit_length() - 1} deconv_layers to reach the heatmaps' stride 4, "
                    f"not {self.deconv_layers}"
                )
        if self.head == "conv" and self.neck == "none":
            raise ConfigError("the conv head keeps the stride: after neck none use head deconv with 3 deconv_layers")

    @property
    def input_size(self) -> tuple[int, int]:
        """(H, W) of the network input in pixels."""
        return self.backbone.img_size

    @property
    def heatmap_size(self) -> tuple[int, int]:
        """(h, w) of the output heatmaps: input / 4."""
        return (self.input_size[0] // 4, self.input_size[1] // 4)

    def replace(self, **overrides: Any) -> PoseModelConfig:
        """A copy with fields changed; backbone fields (``img_size``, ``window_size``, …) are routed to it."""
        own = {f.name for f in dataclasses.fields(self)} - {"backbone"}
        bb = {f.name for f in dataclasses.fields(BackboneConfig)}
        unknown = set(overrides) - own - bb
        if unknown:
            raise ConfigError(f"unknown model option(s) {sorted(unknown)}; valid options are {sorted(own | bb)}")
        backbone = dataclasses.replace(self.backbone, **{k: v for k, v in overrides.items() if k in bb})
        return dataclasses.replace(self, backbone=backbone, **{k: v for k, v in overrides.items() if k in own})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PoseModelConfig:
        d = _known_fields(cls, d)
        return cls(**{**d, "backbone": BackboneConfig.from_dict(d.get("backbone", {}))})


def _known_fields(cls: type, d: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(d) - names
    if unknown:
        raise ConfigError(f"{cls.__name__} has no field(s) {sorted(unknown)}; valid fields are {sorted(names)}")
    return dict(d)
