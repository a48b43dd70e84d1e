"""Affine crops and image normalisation shared by training, export calibration and inference (numpy + OpenCV).

ONE implementation: the dataset builds its training crops with these functions and the runtime maps decoded
keypoints back to image pixels with their exact inverses.

Shape legend: B batch, N boxes, H×W input height/width in pixels, C=3 colour channels. Points are (x, y) with pixel
*centres* at integer coordinates, which is the convention of OpenCV's ``warpAffine``. A box's ``scale`` is its
(width, height) in image pixels after aspect-ratio fixing and padding (not MMPose's legacy "/200" units).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import cv2
import numpy as np

from runtime.contract import check_choice, check_floats, check_positive, check_size, fields_from_dict
from runtime.errors import ConfigError, InputError, InputShapeError

__all__ = [
    "Preprocess",
    "COLOR_ORDERS",
    "normalize_batch",
    "box_to_center_scale",
    "get_warp_matrix",
    "invert_affine",
    "apply_affine",
    "warp_crop",
    "crop_boxes",
    "xyxy_to_xywh",
    "flip_keypoints",
    "flip_heatmaps",
    "flip_test_heatmaps",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
]


def normalize_batch(
    images: np.ndarray, mean: tuple[float, float, float], std: tuple[float, float, float], bgr_to_rgb: bool
) -> np.ndarray:
    """Turn uint8 images into the network's input tensor.

    Args:
        images: B×H×W×3 uint8 (or float) array, BGR as OpenCV reads it when ``bgr_to_rgb`` is True.
        mean, std: per-channel statistics in the network's colour order, on the 0..255 scale.
        bgr_to_rgb: reverse the channel order before normalising.

    Returns:
        B×3×H×W float32, contiguous.
    """
    if images.ndim != 4 or images.shape[-1] != 3:
        raise InputShapeError(
            f"expected a B×H×W×3 image batch, got shape {images.shape}; stack HxWx3 images with np.stack first"
        )
    b, h, w, _ = images.shape
    out = np.empty((b, 3, h, w), np.float32)
    for c in range(3):  # channel by channel into the NCHW planes: float32 (x - mean) / std, as one expression would
        plane = out[:, c]
        np.subtract(images[..., 2 - c if bgr_to_rgb else c], np.float32(mean[c]), out=plane, dtype=np.float32)
        plane /= np.float32(std[c])
    return out


def box_to_center_scale(boxes: np.ndarray, aspect_ratio: float, padding: float) -> tuple[np.ndarray, np.ndarray]:
    """Boxes → crop centre and size with the model's aspect ratio.

    Args:
        boxes: N×4 (x, y, w, h) in image pixels, COCO's bbox format (or one box of shape (4,)).
        aspect_ratio: model input width / height (e.g. 192/256).
        padding: context factor applied after the aspect fix (:attr:`Preprocess.box_padding`).

    Returns:
        center: N×2 (x, y) in image pixels; scale: N×2 (width, height) of the crop in image pixels.
    """
    b = np.asarray(boxes, np.float64)
    single = b.ndim == 1
    b = np.atleast_2d(b)
    if b.shape[-1] != 4:
        raise InputShapeError(f"boxes must be N×4 (x, y, w, h), got shape {np.shape(boxes)}")
    if aspect_ratio <= 0:
        raise InputError(f"aspect_ratio must be positive, got {aspect_ratio}")
    x, y, w, h = b.T
    center = np.stack([x + w * 0.5, y + h * 0.5], -1)
    w = np.where(w > aspect_ratio * h, w, h * aspect_ratio)
    h = w / aspect_ratio
    scale = np.stack([w, h], -1) * padding
    return (center[0], scale[0]) if single else (center, scale)


def get_warp_matrix(
    center: np.ndarray,
    scale: np.ndarray,
    output_size: tuple[int, int],
    rotation: float | np.ndarray = 0.0,
    shift: tuple[float, float] | np.ndarray = (0.0, 0.0),
    centre_offset: float = 0.0,
) -> np.ndarray:
    """The affine matrix that maps image pixels into the crop (what ``cv2.warpAffine`` takes).

    The crop window of size ``scale`` centred on ``center + shift·scale`` is rotated by ``rotation`` degrees
    (counter-clockwise on screen, about that centre) and scaled so that its edges land on the crop's pixel edges:
    its centre goes to ((W-1)/2, (H-1)/2), moved by ``centre_offset`` input pixels on both axes (MMPose's warp:
    0.5, :attr:`Preprocess.centre_offset`).

    Args:
        center: (2,) or N×2 (x, y) in image pixels. scale: (2,) or N×2 (width, height) in image pixels.
        output_size: (W, H) of the crop in pixels (OpenCV's dsize order).
        rotation: degrees, scalar or (N,). shift: fraction of ``scale`` to move the centre by, (2,) or N×2.

    Returns:
        2×3 float64 matrix (N×2×3 for N centres).
    """
    c = np.asarray(center, np.float64)
    single = c.ndim == 1
    c = np.atleast_2d(c)
    s = np.broadcast_to(np.asarray(scale, np.float64), c.shape)
    if np.any(s <= 0):
        raise InputError(f"crop scale must be positive, got {np.asarray(scale).tolist()}; check the boxes")
    c = c + np.broadcast_to(np.asarray(shift, np.float64), c.shape) * s
    theta = np.deg2rad(np.broadcast_to(np.asarray(rotation, np.float64), c.shape[:1]))
    out_w, out_h = output_size
    sx, sy = out_w / s[:, 0], out_h / s[:, 1]
    cos, sin = np.cos(theta), np.sin(theta)
    # rotate counter-clockwise on screen (y points down): R = [[cos, sin], [-sin, cos]], then scale per axis
    a = np.stack([np.stack([sx * cos, sx * sin], -1), np.stack([-sy * sin, sy * cos], -1)], -2)  # N×2×2
    t = np.array([(out_w - 1) * 0.5, (out_h - 1) * 0.5]) + centre_offset - np.einsum("nij,nj->ni", a, c)
    m = np.concatenate([a, t[..., None]], -1)
    return m[0] if single else m


def invert_affine(matrix: np.ndarray) -> np.ndarray:
    """Exact inverse of a 2×3 (or N×2×3) affine matrix: crop pixels → image pixels."""
    m = np.asarray(matrix, np.float64)
    a, t = m[..., :2], m[..., 2]
    inv = np.linalg.inv(a)
    return np.concatenate([inv, -np.einsum("...ij,...j->...i", inv, t)[..., None]], -1)


def apply_affine(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Map (..., P, 2) (x, y) points with a 2×3 matrix, or with one N×2×3 matrix per leading index N."""
    p = np.asarray(points, np.float64)
    m = np.asarray(matrix, np.float64)
    if m.ndim == 2:
        return p @ m[:, :2].T + m[:, 2]
    return np.einsum("nij,n...j->n...i", m[..., :2], p) + m[:, None, :, 2].reshape(m.shape[0], *([1] * (p.ndim - 2)), 2)


def warp_crop(image: np.ndarray, matrix: np.ndarray, output_size: tuple[int, int]) -> np.ndarray:
    """The H×W×3 crop of ``image`` under ``matrix`` (bilinear, zero border); ``output_size`` is (W, H)."""
    return cv2.warpAffine(
        image, np.asarray(matrix, np.float64), tuple(int(v) for v in output_size), flags=cv2.INTER_LINEAR
    )


def xyxy_to_xywh(boxes: np.ndarray) -> np.ndarray:
    """N×4 (x1, y1, x2, y2) corner boxes → N×4 (x, y, w, h), COCO's bbox format."""
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    return np.concatenate([b[:, :2], b[:, 2:] - b[:, :2]], 1)


def crop_boxes(
    image: np.ndarray, boxes: np.ndarray, input_size: tuple[int, int], padding: float, centre_offset: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Top-down pre-processing of one image: one crop per person box, as evaluation and inference make them.

    Args:
        image: H×W×3 uint8 image (any colour order; it is kept).
        boxes: N×4 (x, y, w, h) person boxes in image pixels.
        input_size: (H, W) of the network input in pixels.
        padding: context factor around each box.
        centre_offset: input pixels added to where the box centre lands (0: ((W-1)/2, (H-1)/2); MMPose: 0.5).

    Returns:
        crops: N×H×W×3 uint8 (feed them to :func:`normalize_batch`); matrices: N×2×3 image → crop affines (their
        :func:`invert_affine` maps decoded keypoints back to image pixels).
    """
    if image.ndim != 3 or image.shape[-1] != 3:
        raise InputShapeError(f"expected an H×W×3 image, got shape {image.shape}")
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    h, w = (int(v) for v in input_size)
    center, scale = box_to_center_scale(b, w / h, padding)
    matrices = get_warp_matrix(center, scale, (w, h), centre_offset=centre_offset).reshape(-1, 2, 3)
    crops = np.stack([warp_crop(image, m, (w, h)) for m in matrices]) if len(b) else np.zeros((0, h, w, 3), np.uint8)
    return crops, matrices


def flip_keypoints(
    keypoints: np.ndarray, visible: np.ndarray, width: int, flip_perm: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Keypoints of a horizontally flipped image: x → width-1-x and left/right swapped.

    Args:
        keypoints: (..., K, 2) (x, y) in pixels of an image ``width`` pixels wide; visible: (..., K).
        flip_perm: (K,) permutation from :func:`runtime.keypoints.flip_index`.
    """
    kp = np.array(keypoints, np.float64)[..., flip_perm, :]
    kp[..., 0] = width - 1 - kp[..., 0]
    return kp, np.asarray(visible)[..., flip_perm]


def flip_heatmaps(heatmaps: np.ndarray, flip_perm: np.ndarray, shift: bool = False) -> np.ndarray:
    """Heatmaps of a flipped input mapped back to the unflipped frame: B×K×h×w, mirrored and left/right swapped;
    ``shift`` then moves them one pixel right (MMPose's ``shift_heatmap``, for the ``msra`` codec convention)."""
    out = np.ascontiguousarray(heatmaps[:, flip_perm, :, ::-1])
    if shift:
        out[..., 1:] = out[..., :-1].copy()
    return out


def flip_test_heatmaps(
    run: Callable[[np.ndarray], np.ndarray], inputs: np.ndarray, flip_perm: np.ndarray | None, shift: bool = False
) -> np.ndarray:
    """The top-down heatmap stage that training's evaluation, PoseEngine and the benchmarks share: ``run`` maps
    B×3×H×W float32 inputs to B×K×h×w heatmaps; with ``flip_perm`` (the keypoints' left/right permutation) the
    mirrored crops' heatmaps are flipped back (:func:`flip_heatmaps`, ``shift`` as there) and averaged in, MMPose's
    flip test; None runs the inputs alone."""
    heatmaps = run(inputs)
    if flip_perm is None:
        return heatmaps
    flipped = run(np.ascontiguousarray(inputs[..., ::-1]))
    return 0.5 * (heatmaps + flip_heatmaps(flipped, flip_perm, shift))


#: ImageNet statistics in RGB order, on the 0..255 pixel scale: what the Swin backbones were pre-trained with, and
#: MMPose 1.x's PoseDataPreprocessor for them
IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)
#: the channel orders a network can take; images arrive in OpenCV's BGR
COLOR_ORDERS = ("RGB", "BGR")
#: how a box becomes a crop: "fixed" extends the box to the input's aspect ratio (W/H), then pads it
ASPECTS = ("fixed",)
#: where the box centre lands in the crop: "centre" at ((W-1)/2, (H-1)/2), the pixel-centre convention that makes
#: swinpose's flips exact; "mmpose" at (W/2, H/2), as MMPose's get_warp_matrix (without UDP) puts it
WARPS = ("centre", "mmpose")


@dataclass(frozen=True)
class Preprocess:
    """How a person box becomes the network's input: the settings inference must repeat exactly as training made
    them. Training, export calibration and every runtime crop and normalise through this one class.

    Args:
        input_size: (H, W) of the network input in pixels.
        color_order: ``"RGB"`` or ``"BGR"``, the channel order the network takes (images arrive BGR from OpenCV).
        mean, std: per-channel statistics in that order, on the 0..``pixel_scale`` scale.
        pixel_scale: the value of a white pixel when mean/std apply: 255 (mean/std in uint8 units, as MMPose and
            swinpose write them) or 1 (torchvision's 0.485/0.229 style).
        box_padding: context factor around each box, after the aspect fix (1.25 in SimpleBaseline and MMPose).
        aspect: ``"fixed"``: the box is extended to the input's aspect ratio W/H, keeping its centre.
        warp: where the box centre lands in the crop (:data:`WARPS`): ``"centre"`` (swinpose) or ``"mmpose"``.
    """

    input_size: tuple[int, int]
    color_order: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    pixel_scale: float
    box_padding: float
    aspect: str = "fixed"
    warp: str = "centre"

    def __post_init__(self) -> None:
        object.__setattr__(self, "input_size", check_size(self.input_size, "input_size"))
        check_choice(self.color_order, "color_order", COLOR_ORDERS)
        object.__setattr__(self, "mean", check_floats(self.mean, 3, "mean"))
        object.__setattr__(self, "std", check_floats(self.std, 3, "std"))
        if min(self.std) <= 0:
            raise ConfigError(f"std must be positive, got {self.std}")
        for name in ("pixel_scale", "box_padding"):
            object.__setattr__(self, name, check_positive(getattr(self, name), name))
        check_choice(self.aspect, "aspect", ASPECTS)
        check_choice(self.warp, "warp", WARPS)

    def crop(self, image: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """H×W×3 uint8 image and N×4 (x, y, w, h) boxes → N×H×W×3 uint8 crops and N×2×3 image → crop affines."""
        return crop_boxes(image, boxes, self.input_size, self.box_padding, self.centre_offset)

    @property
    def centre_offset(self) -> float:
        """Input pixels the box centre lands past ((W-1)/2, (H-1)/2): MMPose's warp puts it on (W/2, H/2)."""
        return 0.5 if self.warp == "mmpose" else 0.0

    def normalize(self, crops: np.ndarray) -> np.ndarray:
        """B×H×W×3 BGR uint8 crops → B×3×H×W float32 network input."""
        to_255 = 255.0 / self.pixel_scale  # mean/std in uint8 units; exact (×1) for pixel_scale 255
        mean = tuple(m * to_255 for m in self.mean)
        std = tuple(s * to_255 for s in self.std)
        return normalize_batch(crops, mean, std, self.color_order == "RGB")

    def to_dict(self) -> dict[str, Any]:
        return {
            "input_size": list(self.input_size),
            "color_order": self.color_order,
            "mean": list(self.mean),
            "std": list(self.std),
            "pixel_scale": self.pixel_scale,
            "box_padding": self.box_padding,
            "aspect": self.aspect,
            "warp": self.warp,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Preprocess:
        """The inverse of :meth:`to_dict`; a missing, unknown or invalid field raises :class:`ConfigError`."""
        return fields_from_dict(cls, d)
