"""Drawing keypoints and skeletons on images (OpenCV only)."""

from __future__ import annotations

import cv2
import numpy as np

from runtime.keypoints import COCO_SKELETON

__all__ = ["draw_poses", "limb_colours"]

_LEFT, _RIGHT, _CENTRE = (0, 200, 255), (255, 160, 0), (80, 220, 80)  # BGR


def limb_colours(n: int) -> list[tuple[int, int, int]]:
    """``n`` distinct BGR colours, evenly spaced in hue at full saturation."""
    hsv = np.stack([np.arange(n) * 180 // max(n, 1), np.full(n, 220), np.full(n, 255)], -1).astype(np.uint8)
    return [tuple(int(v) for v in c) for c in cv2.cvtColor(hsv[None], cv2.COLOR_HSV2BGR)[0]]


def draw_poses(
    image: np.ndarray,
    keypoints: np.ndarray,
    scores: np.ndarray,
    skeleton: tuple[tuple[int, int], ...] = COCO_SKELETON,
    threshold: float = 0.3,
    boxes: np.ndarray | None = None,
) -> np.ndarray:
    """A copy of ``image`` with each person's keypoints and limbs drawn.

    Args:
        image: H×W×3 uint8 BGR. keypoints: N×K×2 (x, y) image pixels. scores: N×K; points below ``threshold``
            and limbs touching them are not drawn. boxes: optional N×4 (x, y, w, h).

    Each limb has its own colour (:func:`limb_colours`); odd keypoint indices (COCO's left side) are orange, even
    ones blue, the nose green.
    """
    out = image.copy()
    r = max(2, round(max(image.shape[:2]) / 250))
    for n in range(len(keypoints)):
        kp, sc = keypoints[n], scores[n]
        if boxes is not None:
            x, y, w, h = boxes[n]
            cv2.rectangle(out, (round(x), round(y)), (round(x + w), round(y + h)), (200, 200, 200), 1, cv2.LINE_AA)
        for (a, b), colour in zip(skeleton, limb_colours(len(skeleton))):
            if sc[a] >= threshold and sc[b] >= threshold:
                pa, pb = tuple(np.round(kp[a]).astype(int)), tuple(np.round(kp[b]).astype(int))
                cv2.line(out, pa, pb, colour, r, cv2.LINE_AA)
        for k in range(len(kp)):
            if sc[k] >= threshold:
                colour = _CENTRE if k == 0 else _LEFT if k % 2 else _RIGHT
                cv2.circle(out, tuple(np.round(kp[k]).astype(int)), r + 1, colour, -1, cv2.LINE_AA)
    return out
