"""swinpose runtime: pre-processing, inference and decoding with numpy and OpenCV only (never torch).

``from runtime import PoseEngine``: a model package (from ``swinpose-export``) in, keypoints in image pixels out. This
package also holds what training and every runtime share: the error hierarchy, the heatmap codec
(:mod:`runtime.codec`), the affine crops and normalisation (:mod:`runtime.transforms`), the COCO keypoint metadata
(:mod:`runtime.keypoints`), COCO results (:mod:`runtime.results`), drawing (:mod:`runtime.draw`) and the package
reader (:mod:`runtime.package`). ``from runtime import PosePipeline``: a person detector (:mod:`runtime.detection`)
and a package, from pixels to people. Video: :mod:`runtime.tracking` (``TrackingPipeline``: a detector every N frames,
stable ids, One Euro smoothing) and :mod:`runtime.video` (frames from files, cameras and streams).
"""

from runtime.codec import HeatmapCodec
from runtime.detection import Detections, Detector
from runtime.engine import PoseEngine, PoseResult
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
from runtime.keypoints import KeypointSpec
from runtime.package import InferenceSpec, PackageSpec, read_package
from runtime.pipeline import PosePipeline
from runtime.transforms import Preprocess, normalize_batch

__all__ = [
    "BackendError",
    "CheckpointError",
    "Detections",
    "Detector",
    "HeatmapCodec",
    "InferenceSpec",
    "KeypointSpec",
    "PackageSpec",
    "Preprocess",
    "read_package",
    "PoseEngine",
    "PosePipeline",
    "PoseResult",
    "ConfigError",
    "DataError",
    "EngineBuildError",
    "ExportError",
    "InputError",
    "InputShapeError",
    "MissingDependencyError",
    "PackageError",
    "SaturatingInt8Error",
    "SwinPoseError",
    "normalize_batch",
]
