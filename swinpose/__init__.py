"""swinpose: the Swin-Pose model in PyTorch, its data, training and evaluation.

Deployment lives in ``export`` (ONNX / TensorRT packages) and ``runtime`` (numpy/OpenCV inference).
"""

from runtime.errors import (
    BackendError,
    CheckpointError,
    ConfigError,
    DataError,
    EngineBuildError,
    ExportError,
    InputError,
    InputShapeError,
    MissingDependencyError,
    PackageError,
    SaturatingInt8Error,
    SwinPoseError,
)
from swinpose.models import (
    BackboneConfig,
    PoseModelConfig,
    SwinPose,
    SwinTransformer,
    create_model,
    get_config,
    list_models,
    load_pretrained_backbone,
    measure_complexity,
)
from swinpose.models.pose_io import load_model

__version__ = "0.1.0"

__all__ = [
    "BackboneConfig",
    "BackendError",
    "CheckpointError",
    "ConfigError",
    "DataError",
    "EngineBuildError",
    "ExportError",
    "InputError",
    "InputShapeError",
    "MissingDependencyError",
    "PackageError",
    "SaturatingInt8Error",
    "PoseModelConfig",
    "SwinPose",
    "SwinPoseError",
    "SwinTransformer",
    "create_model",
    "get_config",
    "list_models",
    "load_model",
    "load_pretrained_backbone",
    "measure_complexity",
]
