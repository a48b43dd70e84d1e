"""The heatmap codec: keypoints ↔ Gaussian heatmaps. ONE implementation, used by training and by every runtime.

Shape legend: B batch (instances), K keypoints, h×w heatmap, H×W network input.

Coordinates are (x, y) with pixel *centres* at integers, in both spaces. Heatmap pixel ``i`` covers input pixels
``stride·i … stride·i + stride-1``, so ``x_hm = (x_in + 0.5) / stride - 0.5``. The same convention in the affine
transforms and in OpenCV's ``warpAffine`` makes a horizontal flip exact (``x → w-1-x``) without the one-pixel shift
that MMPose's legacy codec needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from runtime.contract import check_choice, check_positive, check_size, fields_from_dict
from runtime.errors import ConfigError, InputShapeError

__all__ = ["HeatmapCodec", "CONVENTIONS", "gaussian_blur", "decode_argmax", "decode_msra", "refine_dark"]

#: heatmap-to-input coordinate conventions (see :class:`HeatmapCodec`)
CONVENTIONS = ("centre", "msra")


@dataclass(frozen=True)
class HeatmapCodec:
    """Gaussian heatmap encoding and argmax / DARK decoding.

    Args:
        input_size: (H, W) of the network input in pixels.
        heatmap_size: (h, w) of the output heatmaps; H/h and W/w are the (integer) strides.
        sigma: Gaussian standard deviation in heatmap pixels. Targets are cut to zero beyond 3·sigma.
        use_dark: decode with DARK (Taylor refinement on the blurred log heatmap) instead of the quarter offset.
        convention: how heatmap pixels sit in the input. ``"centre"`` (swinpose's): heatmap pixel *i* covers input
            pixels stride·i … stride·i + stride-1, so a flip is exact. ``"msra"`` (MMPose's ``MSRAHeatmap``, the
            SimpleBaseline codec): heatmap pixel *i* is input pixel stride·i, and decoding follows MMPose exactly
            (a non-positive maximum decodes to -1; its quarter offset skips x = 1 and the last row/column).
        flip_shift: the flip test moves the flipped-back heatmaps one pixel right (MMPose's ``shift_heatmap``),
            which the ``msra`` convention needs to align a mirrored crop's heatmaps.
    """

    input_size: tuple[int, int]
    heatmap_size: tuple[int, int]
    sigma: float
    use_dark: bool = True
    convention: str = "centre"
    flip_shift: bool = False

    def __post_init__(self) -> None:
        for name in ("input_size", "heatmap_size"):
            object.__setattr__(self, name, check_size(getattr(self, name), name, positive=False))
        if not isinstance(self.use_dark, bool) or not isinstance(self.flip_shift, bool):
            raise ConfigError(
                f"use_dark and flip_shift must be true or false, got {self.use_dark!r}, {self.flip_shift!r}"
            )
        check_choice(self.convention, "convention", CONVENTIONS)
        (ih, iw), (hh, hw) = self.input_size, self.heatmap_size
        if min(ih, iw, hh, hw) <= 0 or ih % hh or iw % hw or ih // hh != iw // hw:
            raise ConfigError(
                f"input_size {self.input_size} must be the same integer multiple of heatmap_size {self.heatmap_size} "
                "on both axes (e.g. 256x192 with 64x48)"
            )
        object.__setattr__(self, "sigma", check_positive(self.sigma, "sigma"))

    def to_dict(self) -> dict[str, Any]:
        return {
            "input_size": list(self.input_size),
            "heatmap_size": list(self.heatmap_size),
            "sigma": self.sigma,
            "use_dark": self.use_dark,
            "convention": self.convention,
            "flip_shift": self.flip_shift,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> HeatmapCodec:
        return fields_from_dict(cls, d)

    @property
    def stride(self) -> int:
        """Input pixels per heatmap pixel."""
        return self.input_size[0] // self.heatmap_size[0]

    # -- coordinate spaces -------------------------------------------------------------------------------------
    def input_to_heatmap(self, xy: np.ndarray) -> np.ndarray:
        """(..., 2) input-pixel (x, y) → heatmap-pixel (x, y)."""
        if self.convention == "msra":
            return np.asarray(xy, np.float64) / self.stride
        return (np.asarray(xy, np.float64) + 0.5) / self.stride - 0.5

    def heatmap_to_input(self, xy: np.ndarray) -> np.ndarray:
        """(..., 2) heatmap-pixel (x, y) → input-pixel (x, y); the exact inverse of :meth:`input_to_heatmap`."""
        if self.convention == "msra":
            return np.asarray(xy, np.float64) * self.stride
        return (np.asarray(xy, np.float64) + 0.5) * self.stride - 0.5

    def decode_to_image(self, heatmaps: np.ndarray, matrices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Keypoints in image pixels: decode B×K×h×w heatmaps and map them through the inverse of each crop's
        B×2×3 image → input affine. Returns B×K×2 float64 (x, y) image pixels and B×K float32 scores."""
        from runtime.transforms import apply_affine, invert_affine

        xy_hm, scores = self.decode(heatmaps)
        return apply_affine(self.heatmap_to_input(xy_hm), invert_affine(np.asarray(matrices).reshape(-1, 2, 3))), scores

    # -- encode --------------------------------------------------------------------------------------------------
    def encode(self, keypoints: np.ndarray, visible: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Gaussian target heatmaps for keypoints given in input-pixel space.

        Args:
            keypoints: B×K×2 (x, y) in input pixels (or K×2 for one instance).
            visible: B×K visibility/label flags (COCO ``v``); any value > 0 means labelled.

        Returns:
            heatmaps: B×K×h×w float32, peak 1 at the (sub-pixel) keypoint, exactly 0 beyond 3·sigma.
            weights: B×K float32: 1 for labelled keypoints inside the crop, 0 otherwise (their heatmap is all 0).
        """
        kp = np.asarray(keypoints, np.float64)
        vis = np.asarray(visible)
        single = kp.ndim == 2
        if single:
            kp, vis = kp[None], vis[None]
        if kp.ndim != 3 or kp.shape[-1] != 2 or vis.shape != kp.shape[:2]:
            raise InputShapeError(
                f"encode needs keypoints B×K×2 and visible B×K, got {np.shape(keypoints)} and {np.shape(visible)}"
            )
        h, w = self.heatmap_size
        mu = self.input_to_heatmap(kp)  # B×K×2
        inside = (mu[..., 0] >= -0.5) & (mu[..., 0] < w - 0.5) & (mu[..., 1] >= -0.5) & (mu[..., 1] < h - 0.5)
        weights = ((vis > 0) & inside & np.isfinite(mu).all(-1)).astype(np.float32)
        mu = np.where(weights[..., None] > 0, mu, 0.0)
        dx2 = (np.arange(w) - mu[..., 0, None]) ** 2  # B×K×w
        dy2 = (np.arange(h) - mu[..., 1, None]) ** 2  # B×K×h
        d2 = dy2[..., :, None] + dx2[..., None, :]  # B×K×h×w
        heatmaps = np.exp(-d2 / (2.0 * self.sigma**2))
        heatmaps[d2 > (3.0 * self.sigma) ** 2] = 0.0
        heatmaps *= weights[..., None, None]
        heatmaps = heatmaps.astype(np.float32)
        return (heatmaps[0], weights[0]) if single else (heatmaps, weights)

    # -- decode --------------------------------------------------------------------------------------------------
    def decode(self, heatmaps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Keypoints from heatmaps.

        Args:
            heatmaps: B×K×h×w (or K×h×w) network output.

        Returns:
            coords: B×K×2 float64 (x, y) in heatmap pixels; map them on with :meth:`heatmap_to_input`.
            scores: B×K float32, the heatmap maximum.
        """
        hm = np.asarray(heatmaps)
        single = hm.ndim == 3
        if single:
            hm = hm[None]
        if hm.ndim != 4 or tuple(hm.shape[-2:]) != self.heatmap_size:
            h, w = self.heatmap_size
            raise InputShapeError(f"decode needs B×K×{h}×{w} heatmaps, got shape {np.shape(heatmaps)}")
        hm = hm.astype(np.float32, copy=False)
        if self.convention == "msra" and not self.use_dark:
            coords, scores = decode_msra(hm)
            return (coords[0], scores[0]) if single else (coords, scores)
        coords, scores = decode_argmax(hm, quarter_offset=not self.use_dark)
        if self.use_dark:
            coords = refine_dark(hm, coords, blur_kernel=2 * round(2.5 * self.sigma) + 1, fallback_quarter=True)
        return (coords[0], scores[0]) if single else (coords, scores)


def _heatmap_maximum(heatmaps: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """B×K×h×w → the first maximum of each map: B×K int64 x and y, and B×K float32 values."""
    b, k, h, w = heatmaps.shape
    flat = heatmaps.reshape(b, k, h * w)
    idx = flat.argmax(-1)
    scores = np.take_along_axis(flat, idx[..., None], -1)[..., 0].astype(np.float32)
    return (idx % w).astype(np.int64), (idx // w).astype(np.int64), scores


def decode_msra(heatmaps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """MMPose's ``MSRAHeatmap`` decoding (``get_heatmap_maximum`` + ``refine_keypoints``), in heatmap pixels:
    the argmax, at (-1, -1) where the maximum is not positive, then a quarter pixel towards the higher neighbour
    on each axis, skipped where MMPose skips it (x needs 1 < x < w-1, y needs 1 < y < h-1).

    Args:
        heatmaps: B×K×h×w.

    Returns:
        coords: B×K×2 float64 (x, y) in heatmap pixels; scores: B×K float32 maxima.
    """
    b, k, h, w = heatmaps.shape
    x, y, scores = _heatmap_maximum(heatmaps)
    x = np.where(scores > 0, x, -1)
    y = np.where(scores > 0, y, -1)
    coords = np.stack([x, y], -1).astype(np.float64)
    bi, ki = np.indices((b, k))
    xr, xl = np.clip(x + 1, 0, w - 1), np.clip(x - 1, 0, w - 1)
    yd, yu = np.clip(y + 1, 0, h - 1), np.clip(y - 1, 0, h - 1)
    yc, xc = np.clip(y, 0, h - 1), np.clip(x, 0, w - 1)
    use_x = (1 < x) & (x < w - 1) & (0 < y) & (y < h)
    use_y = (1 < y) & (y < h - 1) & (0 < x) & (x < w)
    dx = np.where(use_x, heatmaps[bi, ki, yc, xr] - heatmaps[bi, ki, yc, xl], 0.0)
    dy = np.where(use_y, heatmaps[bi, ki, yd, xc] - heatmaps[bi, ki, yu, xc], 0.0)
    coords[..., 0] += 0.25 * np.sign(dx)
    coords[..., 1] += 0.25 * np.sign(dy)
    return coords, scores


def decode_argmax(heatmaps: np.ndarray, quarter_offset: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Integer argmax per heatmap, optionally moved a quarter pixel towards the higher neighbour on each axis.

    Args:
        heatmaps: B×K×h×w.

    Returns:
        coords: B×K×2 float64 (x, y) in heatmap pixels; scores: B×K float32 maxima.
    """
    b, k, h, w = heatmaps.shape
    x, y, scores = _heatmap_maximum(heatmaps)
    coords = np.stack([x, y], -1).astype(np.float64)
    if quarter_offset:  # only where both neighbours exist on that axis, as in SimpleBaseline/MMPose
        bi, ki = np.indices((b, k))
        inner_x, inner_y = (x > 0) & (x < w - 1), (y > 0) & (y < h - 1)
        xr, xl = np.minimum(x + 1, w - 1), np.maximum(x - 1, 0)
        yd, yu = np.minimum(y + 1, h - 1), np.maximum(y - 1, 0)
        coords[..., 0] += np.where(inner_x, 0.25 * np.sign(heatmaps[bi, ki, y, xr] - heatmaps[bi, ki, y, xl]), 0.0)
        coords[..., 1] += np.where(inner_y, 0.25 * np.sign(heatmaps[bi, ki, yd, x] - heatmaps[bi, ki, yu, x]), 0.0)
    return coords, scores


def gaussian_blur(heatmaps: np.ndarray, kernel: int) -> np.ndarray:
    """Separable Gaussian blur of B×K×h×w heatmaps (edge-replicated), rescaled so each map keeps its maximum.

    This is DARK's distribution modulation; the OpenCV kernel sigma for an odd ``kernel`` size is used.
    """
    taps = _blur_taps(kernel)
    r = kernel // 2
    hm = heatmaps.astype(np.float64)
    h, w = hm.shape[-2:]
    pad = np.pad(hm, ((0, 0), (0, 0), (r, r), (0, 0)), mode="edge")
    out = sum(t * pad[..., i : i + h, :] for i, t in enumerate(taps))
    pad = np.pad(out, ((0, 0), (0, 0), (0, 0), (r, r)), mode="edge")
    out = sum(t * pad[..., :, i : i + w] for i, t in enumerate(taps))
    peak_in = heatmaps.max(axis=(-2, -1), keepdims=True)
    peak_out = out.max(axis=(-2, -1), keepdims=True)
    return out * np.divide(peak_in, peak_out, out=np.zeros_like(out[..., :1, :1]), where=peak_out > 0)


def _blur_taps(kernel: int) -> np.ndarray:
    """The normalised 1-D Gaussian of an odd ``kernel`` size, with OpenCV's sigma for that size."""
    if kernel < 3 or kernel % 2 == 0:
        raise ConfigError(f"blur kernel must be odd and >= 3, got {kernel}")
    r = kernel // 2
    s = 0.3 * (r - 1) + 0.8  # OpenCV's sigma for a given kernel size
    taps = np.exp(-(np.arange(-r, r + 1) ** 2) / (2 * s * s))
    return taps / taps.sum()


def _neighbourhoods(maps: np.ndarray, xs: np.ndarray, ys: np.ndarray, radius: int) -> np.ndarray:
    """N×(2·radius+1)×(2·radius+1) float64 windows of N×h×w ``maps`` centred on (xs, ys), edge-replicated."""
    h, w = maps.shape[-2:]
    span = np.arange(-radius, radius + 1)
    rows = np.clip(ys[:, None] + span, 0, h - 1)[:, :, None]
    cols = np.clip(xs[:, None] + span, 0, w - 1)[:, None, :]
    return maps[np.arange(len(maps))[:, None, None], rows, cols].astype(np.float64)


def refine_dark(
    heatmaps: np.ndarray, coords: np.ndarray, blur_kernel: int = 11, fallback_quarter: bool = True
) -> np.ndarray:
    """DARK: second-order Taylor expansion of the log heatmap around each integer maximum.

    ``offset = -H⁻¹ ∇`` with central differences on the 3×3 neighbourhood, which are exact for a log-Gaussian
    (Zhang et al., "Distribution-Aware Coordinate Representation for Human Pose Estimation", CVPR 2020). The
    log is taken of the Gaussian-blurred heatmap (DARK's modulation, which smooths network output), except where
    the blur would reach past the border: there padding would bias the blurred peak, so the raw heatmap is used.
    Maxima on the border, and those where the Hessian is not negative definite, keep the quarter-offset estimate
    (``fallback_quarter``) or the integer maximum.

    Only the 3×3 neighbourhood is blurred, from a (kernel+2)² window: the same separable sums as
    :func:`gaussian_blur`, as two small matrix products. DARK rescales the blurred map to the raw peak; that factor
    is ≥ 1 and cancels in the log differences unless it lifts a value over the log's 1e-10 floor, so the full
    :func:`gaussian_blur` is run only for the maps whose neighbourhood has a value at or below the floor (low,
    noisy maps). The quarter-offset fallback is read off the same window, which holds the raw 3×3 neighbourhood.

    Args:
        heatmaps: B×K×h×w; coords: B×K×2 integer (x, y) maxima from :func:`decode_argmax`.

    Returns:
        B×K×2 float64 refined (x, y) in heatmap pixels.
    """
    b, k, h, w = heatmaps.shape
    maps = heatmaps.reshape(b * k, h, w)
    x = np.rint(coords[..., 0]).astype(np.int64).reshape(-1)
    y = np.rint(coords[..., 1]).astype(np.int64).reshape(-1)
    taps = _blur_taps(blur_kernel)
    r = blur_kernel // 2
    near_border = (x < r + 1) | (x > w - 2 - r) | (y < r + 1) | (y > h - 2 - r)
    xs, ys = np.clip(x, 1, w - 2), np.clip(y, 1, h - 2)
    window = _neighbourhoods(maps, xs, ys, r + 1)  # N×(2r+3)²
    slide = np.lib.stride_tricks.sliding_window_view
    vertical = slide(window, blur_kernel, axis=1) @ taps  # N×3×(2r+3): the vertical pass, then the horizontal one
    values = slide(vertical, blur_kernel, axis=2) @ taps  # N×3×3 blurred
    floored = ~near_border & (values <= 1e-10).any((1, 2))
    if floored.any():  # where the floor makes DARK's rescale matter: the full blur, rescaled
        full = gaussian_blur(maps[floored][:, None], blur_kernel)[:, 0]
        values[floored] = _neighbourhoods(full, xs[floored], ys[floored], 1)
    centre = window[:, r : r + 3, r : r + 3]  # the raw 3×3 neighbourhood
    log = np.log(np.maximum(np.where(near_border[:, None, None], centre, values), 1e-10))

    c = log[:, 1, 1]
    dx = 0.5 * (log[:, 1, 2] - log[:, 1, 0])
    dy = 0.5 * (log[:, 2, 1] - log[:, 0, 1])
    dxx = log[:, 1, 2] - 2 * c + log[:, 1, 0]
    dyy = log[:, 2, 1] - 2 * c + log[:, 0, 1]
    dxy = 0.25 * (log[:, 2, 2] - log[:, 0, 2] - log[:, 2, 0] + log[:, 0, 0])
    det = dxx * dyy - dxy**2
    ok = (det > 1e-12) & (dxx < 0) & (x >= 1) & (x <= w - 2) & (y >= 1) & (y <= h - 2)
    safe = np.where(ok, det, 1.0)
    off_x = -(dyy * dx - dxy * dy) / safe
    off_y = -(dxx * dy - dxy * dx) / safe
    ok &= (np.abs(off_x) <= 1) & (np.abs(off_y) <= 1)
    base = np.stack([x, y], -1).astype(np.float64)
    if fallback_quarter:  # decode_argmax's quarter offset, where both neighbours exist on that axis
        n, row, col = np.arange(len(x)), 1 + y - ys, 1 + x - xs  # (x, y) in the window around (xs, ys)
        across = centre[n, row, np.minimum(col + 1, 2)] - centre[n, row, np.maximum(col - 1, 0)]
        down = centre[n, np.minimum(row + 1, 2), col] - centre[n, np.maximum(row - 1, 0), col]
        base[:, 0] += np.where((x > 0) & (x < w - 1), 0.25 * np.sign(across), 0.0)
        base[:, 1] += np.where((y > 0) & (y < h - 1), 0.25 * np.sign(down), 0.0)
    refined = np.stack([x + off_x, y + off_y], -1)
    return np.where(ok[:, None], refined, base).reshape(b, k, 2)
