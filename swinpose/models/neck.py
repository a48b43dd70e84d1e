"""Feature-pyramid fusion neck of Swin-Pose (Xiong et al., 2022).

Shape legend: B batch, C_i backbone channels of stage i, D the neck width, H_i×W_i a stage's grid.

Each stage gets a 1×1 lateral conv to the common width D. The pyramid is then merged top-down: the coarser map is
upsampled ×2 bilinearly and fused with the next finer lateral, either by element-wise **sum** (method A) or by
channel **concat** followed by a 1×1 conv back to D (method B). The result is the finest level (stride 4).
With ``output_conv`` (MMPose's ``FPN``, the 0.x ``swin_b_p4_w7_fpn`` model) the sum is followed by a 3×3 conv; MMPose
has one per level, and only level 0's feeds its head.
Upsampling uses a constant scale factor, never a size read from the tensor, so the export has no shape plumbing.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from runtime.errors import ConfigError

__all__ = ["FUSIONS", "FPNFusion"]

#: fusion name -> paper's method letter
FUSIONS = {"sum": "A", "concat": "B"}


class FPNFusion(nn.Module):
    """Input: list of B×C_i×H_i×W_i with H_i = 2·H_{i+1}. Output: B×D×H_0×W_0."""

    def __init__(
        self, in_channels: list[int], channels: int = 256, fusion: str = "sum", output_conv: bool = False
    ) -> None:
        super().__init__()
        if fusion not in FUSIONS:
            raise ConfigError(
                f"unknown fusion {fusion!r}; choose one of {sorted(FUSIONS)} (sum = method A, concat = B)"
            )
        self.fusion = fusion
        self.lateral = nn.ModuleList([nn.Conv2d(c, channels, kernel_size=1) for c in in_channels])
        self.merge = nn.ModuleList(
            [nn.Conv2d(2 * channels, channels, kernel_size=1) for _ in in_channels[:-1]] if fusion == "concat" else []
        )
        self.output = nn.Conv2d(channels, channels, kernel_size=3, padding=1) if output_conv else nn.Identity()

    def forward(self, features: list[Tensor]) -> Tensor:
        x = self.lateral[-1](features[-1])
        for i in range(len(features) - 2, -1, -1):
            up = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
            lateral = self.lateral[i](features[i])
            x = lateral + up if self.fusion == "sum" else self.merge[i](torch.cat((lateral, up), dim=1))
        return self.output(x)
