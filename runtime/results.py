"""Predictions as data, COCO keypoint results and OKS-NMS: numpy only, shared by evaluation and the runtime.

Shape legend: N instances, K keypoints.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from runtime.keypoints import COCO_SIGMAS

__all__ = [
    "Predictions",
    "instance_scores",
    "oks_matrix",
    "oks_nms",
    "oks_sigmas",
    "to_coco_results",
    "KEYPOINT_THR",
    "OKS_NMS_THR",
]

#: MMPose's rescoring counts keypoints scored above this; its top-down demos and COCO evaluation suppress at this OKS
KEYPOINT_THR, OKS_NMS_THR = 0.2, 0.9


@dataclass
class Predictions:
    """Decoded keypoints of N instances: ``keypoints`` N×K×2 (x, y) image pixels, ``scores`` N×K, and per instance
    ``image_ids`` (N,), ``box_scores`` (N,) and ``areas`` (N,) of the crop's box in image pixels²."""

    keypoints: np.ndarray
    scores: np.ndarray
    image_ids: np.ndarray
    box_scores: np.ndarray
    areas: np.ndarray


def instance_scores(scores: np.ndarray, box_scores: np.ndarray, keypoint_thr: float = KEYPOINT_THR) -> np.ndarray:
    """MMPose's instance score: N box scores × the mean of each instance's K keypoint scores above ``keypoint_thr``
    (0 where none is), from N×K ``scores``; (N,) float64."""
    mask = scores > keypoint_thr
    mean = np.where(mask.any(1), (scores * mask).sum(1) / np.maximum(mask.sum(1), 1), 0.0)
    return box_scores.astype(np.float64) * mean


def oks_sigmas(k: int, sigmas: np.ndarray | None = None) -> np.ndarray:
    """(K,) float64 OKS sigmas: ``sigmas`` when given, else COCO's for K = 17 and 0.05 each for other K."""
    if sigmas is None:
        sigmas = COCO_SIGMAS if k == len(COCO_SIGMAS) else np.full(k, 0.05)
    return np.asarray(sigmas, np.float64)


def oks_matrix(
    a: np.ndarray,
    b: np.ndarray,
    areas: np.ndarray,
    sigmas: np.ndarray | None = None,
    visible: np.ndarray | None = None,
) -> np.ndarray:
    """OKS of every pose of A×K×2 ``a`` with every pose of B×K×2 ``b`` (image pixels): A×B.

    ``areas`` is the object area of each pair, anything that broadcasts to A×B (``areas[None]`` for b's areas, the
    pairs' mean for NMS). ``sigmas``: see :func:`oks_sigmas`. ``visible`` (A×K, optional): average only over a's
    keypoints marked visible, as COCO does over a ground truth's (0 for a pose with none); without it, over all K.
    """
    var = (2 * oks_sigmas(a.shape[1] if a.ndim == 3 else b.shape[1], sigmas)) ** 2
    d2 = ((a[:, None] - b[None]) ** 2).sum(-1)  # A×B×K
    area = np.maximum(np.broadcast_to(areas, d2.shape[:2]), np.spacing(1))
    similarity = np.exp(-d2 / (2 * var * area[..., None]))
    if visible is None:
        return similarity.mean(-1)
    vis = np.asarray(visible, bool)[:, None, :]
    return np.where(vis.any(-1), (similarity * vis).sum(-1) / np.maximum(vis.sum(-1), 1), 0.0)


def oks_nms(
    keypoints: np.ndarray,
    scores: np.ndarray,
    areas: np.ndarray,
    threshold: float = OKS_NMS_THR,
    sigmas: np.ndarray | None = None,
) -> np.ndarray:
    """Greedy non-maximum suppression by OKS between predictions of one image.

    Args:
        keypoints: N×K×2 (x, y) image pixels; scores: (N,) instance scores; areas: (N,) object areas.
        sigmas: (K,) OKS sigmas of the keypoint set (the package's); None: COCO's for K = 17, else 0.05 each.

    Returns:
        indices of the kept instances, highest score first.
    """
    oks = oks_matrix(keypoints, keypoints, 0.5 * (areas[:, None] + areas[None]), sigmas)  # N×N
    order = np.argsort(-scores, kind="stable")
    keep, suppressed = [], np.zeros(len(scores), bool)
    for i in order:
        if suppressed[i]:
            continue
        keep.append(i)
        suppressed |= oks[i] > threshold
    return np.asarray(keep, np.int64)


def to_coco_results(
    pred: Predictions,
    rescore: bool = True,
    keypoint_thr: float = KEYPOINT_THR,
    nms_thr: float | None = None,
    sigmas: np.ndarray | None = None,
) -> list[dict]:
    """COCO keypoint results: ``[{image_id, category_id, keypoints: [x, y, score]*K, score}]``.

    ``rescore`` multiplies the box score by the mean of the keypoint scores above ``keypoint_thr`` (MMPose's
    rescoring); ``nms_thr`` applies OKS-NMS per image (use it for detector boxes, which overlap), with the keypoint
    set's OKS ``sigmas`` (see :func:`oks_nms`).
    """
    n = len(pred.image_ids)
    if rescore:
        inst_scores = instance_scores(pred.scores, pred.box_scores, keypoint_thr)
    else:
        inst_scores = pred.box_scores.astype(np.float64)
    keep = np.arange(n)
    if nms_thr is not None:
        kept = []
        for image_id in np.unique(pred.image_ids):
            idx = np.nonzero(pred.image_ids == image_id)[0]
            kept.append(idx[oks_nms(pred.keypoints[idx], inst_scores[idx], pred.areas[idx], nms_thr, sigmas)])
        keep = np.sort(np.concatenate(kept))
    results = []
    for i in keep:
        kps = np.concatenate([pred.keypoints[i], pred.scores[i, :, None]], 1)
        results.append(
            dict(
                image_id=int(pred.image_ids[i]),
                category_id=1,
                keypoints=[round(float(v), 3) for v in kps.reshape(-1)],
                score=float(inst_scores[i]),
            )
        )
    return results
