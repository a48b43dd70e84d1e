"""Image normalisation shared by training, export calibration and inference (numpy only).

Shape legend: B batch, H×W image height/width in pixels, C=3 colour channels.
"""

from __future__ import annotations

import numpy as np

from runtime.errors import InputShapeError

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "normalize_batch"]

#: ImageNet statistics in RGB order, on the 0..255 pixel scale.
IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)


def normalize_batch(
    images: np.ndarray,
    mean: tuple[float, float, float] = IMAGENET_MEAN,
    std: tuple[float, float, float] = IMAGENET_STD,
    bgr_to_rgb: bool = True,
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
    x = images[..., ::-1] if bgr_to_rgb else images
    x = (x.astype(np.float32) - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))
