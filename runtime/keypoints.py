"""COCO keypoint metadata as data: names, flip pairs, skeleton and OKS sigmas (numpy only).

Every layer reads the topology from here (training augmentation, flip test, drawing, evaluation); nothing else
hard-codes keypoint indices.
"""

from __future__ import annotations

import numpy as np

from runtime.errors import ConfigError

__all__ = ["COCO_KEYPOINTS", "COCO_FLIP_PAIRS", "COCO_SKELETON", "COCO_SIGMAS", "flip_index"]

#: the 17 COCO person keypoints, in annotation order
COCO_KEYPOINTS = (
    "nose",
    "left_eye",
    "right_eye",
    "left_ear",
    "right_ear",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
)

#: (left, right) index pairs that swap under a horizontal flip
COCO_FLIP_PAIRS = ((1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16))

#: limbs as 0-based (a, b) keypoint index pairs (COCO's 19 connections)
COCO_SKELETON = (
    (15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6), (5, 7), (6, 8),
    (7, 9), (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6),
)  # fmt: skip

#: per-keypoint OKS falloff constants, as pycocotools uses them
COCO_SIGMAS = (
    np.array([0.26, 0.25, 0.25, 0.35, 0.35, 0.79, 0.79, 0.72, 0.72, 0.62, 0.62, 1.07, 1.07, 0.87, 0.87, 0.89, 0.89])
    / 10.0
)


def flip_index(num_keypoints: int, flip_pairs: tuple[tuple[int, int], ...] = COCO_FLIP_PAIRS) -> np.ndarray:
    """Permutation ``p`` (K,) such that ``flipped[..., p[k], :]`` is keypoint ``k`` after a horizontal flip."""
    perm = np.arange(num_keypoints)
    for a, b in flip_pairs:
        if max(a, b) >= num_keypoints:
            raise ConfigError(
                f"flip pair ({a}, {b}) names a keypoint beyond K={num_keypoints}; pass matching flip pairs"
            )
        perm[a], perm[b] = b, a
    return perm
