"""The frame rows of ``swinpose-bench latency --detector``: from pixels to poses on one synthetic frame.

Per pose backend × precision and per person count N: the detector's pre-processing (letterbox), inference and
post-processing (decode, NMS, back to image pixels), then the pose engine on N people (their crops batched as its
batch range allows: pre-processing, inference and decoding together), and the frame's total. The detector runs on
ONNX Runtime with the same thread count; its three stages are timed once and shared by every pose row. The N boxes
are the frame's figures' boxes, repeated, so the pose stage's work is exactly N crops whatever the detector finds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from benchmarks.runners import Combo
from benchmarks.schema import NUM, SKIPPED
from benchmarks.timing import Stats

__all__ = ["FRAME_PEOPLE", "detector_tasks", "pose_task", "frame_rows"]

#: the rows of a latency report's ``frame`` table (:data:`benchmarks.latency.LATENCY_SCHEMA`), by status
FRAME_TABLE = {
    "ok": {
        "backend": str,
        "precision": str,
        "detector": str,
        "people": int,
        "det_preprocess_ms": NUM,
        "det_inference_ms": NUM,
        "det_postprocess_ms": NUM,
        "pose_ms": NUM,
        "pose_ms_per_person": NUM,
        "frame_ms": NUM,
    },
    "skipped": {**SKIPPED, "people": int},
}

FRAME_PEOPLE = (1, 4, 16)
DETECTOR_STAGES = ("det_preprocess", "det_inference", "det_postprocess")


def detector_tasks(detector: Any, image: np.ndarray) -> dict[str, Callable[[], Any]]:
    """The detector's three stages on ``image`` (H×W×3 BGR), each a callable on fixed inputs."""
    inputs, geometry = detector.preprocess(image)
    feeds = {detector.input_name: inputs}
    outputs = detector.backend.infer(feeds)
    return {
        "det_preprocess": lambda: detector.preprocess(image),
        "det_inference": lambda: detector.backend.infer(feeds),
        "det_postprocess": lambda: detector.postprocess(outputs, geometry),
    }


def pose_task(combo: Combo, image: np.ndarray, boxes: np.ndarray, people: int) -> Callable[[], Any]:
    """The pose engine on ``people`` of the frame's boxes (N×4 xyxy, repeated to ``people``) with box score 1."""
    picked = boxes[np.arange(people) % len(boxes)]
    scored = np.concatenate([picked, np.ones((people, 1))], 1)
    return lambda: combo.resume()(image, scored)


def frame_rows(combos: list[Combo], people: tuple[int, ...], stats: dict, detector_name: str) -> list[dict[str, Any]]:
    """One row per combination and person count, from ``stats[("detector", stage)]`` and
    ``stats[(combo index, "frame", people)]``."""
    det: dict[str, Stats] = {stage: stats["detector", stage] for stage in DETECTOR_STAGES}
    det_ms = sum(s.median for s in det.values())
    rows = []
    for i, combo in enumerate(combos):
        head = {"backend": combo.backend, "precision": combo.precision, "detector": detector_name}
        for n in people:
            if combo.skipped:
                rows.append({**head, "people": n, "status": "skipped", "reason": combo.skipped})
                continue
            pose = stats[i, "frame", n]
            rows.append(
                {
                    **head,
                    "people": n,
                    "status": "ok",
                    **{f"{k}_ms": v.median for k, v in det.items()},
                    "pose_ms": pose.median,
                    "pose_ms_per_person": pose.median / n,
                    "frame_ms": det_ms + pose.median,
                }
            )
    return rows
