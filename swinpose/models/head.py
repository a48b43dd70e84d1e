"""Heatmap head: B×D×h×w fused features → B×K×h×w keypoint heatmaps (h×w = H/4×W/4)."""

from __future__ import annotations

from torch import Tensor, nn

__all__ = ["HeatmapHead"]


class HeatmapHead(nn.Module):
    """3×3 conv + BN + ReLU, then a 1×1 conv to one heatmap per keypoint."""

    def __init__(self, in_channels: int, num_keypoints: int = 17, channels: int = 64) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, channels, kernel_size=3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(channels)
        self.act = nn.ReLU(inplace=True)
        self.final = nn.Conv2d(channels, num_keypoints, kernel_size=1)
        nn.init.normal_(self.final.weight, std=0.001)
        nn.init.zeros_(self.final.bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.final(self.act(self.bn(self.conv(x))))
