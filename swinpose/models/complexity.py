"""Counted (not hard-coded) parameters and FLOPs of a configuration, on the meta device (no memory, no time)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.utils.flop_counter import FlopCounterMode

from swinpose.models.config import PoseModelConfig
from swinpose.models.pose import SwinPose

__all__ = ["Complexity", "measure_complexity"]


@dataclass(frozen=True)
class Complexity:
    """Sizes of one model. ``flops`` counts one image: 2 FLOPs per multiply-accumulate of every conv/matmul."""

    params: int
    backbone_params: int
    flops: int
    backbone_flops: int

    @property
    def gflops(self) -> float:
        return self.flops / 1e9

    @property
    def gmacs(self) -> float:
        """Multiply-accumulates, the unit papers (and timm) call "FLOPs" for Swin (4.5 G for Swin-T at 224)."""
        return self.flops / 2e9


def measure_complexity(cfg: PoseModelConfig) -> Complexity:
    """Build ``cfg`` on the meta device and count what one forward pass of a 1×3×H×W input does."""
    with torch.device("meta"):
        model = SwinPose(cfg).eval()
        x = torch.empty(1, 3, *cfg.input_size)
    return Complexity(
        params=sum(p.numel() for p in model.parameters()),
        backbone_params=sum(p.numel() for p in model.backbone.parameters()),
        flops=_count_flops(model, x),
        backbone_flops=_count_flops(model.backbone, x),
    )


def _count_flops(module: torch.nn.Module, x: torch.Tensor) -> int:
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        module(x)
    return counter.get_total_flops()
