"""Video: person ids that stay with people across frames, and keypoints that do not jitter (numpy only).

* :mod:`~runtime.tracking.one_euro`: the One Euro filter, aware of the frame rate;
* :mod:`~runtime.tracking.tracker`: :class:`PoseTracker`, boxes between detections, matching, ids, missing tracks;
* :mod:`~runtime.tracking.pipeline`: :class:`TrackingPipeline`, a detector every N frames and the pose engine.
"""

from runtime.tracking.one_euro import OneEuroConfig, OneEuroFilter
from runtime.tracking.pipeline import TrackingPipeline, TrackingStats
from runtime.tracking.tracker import PoseTracker, TrackerConfig, TrackResult, greedy_pairs, iou_matrix, keypoint_boxes

__all__ = [
    "OneEuroConfig",
    "OneEuroFilter",
    "PoseTracker",
    "TrackerConfig",
    "TrackResult",
    "TrackingPipeline",
    "TrackingStats",
    "greedy_pairs",
    "iou_matrix",
    "keypoint_boxes",
]
