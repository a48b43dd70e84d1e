"""``TrackingPipeline``: video frames in, tracked people out. The detector every ``det_interval`` frames, the boxes
of the tracked poses in between (:class:`~runtime.tracking.PoseTracker`), the pose engine on both.

Shape legend: N people, K keypoints. Boxes are (x1, y1, x2, y2) image pixels; keypoints (x, y) image pixels.

A frame runs the detector when ``det_interval`` frames have passed since its last run, and also whenever the tracker
follows nobody (an empty scene costs one detector run a frame, and the first person to walk in is found at once).
Between detections the cost is the pose model's on the people already tracked, whatever the detector would cost.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from runtime.detection import Detector
from runtime.engine import PoseEngine, prepare_image
from runtime.errors import ConfigError
from runtime.tracking.tracker import PoseTracker, TrackerConfig, TrackResult

__all__ = ["TrackingPipeline", "TrackingStats"]


@dataclass
class TrackingStats:
    """What a pipeline has run so far: ``frames``, ``detector_runs`` and ``poses`` (crops through the pose model)."""

    frames: int = 0
    detector_runs: int = 0
    poses: int = 0


class TrackingPipeline:
    """Tracked poses of the frames of one video, in order.

    Args:
        engine: an open :class:`~runtime.PoseEngine`.
        detector: an open :class:`~runtime.detection.Detector`, or a function from an H×W×3 BGR image to its N×5
            (xyxy, score) person boxes.
        det_interval: run the detector on every ``det_interval``-th frame (1: every frame).
        config: the tracker's thresholds and smoothing (:class:`~runtime.tracking.TrackerConfig`).
        fps: the video's frame rate (the smoothing's time step for frames without timestamps).

    The pipeline closes neither the engine nor the detector: their owner does.
    """

    def __init__(
        self,
        engine: PoseEngine,
        detector: Detector | Callable[[np.ndarray], np.ndarray],
        det_interval: int = 1,
        config: TrackerConfig | None = None,
        fps: float = 25.0,
    ) -> None:
        if isinstance(det_interval, bool) or not isinstance(det_interval, (int, np.integer)) or det_interval < 1:
            raise ConfigError(f"det_interval must be a whole number of frames >= 1, got {det_interval!r}")
        if not callable(detector):
            raise ConfigError(f"detector must be a Detector or a function image -> N×5 boxes, got {detector!r}")
        self.engine, self.detector, self.det_interval = engine, detector, int(det_interval)
        sigmas = engine.keypoints.oks_sigmas
        self.tracker = PoseTracker(config or TrackerConfig(), np.asarray(sigmas, np.float64) if sigmas else None, fps)
        self.stats = TrackingStats()
        self._since_detection = self.det_interval  # the first frame detects

    def _detect(self, image: np.ndarray) -> np.ndarray:
        found = self.detector(image)
        return found.with_scores() if hasattr(found, "with_scores") else np.asarray(found, np.float64)

    def __call__(self, frame: np.ndarray, timestamp: float | None = None) -> TrackResult:
        """The tracked people of the next frame (H×W×3 BGR uint8, or what :func:`runtime.engine.prepare_image`
        accepts), ``timestamp`` seconds into the video (None: ``1/fps`` after the last)."""
        image = prepare_image(frame)
        detections = None
        if self._since_detection >= self.det_interval or self.tracker.following == 0:
            detections = self._detect(image)
            self.stats.detector_runs += 1
            self._since_detection = 0
        self._since_detection += 1
        boxes = self.tracker.boxes(detections, image.shape)
        poses = self.engine(image, boxes)
        self.stats.frames += 1
        self.stats.poses += len(boxes)
        return self.tracker.update(poses, timestamp)

    def reset(self) -> None:
        """Start a new video: tracks are forgotten and the next frame detects."""
        self.tracker.reset()
        self._since_detection = self.det_interval
