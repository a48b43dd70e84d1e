"""COCO-format keypoint data: the top-down dataset and the synthetic figure generator."""

from swinpose.data.coco import Augmentation, CocoInstance, CocoKeypoints, find_split, load_coco_instances
from swinpose.data.synthetic import SyntheticConfig, render_image, write_dataset

__all__ = [
    "Augmentation",
    "CocoInstance",
    "CocoKeypoints",
    "SyntheticConfig",
    "find_split",
    "load_coco_instances",
    "render_image",
    "write_dataset",
]
