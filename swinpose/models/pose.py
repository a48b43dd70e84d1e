"""The Swin-Pose network: Swin backbone → FPN fusion neck → heatmap head."""

from __future__ import annotations

from torch import Tensor, nn

from swinpose.models.config import PoseModelConfig
from swinpose.models.head import HeatmapHead
from swinpose.models.neck import FPNFusion
from swinpose.models.swin import SwinTransformer

__all__ = ["SwinPose"]


class SwinPose(nn.Module):
    """Top-down pose network. Input: B×3×H×W normalised RGB at ``cfg.input_size``. Output: B×K×H/4×W/4 heatmaps."""

    def __init__(self, cfg: PoseModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.backbone = SwinTransformer(**cfg.backbone.to_dict())
        self.neck = FPNFusion(self.backbone.out_channels, cfg.neck_channels, cfg.fusion)
        self.head = HeatmapHead(cfg.neck_channels, cfg.num_keypoints, cfg.head_channels)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.neck(self.backbone(x)))
