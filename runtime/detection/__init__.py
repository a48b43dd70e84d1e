"""Person detection: the detector files users hold (Ultralytics, YOLOv5, YOLOX, MMDeploy/rtmlib, TensorRT
EfficientNMS layouts), from image to person boxes, in numpy and OpenCV on any backend of the one table.

* :mod:`~runtime.detection.letterbox`: each family's resize, pad and normalisation, and the exact way back;
* :mod:`~runtime.detection.layouts`: the table of output layouts, their decoders and the layout guess;
* :mod:`~runtime.detection.nms`: class-aware NMS in numpy;
* :mod:`~runtime.detection.detector`: :class:`Detector`, the one call.
"""

from runtime.detection.detector import Detections, Detector
from runtime.detection.layouts import LAYOUTS, DetLayout, detector_layout, guess_layout
from runtime.detection.letterbox import PRESETS, Geometry, Letterbox, letterbox_preset
from runtime.detection.nms import nms

__all__ = ["Detector", "Detections", "LAYOUTS", "DetLayout", "detector_layout", "guess_layout", "PRESETS",
           "Letterbox", "Geometry", "letterbox_preset", "nms"]  # fmt: skip
