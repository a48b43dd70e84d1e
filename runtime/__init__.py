"""swinpose runtime: pre-processing, inference and decoding with numpy and OpenCV only (never torch).

``from runtime import PoseEngine`` arrives with the engine; today this package holds the shared error hierarchy and
image normalisation.
"""

from runtime.errors import (
    CheckpointError,
    ConfigError,
    InputError,
    InputShapeError,
    MissingDependencyError,
    SwinPoseError,
)
from runtime.transforms import IMAGENET_MEAN, IMAGENET_STD, normalize_batch

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "CheckpointError",
    "ConfigError",
    "InputError",
    "InputShapeError",
    "MissingDependencyError",
    "SwinPoseError",
    "normalize_batch",
]
