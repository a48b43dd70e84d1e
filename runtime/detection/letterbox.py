"""A detector's input: the image resized with its aspect kept, padded to the network's size, normalised; and the way
back from network pixels to image pixels.

Each family resizes and pads its own way, and a detector only sees what it was trained on, so every layout names a
:class:`Letterbox` preset (:data:`PRESETS`) that repeats its family's own pre-processing:

* ``ultralytics`` (YOLOv5/v8/11, YOLOv10/26, YOLOv7's letterbox too): ``r = min(H/h, W/w)``, the image resized to
  ``round(w·r) × round(h·r)``, centred, with Ultralytics' ``round(pad ∓ 0.1)`` split of odd padding; grey 114; RGB
  on 0..1 (``LetterBox`` in ``ultralytics/data/augment.py``).
* ``yolox``: resized to ``int(w·r) × int(h·r)`` into the top-left corner of a 114 canvas; BGR on 0..255 (YOLOX's
  ``preproc``, rtmlib's YOLOX).
* ``rtmdet``: placed as ``yolox``, then BGR normalised with MMDetection's ImageNet mean/std (rtmlib's RTMDet, the
  MMDeploy RTMDet pipeline).

Boxes are in *corner* coordinates (a box edge, as detectors train on them: pixel ``i`` spans ``[i, i+1)``), in which
OpenCV's resize maps ``u`` to ``u·s`` exactly. :class:`Geometry` holds the per-axis scale the resize really applied
(``round(w·r)/w``, not ``r``) and the padding, as a 2×3 affine matrix, and maps boxes back with its exact inverse
(:func:`runtime.transforms.invert_affine`): a box drawn in the image and letterboxed comes back to within float64
rounding. Families' own post-processing divides by ``r`` instead; the difference is below ``|x·(1/s - 1/r)|`` < 0.5
image pixels at the far edge of the image.

Shape legend: H×W network input, h×w image, N boxes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from runtime.contract import fields_from_dict
from runtime.errors import ConfigError, InputShapeError
from runtime.transforms import apply_affine, invert_affine, normalize_batch

__all__ = ["Letterbox", "Geometry", "PRESETS", "letterbox_preset"]

#: how each family rounds the resized size
_ROUNDINGS = ("round", "floor")
_PLACEMENTS = ("centre", "top-left")


@dataclass(frozen=True)
class Geometry:
    """Where one image went in the network input: ``matrix`` (2×3) maps image corner coordinates to network ones,
    ``image_size`` is the image's (h, w)."""

    matrix: np.ndarray
    image_size: tuple[int, int]

    def to_image(self, boxes: np.ndarray) -> np.ndarray:
        """N×4 (x1, y1, x2, y2) boxes in network pixels → image pixels, clipped to the image."""
        b = np.asarray(boxes, np.float64).reshape(-1, 2, 2)
        out = apply_affine(b, invert_affine(self.matrix)).reshape(-1, 4)
        h, w = self.image_size
        np.clip(out[:, 0::2], 0, w, out=out[:, 0::2])
        np.clip(out[:, 1::2], 0, h, out=out[:, 1::2])
        return out

    def to_network(self, boxes: np.ndarray) -> np.ndarray:
        """N×4 image boxes → network pixels (the forward map; tests and synthetic graphs use it)."""
        b = np.asarray(boxes, np.float64).reshape(-1, 2, 2)
        return apply_affine(b, self.matrix).reshape(-1, 4)


@dataclass(frozen=True)
class Letterbox:
    """One family's pre-processing (see the module docstring).

    Args:
        name: the preset's name.
        placement: ``"centre"`` (Ultralytics) or ``"top-left"`` (YOLOX, MMDetection).
        rounding: the resized size is ``round(w·r)`` (``"round"``, half to even as Python's ``round``) or
            ``int(w·r)`` (``"floor"``).
        color_order: ``"RGB"`` or ``"BGR"``, what the network takes.
        mean, std: per channel in that order, on the 0..255 scale (``(0,0,0)``/``(255,255,255)`` is /255).
        pad_value: the grey of the padding (before normalisation).
    """

    name: str
    placement: str
    rounding: str
    color_order: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    pad_value: int = 114

    def __post_init__(self) -> None:
        if self.placement not in _PLACEMENTS:
            raise ConfigError(f"letterbox placement must be one of {_PLACEMENTS}, got {self.placement!r}")
        if self.rounding not in _ROUNDINGS:
            raise ConfigError(f"letterbox rounding must be one of {_ROUNDINGS}, got {self.rounding!r}")
        if self.color_order not in ("RGB", "BGR"):
            raise ConfigError(f"letterbox color_order must be RGB or BGR, got {self.color_order!r}")
        for field in ("mean", "std"):
            value = getattr(self, field)
            if len(value) != 3 or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in value):
                raise ConfigError(f"letterbox {field} must be three finite numbers, got {value!r}")
            object.__setattr__(self, field, tuple(float(v) for v in value))
        if min(self.std) <= 0:
            raise ConfigError(f"letterbox std must be positive, got {self.std}")
        if not 0 <= int(self.pad_value) <= 255:
            raise ConfigError(f"letterbox pad_value must be a grey level 0..255, got {self.pad_value!r}")

    def geometry(self, image_size: tuple[int, int], input_size: tuple[int, int]) -> tuple[Geometry, tuple[int, int]]:
        """(the :class:`Geometry` of an image of (h, w) ``image_size`` in an (H, W) ``input_size``, the resized
        (w, h) before padding)."""
        (h, w), (big_h, big_w) = image_size, input_size
        r = min(big_h / h, big_w / w)
        size = (round(w * r), round(h * r)) if self.rounding == "round" else (int(w * r), int(h * r))
        new_w, new_h = max(1, min(big_w, size[0])), max(1, min(big_h, size[1]))
        if self.placement == "centre":  # Ultralytics: round(d - 0.1) left/top, the rest right/bottom
            left, top = round((big_w - new_w) / 2 - 0.1), round((big_h - new_h) / 2 - 0.1)
        else:
            left, top = 0, 0
        matrix = np.array([[new_w / w, 0.0, left], [0.0, new_h / h, top]])
        return Geometry(matrix, (int(h), int(w))), (new_w, new_h)

    def __call__(self, image: np.ndarray, input_size: tuple[int, int]) -> tuple[np.ndarray, Geometry]:
        """An h×w×3 BGR uint8 ``image`` → (1×3×H×W float32 network input, its :class:`Geometry`)."""
        if image.ndim != 3 or image.shape[2] != 3:
            raise InputShapeError(
                f"the detector takes an h×w×3 BGR image, got shape {image.shape}; convert grey or BGRA images with "
                "cv2.cvtColor first"
            )
        geometry, (new_w, new_h) = self.geometry(image.shape[:2], input_size)
        big_h, big_w = input_size
        resized = image
        if (new_w, new_h) != image.shape[1::-1]:
            resized = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
        canvas = np.full((big_h, big_w, 3), self.pad_value, np.uint8)
        left, top = int(geometry.matrix[0, 2]), int(geometry.matrix[1, 2])
        canvas[top : top + new_h, left : left + new_w] = resized
        return normalize_batch(canvas[None], self.mean, self.std, self.color_order == "RGB"), geometry

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "placement": self.placement,
            "rounding": self.rounding,
            "color_order": self.color_order,
            "mean": list(self.mean),
            "std": list(self.std),
            "pad_value": int(self.pad_value),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Letterbox:
        """The inverse of :meth:`to_dict`; a missing, unknown or invalid field raises :class:`ConfigError`."""
        return fields_from_dict(cls, d)


_UNIT = ((0.0, 0.0, 0.0), (255.0, 255.0, 255.0))  # x / 255
#: MMDetection's RTMDet normalisation, BGR order on 0..255 (``mean=[103.53, 116.28, 123.675]``)
RTMDET_MEAN, RTMDET_STD = (103.53, 116.28, 123.675), (57.375, 57.12, 58.395)

#: the families' pre-processing, by name
PRESETS = {
    p.name: p
    for p in (
        Letterbox("ultralytics", "centre", "round", "RGB", *_UNIT),
        Letterbox("yolox", "top-left", "floor", "BGR", (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)),
        Letterbox("rtmdet", "top-left", "floor", "BGR", RTMDET_MEAN, RTMDET_STD),
    )
}


def letterbox_preset(name: str) -> Letterbox:
    """The preset ``name`` (:class:`ConfigError` listing them otherwise)."""
    if name not in PRESETS:
        raise ConfigError(f"no letterbox preset {name!r}; the presets are {sorted(PRESETS)}")
    return PRESETS[name]
