"""Swin-Pose models: the export-shaped Swin backbone, FPN fusion neck, heatmap head and named configs."""

from swinpose.models.checkpoint import LoadReport, load_pretrained_backbone
from swinpose.models.complexity import Complexity, measure_complexity
from swinpose.models.config import BackboneConfig, PoseModelConfig
from swinpose.models.head import HeatmapHead
from swinpose.models.neck import FPNFusion
from swinpose.models.pose import SwinPose
from swinpose.models.pose_io import load_pose_model, save_pose_model
from swinpose.models.registry import create_model, get_config, list_models
from swinpose.models.swin import SwinTransformer

__all__ = [
    "BackboneConfig",
    "Complexity",
    "FPNFusion",
    "HeatmapHead",
    "LoadReport",
    "PoseModelConfig",
    "SwinPose",
    "SwinTransformer",
    "create_model",
    "get_config",
    "list_models",
    "load_pose_model",
    "load_pretrained_backbone",
    "measure_complexity",
    "save_pose_model",
]
