"""The heatmap codec against hand-computed values and seeded round trips."""

from __future__ import annotations

import math

import numpy as np
import pytest

from runtime.codec import HeatmapCodec, decode_argmax, gaussian_blur
from runtime.errors import ConfigError, InputShapeError

CODEC = HeatmapCodec((256, 192), (64, 48), sigma=2.0, use_dark=True)


def test_coordinate_spaces_are_exact_inverses_and_pixel_centred():
    # heatmap pixel 0 covers input pixels 0..3, whose centre is 1.5
    assert CODEC.input_to_heatmap(np.array([1.5, 5.5])).tolist() == [0.0, 1.0]
    xy = np.random.default_rng(0).uniform(-10, 200, (5, 2))
    np.testing.assert_allclose(CODEC.heatmap_to_input(CODEC.input_to_heatmap(xy)), xy, atol=1e-12)


def test_encode_peak_value_and_3_sigma_cut_by_hand():
    codec = HeatmapCodec((32, 32), (8, 8), sigma=1.0)
    # heatmap (x, y) = (3, 2) is input pixel (13.5, 9.5)
    hm, w = codec.encode(np.array([[[13.5, 9.5]]]), np.array([[2]]))
    assert hm.shape == (1, 1, 8, 8) and w.tolist() == [[1.0]]
    assert hm[0, 0, 2, 3] == 1.0
    assert hm[0, 0, 2, 4] == pytest.approx(math.exp(-0.5))
    assert hm[0, 0, 3, 4] == pytest.approx(math.exp(-1.0))
    assert hm[0, 0, 2, 6] == pytest.approx(math.exp(-4.5))  # exactly 3 sigma away: kept
    assert hm[0, 0, 4, 6] == 0.0  # sqrt(13) > 3 sigma: cut
    assert hm[0, 0, 2, 7] == 0.0


def test_encode_edge_cases_weights():
    codec = HeatmapCodec((32, 32), (8, 8), sigma=1.0)
    # input x = -0.5 is heatmap x = -0.5 (the crop's left edge, inside); -0.6 is outside; 31.5 is the right edge
    kps = np.array([[[-0.5, 9.5], [-0.6, 9.5], [31.5, 9.5], [31.4, 9.5], [13.5, 9.5], [np.nan, 3.0]]])
    vis = np.array([[2, 2, 2, 2, 0, 2]])
    hm, w = codec.encode(kps, vis)
    assert w.tolist() == [[1, 0, 0, 1, 0, 0]]
    assert hm[0, 0, 2, 0] == pytest.approx(math.exp(-0.125))  # half a pixel from column 0
    assert hm[0, 0, 2, 1] == pytest.approx(math.exp(-1.125))
    for k in (1, 2, 4, 5):
        assert not hm[0, k].any(), k
    assert hm[0, 3].max() == pytest.approx(math.exp(-(0.475**2) / 2))


def test_encode_single_instance_and_shape_errors():
    hm, w = CODEC.encode(np.zeros((17, 2)) + 50, np.ones(17))
    assert hm.shape == (17, 64, 48) and w.shape == (17,)
    with pytest.raises(InputShapeError, match="B×K×2"):
        CODEC.encode(np.zeros((2, 17, 3)), np.ones((2, 17)))
    with pytest.raises(InputShapeError, match="B×K×64×48"):
        CODEC.decode(np.zeros((1, 17, 32, 24)))
    with pytest.raises(ConfigError, match="integer multiple"):
        HeatmapCodec((256, 192), (60, 48), 2.0)


def test_argmax_quarter_offset_golden():
    hm = np.zeros((1, 3, 5, 6), np.float32)
    hm[0, 0, 2, 3], hm[0, 0, 2, 4], hm[0, 0, 1, 3] = 1.0, 0.5, 0.2  # right and up neighbours higher
    hm[0, 1, 0, 2], hm[0, 1, 0, 1] = 0.9, 0.1  # top row: left neighbour higher; no offset in y at the border
    hm[0, 2, 3, 2] = 0.7  # isolated: equal neighbours, no offset
    xy, s = decode_argmax(hm, quarter_offset=True)
    assert xy[0].tolist() == [[3.25, 1.75], [1.75, 0.0], [2.0, 3.0]]
    np.testing.assert_allclose(s[0], [1.0, 0.9, 0.7])


def test_dark_golden_on_a_rotated_anisotropic_gaussian():
    # log-quadratic with a cross term: DARK's Taylor step recovers the centre exactly (blurring keeps it Gaussian)
    y, x = np.mgrid[0:24, 0:20].astype(np.float64)
    cx, cy = 9.37, 11.81
    dx, dy = x - cx, y - cy
    hm = np.exp(-(1.0 * dx**2 + 0.6 * dx * dy + 0.7 * dy**2) / 8.0)[None, None]
    codec = HeatmapCodec((96, 80), (24, 20), sigma=2.0, use_dark=True)
    xy, s = codec.decode(hm)
    np.testing.assert_allclose(xy[0, 0], [cx, cy], atol=2e-3)
    assert s[0, 0] == pytest.approx(hm.max())


def test_seeded_round_trip_dark_and_argmax():
    rng = np.random.default_rng(1234)
    # sub-pixel keypoints anywhere inside the crop, at least 3 heatmap pixels from the border
    kp_hm = rng.uniform([3.0, 3.0], [48 - 4.0, 64 - 4.0], size=(64, 17, 2))
    kp = CODEC.heatmap_to_input(kp_hm)
    hm, w = CODEC.encode(kp, np.full((64, 17), 2))
    assert w.all()
    dark_xy, _ = CODEC.decode(hm)
    dark_err = np.linalg.norm(dark_xy - kp_hm, axis=-1)
    assert dark_err.mean() < 0.1 and dark_err.max() < 0.01  # measured: max 0.0004 px
    argmax_xy, _ = HeatmapCodec((256, 192), (64, 48), 2.0, use_dark=False).decode(hm)
    assert np.abs(argmax_xy - kp_hm).max() <= 0.25 + 1e-9
    assert np.abs(argmax_xy - kp_hm).mean() > 0.05  # it really is quantised


def test_dark_next_to_the_border_uses_the_unblurred_heatmap():
    # a blur would pull these peaks inwards (padding); one pixel from the edge DARK is still exact
    codec = HeatmapCodec((128, 96), (32, 24), sigma=1.5, use_dark=True)
    kp_hm = np.array([[[1.2, 15.3], [22.4, 1.1], [11.4, 30.4], [0.2, 0.1]]])  # maxima at 1, w-2, h-2 and 0
    hm, w = codec.encode(codec.heatmap_to_input(kp_hm), np.ones((1, 4)))
    xy, _ = codec.decode(hm)
    np.testing.assert_allclose(xy[0, :3], kp_hm[0, :3], atol=5e-3)
    # on the outermost ring there is no neighbour on one side: the quarter-offset estimate is kept
    assert np.abs(xy[0, 3] - kp_hm[0, 3]).max() <= 0.25


def test_gaussian_blur_keeps_the_maximum_and_checks_the_kernel():
    hm = np.zeros((1, 1, 9, 9))
    hm[0, 0, 4, 4] = 3.0
    out = gaussian_blur(hm, 5)
    assert out.max() == pytest.approx(3.0) and out[0, 0, 4, 4] == out.max() and out[0, 0, 4, 6] > 0
    with pytest.raises(ConfigError, match="odd"):
        gaussian_blur(hm, 4)


def _dark_by_definition(heatmaps: np.ndarray, kernel: int) -> np.ndarray:
    """DARK as its definition reads: log of the whole blurred (rescaled) map, or of the raw map near the border,
    then the Taylor step at the integer maximum. The reference for refine_dark's neighbourhood-only blur."""
    b, k, h, w = heatmaps.shape
    coords, _ = decode_argmax(heatmaps, quarter_offset=False)
    quarter, _ = decode_argmax(heatmaps, quarter_offset=True)
    blurred = np.log(np.maximum(gaussian_blur(heatmaps, kernel), 1e-10))
    raw = np.log(np.maximum(heatmaps.astype(np.float64), 1e-10))
    r = kernel // 2
    out = quarter.copy()
    for i, j in np.ndindex(b, k):
        x, y = (int(v) for v in coords[i, j])
        log = raw[i, j] if x < r + 1 or x > w - 2 - r or y < r + 1 or y > h - 2 - r else blurred[i, j]
        if not (1 <= x <= w - 2 and 1 <= y <= h - 2):
            continue
        g = np.array([0.5 * (log[y, x + 1] - log[y, x - 1]), 0.5 * (log[y + 1, x] - log[y - 1, x])])
        dxy = 0.25 * (log[y + 1, x + 1] - log[y - 1, x + 1] - log[y + 1, x - 1] + log[y - 1, x - 1])
        hess = np.array(
            [[log[y, x + 1] - 2 * log[y, x] + log[y, x - 1], dxy], [dxy, log[y + 1, x] - 2 * log[y, x] + log[y - 1, x]]]
        )
        det = np.linalg.det(hess)
        if det > 1e-12 and hess[0, 0] < 0:
            offset = -np.linalg.solve(hess, g)
            if np.abs(offset).max() <= 1:
                out[i, j] = [x + offset[0], y + offset[1]]
    return out


@pytest.mark.parametrize("noise", [0.0, 0.005, 0.05, 0.3])
def test_dark_blurs_only_the_neighbourhood_but_matches_its_definition(noise):
    """Clean, noisy, mostly-noise and negative maps (where DARK's rescale meets the log's floor) at both sizes."""
    rng = np.random.default_rng(int(noise * 1000))
    for codec in (CODEC, HeatmapCodec((128, 96), (32, 24), sigma=1.5)):
        h, w = codec.heatmap_size
        kp = codec.heatmap_to_input(rng.uniform(-2, [w + 1, h + 1], (6, 17, 2)))  # some outside: noise-only maps
        hm, _ = codec.encode(kp, np.ones((6, 17)))
        hm = (hm + rng.normal(0, noise, hm.shape)).astype(np.float32)
        hm[0] = -np.abs(hm[0])  # all-negative maps
        got, _ = codec.decode(hm)
        np.testing.assert_allclose(got, _dark_by_definition(hm, 2 * round(2.5 * codec.sigma) + 1), atol=1e-9)
