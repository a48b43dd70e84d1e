"""``PosePipeline``: image in, people out. A person detector's boxes, the pose engine on their crops, MMPose's
instance scores and OKS-NMS, with numpy and OpenCV.

Shape legend: N people, K keypoints. Boxes are (x1, y1, x2, y2) image pixels; keypoints (x, y) image pixels.

Every crop of a frame (and of every frame of :meth:`PosePipeline.infer_batch`) goes through the pose engine in as few
runs as its package's batch range allows (:meth:`runtime.PoseEngine.infer_batch`). A frame with no people gives an
empty result, not an error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from runtime.detection import Detections, Detector
from runtime.engine import PoseEngine, PoseResult, prepare_image
from runtime.errors import ConfigError
from runtime.results import KEYPOINT_THR, OKS_NMS_THR, instance_scores, oks_nms

__all__ = ["PosePipeline", "suppress_duplicates"]


def suppress_duplicates(
    result: PoseResult,
    oks_thr: float | None = OKS_NMS_THR,
    keypoint_thr: float = KEYPOINT_THR,
    sigmas: np.ndarray | None = None,
) -> PoseResult:
    """``result``'s people best first by MMPose's instance score (box score × mean keypoint score above
    ``keypoint_thr``), less those whose pose has OKS above ``oks_thr`` with a better one (None: keep all). The
    result's ``box_scores`` stay the detector's; :meth:`PoseResult.to_coco` rescores them the same way."""
    scores = instance_scores(result.scores, result.box_scores, keypoint_thr)
    if oks_thr is None or not len(result):
        keep = np.argsort(-scores, kind="stable")
    else:
        areas = (result.boxes[:, 2:] - result.boxes[:, :2]).prod(1)
        keep = oks_nms(result.keypoints, scores, areas, oks_thr, sigmas)
    return PoseResult(result.keypoints[keep], result.scores[keep], result.boxes[keep], result.box_scores[keep])


class PosePipeline:
    """Top-down pose estimation from pixels: a person detector, then :class:`~runtime.PoseEngine`.

    Args:
        pose: a model package folder (from ``swinpose-export``), or an open :class:`~runtime.PoseEngine`.
        detector: a detector file (any layout of :data:`runtime.detection.LAYOUTS`), or an open
            :class:`~runtime.detection.Detector`.
        oks_thr: OKS above which the lower-scored of two poses is a duplicate and dropped (None: keep every one).
        keypoint_thr: keypoint scores above this count in the instance score.
        backend, device, threads, flip_test: the pose engine's (see :class:`~runtime.PoseEngine`), when ``pose`` is
            a folder; ``device`` and ``threads`` are also the detector's when ``detector`` is a file.
        detector_options: more keyword arguments for :class:`~runtime.detection.Detector` (``layout``,
            ``person_class``, ``input_size``, ``score_thr``, ``iou_thr``, ``top_k``, ``backend``).

    The pipeline closes what it opened, and what it was given too (like PoseEngine does an open backend).
    """

    def __init__(
        self,
        pose: str | Path | PoseEngine,
        detector: str | Path | Detector,
        oks_thr: float | None = OKS_NMS_THR,
        keypoint_thr: float = KEYPOINT_THR,
        backend: str = "auto",
        device: str = "cpu",
        threads: int = 0,
        flip_test: bool = False,
        detector_options: dict[str, Any] | None = None,
    ) -> None:
        for name, value in (("oks_thr", oks_thr), ("keypoint_thr", keypoint_thr)):
            if value is None and name == "oks_thr":
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
                raise ConfigError(f"{name} must be between 0 and 1, got {value!r}")
        self.oks_thr, self.keypoint_thr = oks_thr, float(keypoint_thr)
        if isinstance(detector, Detector):
            self.detector = detector
        else:
            self.detector = Detector(detector, **{"device": device, "threads": threads, **(detector_options or {})})
        try:
            if isinstance(pose, PoseEngine):
                self.engine = pose
            else:
                self.engine = PoseEngine(pose, backend=backend, device=device, flip_test=flip_test, threads=threads)
        except BaseException:
            self.detector.close()
            raise
        sigmas = self.engine.keypoints.oks_sigmas
        self.sigmas = np.asarray(sigmas, np.float64) if sigmas else None

    def detect(self, images: list[np.ndarray]) -> list[Detections]:
        """The people the detector finds in each image."""
        return [self.detector(prepare_image(image)) for image in images]

    def __call__(self, image: np.ndarray) -> PoseResult:
        """The people in one image (H×W×3 BGR uint8, or what :func:`runtime.engine.prepare_image` accepts)."""
        return self.infer_batch([image])[0]

    def infer_batch(self, images: list[np.ndarray]) -> list[PoseResult]:
        """The people in each of several images; their crops share pose-engine runs."""
        images = [prepare_image(image) for image in images]
        found = [self.detector(image) for image in images]
        return self.poses(images, found)

    def poses(self, images: list[np.ndarray], found: list[Detections]) -> list[PoseResult]:
        """The poses of detections ``found`` (one per image), rescored, duplicates removed."""
        results = self.engine.infer_batch(images, [d.with_scores() for d in found])
        return [suppress_duplicates(r, self.oks_thr, self.keypoint_thr, self.sigmas) for r in results]

    def close(self) -> None:
        try:
            self.detector.close()
        finally:
            self.engine.close()

    def __enter__(self) -> PosePipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
