"""Person detection: the detector files users hold (Ultralytics, YOLOv5, YOLOX, MMDeploy/rtmlib, TensorRT
EfficientNMS layouts), from image to person boxes, in numpy and OpenCV on any backend of the one table.

* :mod:`~runtime.detection.letterbox`: each family's resize, pad and normalisation, and the exact way back;
* :mod:`~runtime.detection.layouts`: the table of output layouts, their decoders and the layout guess;
* :mod:`~runtime.detection.nms`: class-aware NMS in numpy;
* :mod:`~runtime.detection.package`: the detector package (``detector.json``) and its one reader;
* :mod:`~runtime.detection.detector`: :class:`Detector`, the one call, on a detector file or package.
"""

from runtime.detection.detector import DEFAULT_IOU_THR, DEFAULT_SCORE_THR, DEFAULT_TOP_K, Detections, Detector
from runtime.detection.layouts import LAYOUTS, DetLayout, detector_layout, guess_layout
from runtime.detection.letterbox import PRESETS, Geometry, Letterbox, letterbox_preset
from runtime.detection.nms import nms
from runtime.detection.package import DETECTOR_JSON, DetectorSpec, is_detector_package, read_detector_package

__all__ = [
    "Detector",
    "Detections",
    "LAYOUTS",
    "DetLayout",
    "detector_layout",
    "guess_layout",
    "PRESETS",
    "Letterbox",
    "Geometry",
    "letterbox_preset",
    "nms",
    "DETECTOR_JSON",
    "DetectorSpec",
    "is_detector_package",
    "read_detector_package",
    "DEFAULT_SCORE_THR",
    "DEFAULT_IOU_THR",
    "DEFAULT_TOP_K",
]
