"""Heatmap heads: features → B×K×h×w keypoint heatmaps (h×w = H/4×W/4)."""

from __future__ import annotations

from torch import Tensor, nn

__all__ = ["HeatmapHead", "DeconvHead"]


class HeatmapHead(nn.Module):
    """Swin-Pose's head on stride-4 features: 3×3 conv + BN + ReLU, then a 1×1 conv to one heatmap per keypoint."""

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


class DeconvHead(nn.Module):
    """MMPose's HeatmapHead (SimpleBaseline's): ``num_deconv`` × (4×4 stride-2 transposed conv without bias, BN, ReLU),
    each doubling the resolution, then a 1×1 conv. B×C×h'×w' → B×K×(h'·2^n)×(w'·2^n). With no deconv it is the
    1×1 conv alone (MMPose's FPN model)."""

    def __init__(self, in_channels: int, num_keypoints: int = 17, channels: int = 256, num_deconv: int = 3) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for i in range(num_deconv):
            layers += [
                nn.ConvTranspose2d(in_channels if i == 0 else channels, channels, 4, stride=2, padding=1, bias=False),
                nn.BatchNorm2d(channels),
                nn.ReLU(inplace=True),
            ]
        self.deconv = nn.Sequential(*layers)
        self.final = nn.Conv2d(channels if num_deconv else in_channels, num_keypoints, kernel_size=1)
        nn.init.normal_(self.final.weight, std=0.001)
        nn.init.zeros_(self.final.bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.final(self.deconv(x))
