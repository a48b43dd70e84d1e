"""COCO keypoint metadata as data: names, flip pairs, skeleton and OKS sigmas (numpy only).

Every layer reads the topology from here (training augmentation, flip test, drawing, evaluation); nothing else
hard-codes keypoint indices.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from runtime.contract import fields_from_dict
from runtime.errors import ConfigError

__all__ = ["COCO_KEYPOINTS", "COCO_FLIP_PAIRS", "COCO_SKELETON", "COCO_SIGMAS", "KeypointSpec", "flip_index"]

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
    (15, 13),
    (13, 11),
    (16, 14),
    (14, 12),
    (11, 12),
    (5, 11),
    (6, 12),
    (5, 6),
    (5, 7),
    (6, 8),
    (7, 9),
    (8, 10),
    (1, 2),
    (0, 1),
    (0, 2),
    (1, 3),
    (2, 4),
    (3, 5),
    (4, 6),
)

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


def _pairs(value: Any, k: int, field: str) -> tuple[tuple[int, int], ...]:
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise ConfigError(f"{field} must be a list of [a, b] keypoint index pairs, got {value!r}")
    out = []
    for pair in value:
        ok = (
            hasattr(pair, "__len__")
            and len(pair) == 2
            and all(isinstance(i, (int, np.integer)) and not isinstance(i, bool) and 0 <= i < k for i in pair)
        )
        if not ok:
            raise ConfigError(f"{field} entry {pair!r} must be two keypoint indices in 0..{k - 1}")
        out.append((int(pair[0]), int(pair[1])))
    return tuple(out)


@dataclass(frozen=True)
class KeypointSpec:
    """The keypoints a model predicts, in heatmap channel order: K names, limbs (skeleton) and left/right flip
    pairs as 0-based index pairs, and K OKS sigmas for evaluation (empty when the set has none, e.g. a custom one).
    """

    names: tuple[str, ...]
    skeleton: tuple[tuple[int, int], ...]
    flip_pairs: tuple[tuple[int, int], ...]
    oks_sigmas: tuple[float, ...]

    def __post_init__(self) -> None:
        names = self.names
        if isinstance(names, (str, bytes)) or not names or not all(isinstance(n, str) and n for n in names):
            raise ConfigError(f"names must be a non-empty list of keypoint names, got {names!r}")
        if len(set(names)) != len(names):
            raise ConfigError(f"names must be distinct, got {list(names)}")
        object.__setattr__(self, "names", tuple(names))
        k = len(names)
        object.__setattr__(self, "skeleton", _pairs(self.skeleton, k, "skeleton"))
        flips = _pairs(self.flip_pairs, k, "flip_pairs")
        used = [i for pair in flips for i in pair]
        if len(set(used)) != len(used) or any(a == b for a, b in flips):
            raise ConfigError(f"flip_pairs must swap distinct keypoints, each in one pair at most, got {flips}")
        object.__setattr__(self, "flip_pairs", flips)
        sigmas = self.oks_sigmas
        if (
            isinstance(sigmas, (str, bytes))
            or not hasattr(sigmas, "__len__")
            or len(sigmas) not in (0, k)
            or not all(
                isinstance(v, (int, float, np.floating)) and not isinstance(v, bool) and math.isfinite(v) and v > 0
                for v in sigmas
            )
        ):
            raise ConfigError(f"oks_sigmas must be {k} positive numbers (one per keypoint) or empty, got {sigmas!r}")
        object.__setattr__(self, "oks_sigmas", tuple(float(v) for v in sigmas))

    @property
    def num_keypoints(self) -> int:
        return len(self.names)

    def flip_perm(self) -> np.ndarray:
        """(K,) permutation of :func:`flip_index` for these flip pairs."""
        return flip_index(self.num_keypoints, self.flip_pairs)

    def sigmas(self) -> np.ndarray:
        """(K,) OKS sigmas for evaluation; raises :class:`ConfigError` when the set has none."""
        if not self.oks_sigmas:
            raise ConfigError(
                f"these {self.num_keypoints} keypoints have no OKS sigmas, so OKS AP is undefined; "
                "give the keypoint set its oks_sigmas"
            )
        return np.asarray(self.oks_sigmas, np.float64)

    @classmethod
    def coco(cls) -> KeypointSpec:
        """COCO's 17 person keypoints."""
        return cls(COCO_KEYPOINTS, COCO_SKELETON, COCO_FLIP_PAIRS, tuple(float(s) for s in COCO_SIGMAS))

    @classmethod
    def generic(cls, k: int) -> KeypointSpec:
        """``k`` unnamed keypoints: no limbs, no flip pairs, no OKS sigmas."""
        return cls(tuple(f"keypoint_{i}" for i in range(k)), (), (), ())

    def to_dict(self) -> dict[str, Any]:
        return {
            "names": list(self.names),
            "skeleton": [list(p) for p in self.skeleton],
            "flip_pairs": [list(p) for p in self.flip_pairs],
            "oks_sigmas": list(self.oks_sigmas),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> KeypointSpec:
        return fields_from_dict(cls, d)
