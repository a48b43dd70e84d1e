"""Greedy non-maximum suppression in numpy, class-aware, as torchvision's ``batched_nms`` does it.

Boxes are N×4 (x1, y1, x2, y2); IoU uses areas ``(x2 - x1)·(y2 - y1)`` (no +1) and a box is suppressed when its IoU
with a kept, higher-scoring box of the same class is *greater* than the threshold, as in torchvision and
Ultralytics. Each step compares one kept box with every remaining one in a vectorised pass, so the cost is
O(N·kept) over the boxes left after the score filter, which the callers run first.
"""

from __future__ import annotations

import numpy as np

__all__ = ["nms", "box_iou"]


def box_iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one (4,) box with each of N×4 ``boxes`` (N,)."""
    x1 = np.maximum(box[0], boxes[:, 0])
    y1 = np.maximum(box[1], boxes[:, 1])
    x2 = np.minimum(box[2], boxes[:, 2])
    y2 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    union = area + areas - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def nms(
    boxes: np.ndarray,
    scores: np.ndarray,
    iou_thr: float,
    classes: np.ndarray | None = None,
    max_keep: int | None = None,
) -> np.ndarray:
    """Indices of the kept boxes, highest score first (at most ``max_keep``). With ``classes`` (N,), boxes of
    different classes never suppress each other (each class's boxes are moved by their class × the coordinate
    span, torchvision's offset trick)."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    scores = np.asarray(scores, np.float64).reshape(-1)
    if not len(boxes):
        return np.zeros(0, np.int64)
    if classes is not None:
        span = float(boxes.max() - min(boxes.min(), 0.0)) + 1.0
        boxes = boxes + (np.asarray(classes, np.float64).reshape(-1, 1) * span)
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while order.size and (max_keep is None or len(keep) < max_keep):
        best, order = order[0], order[1:]
        keep.append(int(best))
        if order.size:
            order = order[box_iou(boxes[best], boxes[order]) <= iou_thr]
    return np.asarray(keep, np.int64)
