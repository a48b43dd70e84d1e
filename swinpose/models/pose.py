"""The pose network: Swin backbone → neck (Swin-Pose's FPN fusion, MMPose's FPN, or none) → heatmap head."""

from __future__ import annotations

from torch import Tensor, nn

from swinpose.models.config import PoseModelConfig
from swinpose.models.head import DeconvHead, HeatmapHead
from swinpose.models.neck import FPNFusion
from swinpose.models.swin import SwinTransformer

__all__ = ["SwinPose"]


class SwinPose(nn.Module):
    """Top-down pose network. Input: B×3×H×W normalised RGB at ``cfg.input_size``. Output: B×K×H/4×W/4 heatmaps."""

    def __init__(self, cfg: PoseModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.backbone = SwinTransformer(**cfg.backbone.to_dict())
        channels = self.backbone.out_channels
        if cfg.neck == "none":
            self.neck: nn.Module = LastStage()
            features = channels[-1]
        else:
            self.neck = FPNFusion(channels, cfg.neck_channels, cfg.fusion, output_conv=cfg.neck == "fpn")
            features = cfg.neck_channels
        if cfg.head == "deconv":
            self.head: nn.Module = DeconvHead(features, cfg.num_keypoints, cfg.head_channels, cfg.deconv_layers)
        else:
            self.head = HeatmapHead(features, cfg.num_keypoints, cfg.head_channels)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.neck(self.backbone(x)))


class LastStage(nn.Module):
    """The neck of a model without one: the backbone's last (stride-32) feature map."""

    def forward(self, features: list[Tensor]) -> Tensor:
        return features[-1]
