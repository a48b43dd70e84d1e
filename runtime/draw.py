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
    track_ids: np.ndarray | None = None,
) -> np.ndarray:
    """A copy of ``image`` with each person's keypoints and limbs drawn.

    Args:
        image: H×W×3 uint8 BGR. keypoints: N×K×2 (x, y) image pixels. scores: N×K; points below ``threshold``
            and limbs touching them are not drawn. boxes: optional N×4 (x, y, w, h). track_ids: optional (N,)
            person ids, written over each box (or the top keypoint) in a colour of their own.

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
        if track_ids is not None:
            _label(out, str(int(track_ids[n])), int(track_ids[n]), boxes[n] if boxes is not None else None, kp, r)
    return out


def _label(out: np.ndarray, text: str, track_id: int, box: np.ndarray | None, kp: np.ndarray, r: int) -> None:
    """``text`` on a filled tag of the id's colour, at the box's top-left corner (or above the top keypoint)."""
    hue = (track_id * 47) % 180  # ids one apart get far-apart hues
    colour = tuple(int(v) for v in cv2.cvtColor(np.uint8([[[hue, 200, 255]]]), cv2.COLOR_HSV2BGR)[0, 0])
    x, y = (box[0], box[1]) if box is not None else (kp[:, 0].min(), kp[:, 1].min())
    scale = max(0.4, r / 4)
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    x0, y0 = int(max(x, 0)), int(max(y - th - base - 2, 0))
    cv2.rectangle(out, (x0, y0), (x0 + tw + 4, y0 + th + base + 2), colour, -1)
    cv2.putText(out, text, (x0 + 2, y0 + th + 1), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 1, cv2.LINE_AA)
