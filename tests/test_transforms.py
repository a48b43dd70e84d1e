"""Affine crops: golden boxes, exact inverses, agreement with OpenCV's warp, and flips."""

from __future__ import annotations

import numpy as np
import pytest

from runtime.errors import ConfigError, InputError, InputShapeError
from runtime.keypoints import COCO_FLIP_PAIRS, KeypointSpec, flip_index
from runtime.transforms import (
    Preprocess,
    apply_affine,
    box_to_center_scale,
    flip_heatmaps,
    flip_keypoints,
    get_warp_matrix,
    invert_affine,
    warp_crop,
)


def test_box_to_center_scale_golden():
    # a 50x100 box: too narrow for 3:4, so its width grows to 75; then 1.25 padding
    c, s = box_to_center_scale(np.array([10.0, 20.0, 50.0, 100.0]), aspect_ratio=0.75, padding=1.25)
    assert c.tolist() == [35.0, 70.0] and s.tolist() == [93.75, 125.0]
    # a wide box keeps its width and grows in height
    c, s = box_to_center_scale(np.array([[0.0, 0.0, 90.0, 60.0]]), aspect_ratio=0.75, padding=1.0)
    assert c.tolist() == [[45.0, 30.0]] and s.tolist() == [[90.0, 120.0]]
    with pytest.raises(InputShapeError, match="N×4"):
        box_to_center_scale(np.zeros((2, 3)), 0.75, 1.25)


def test_warp_matrix_golden_without_rotation():
    m = get_warp_matrix(np.array([35.0, 70.0]), np.array([96.0, 128.0]), (48, 64))
    # half-size crop: the centre goes to the crop centre, the window's edges to the crop's pixel edges
    np.testing.assert_allclose(apply_affine(np.array([[35.0, 70.0]]), m), [[23.5, 31.5]])
    np.testing.assert_allclose(apply_affine(np.array([[35 - 48.0, 70 - 64.0]]), m), [[-0.5, -0.5]])
    np.testing.assert_allclose(m[:, :2], [[0.5, 0.0], [0.0, 0.5]])


def test_rotation_is_counter_clockwise_on_screen():
    m = get_warp_matrix(np.zeros(2), np.array([10.0, 10.0]), (11, 11), rotation=90)
    # a point to the right of the centre ends up above it (smaller y) in the crop
    np.testing.assert_allclose(apply_affine(np.array([[1.0, 0.0]]), m), [[5.0, 3.9]], atol=1e-12)


def test_image_to_crop_and_back_round_trip():
    rng = np.random.default_rng(7)
    centers = rng.uniform(0, 640, (20, 2))
    scales = rng.uniform(20, 400, (20, 2))
    m = get_warp_matrix(centers, scales, (192, 256), rng.uniform(-180, 180, 20), rng.uniform(-0.3, 0.3, (20, 2)))
    pts = rng.uniform(-100, 700, (20, 17, 2))
    back = apply_affine(apply_affine(pts, m), invert_affine(m))
    assert np.abs(back - pts).max() < 1e-6
    # batched and single matrices agree
    np.testing.assert_allclose(apply_affine(pts[3], m[3]), apply_affine(pts, m)[3], atol=1e-9)


def test_warp_crop_puts_pixels_where_apply_affine_says():
    image = np.zeros((300, 400, 3), np.uint8)
    image[150, 100] = 255
    m = get_warp_matrix(np.array([120.0, 140.0]), np.array([45.0, 60.0]), (192, 256), rotation=20)
    crop = warp_crop(image, m, (192, 256))
    peak = np.unravel_index(crop[..., 0].argmax(), crop.shape[:2])[::-1]
    np.testing.assert_allclose(peak, apply_affine(np.array([100.0, 150.0]), m), atol=0.6)
    with pytest.raises(InputError, match="scale must be positive"):
        get_warp_matrix(np.zeros(2), np.array([0.0, 10.0]), (4, 4))


def test_flip_keypoints_matches_flipping_the_crop():
    rng = np.random.default_rng(3)
    image = rng.integers(0, 255, (120, 90, 3), np.uint8)
    kp = rng.uniform(0, 89, (17, 2))
    perm = flip_index(17)
    fk, fv = flip_keypoints(kp, np.arange(17), 90, perm)
    flipped = image[:, ::-1]
    # pixel under keypoint k in the original is the pixel under its flipped twin in the mirrored image
    for k in range(17):
        x, y = np.round(kp[k]).astype(int)
        fx, fy = np.round(fk[perm[k]]).astype(int)
        assert (image[y, x] == flipped[fy, fx]).all()
    assert fv.tolist() == perm.tolist()
    assert perm[1] == 2 and perm[16] == 15 and perm[0] == 0 and len(COCO_FLIP_PAIRS) == 8


def test_flip_heatmaps_is_an_involution_and_swaps_sides():
    hm = np.random.default_rng(0).random((2, 17, 8, 6)).astype(np.float32)
    perm = flip_index(17)
    once = flip_heatmaps(hm, perm)
    np.testing.assert_array_equal(once[:, 5], hm[:, 6, :, ::-1])
    np.testing.assert_array_equal(flip_heatmaps(once, perm), hm)


def _preprocess(**changes) -> Preprocess:
    fields = dict(
        input_size=(8, 6),
        color_order="RGB",
        mean=(10.0, 20.0, 30.0),
        std=(2.0, 4.0, 5.0),
        pixel_scale=255.0,
        box_padding=1.25,
    )
    return Preprocess(**{**fields, **changes})


def test_preprocess_normalises_by_hand():
    crop = np.zeros((1, 8, 6, 3), np.uint8)
    crop[..., 0], crop[..., 1], crop[..., 2] = 50, 100, 200  # B, G, R as OpenCV reads them
    x = _preprocess().normalize(crop)
    assert x.shape == (1, 3, 8, 6) and x.dtype == np.float32
    # RGB order: R=200 first: (200-10)/2, (100-20)/4, (50-30)/5
    assert x[0, :, 0, 0].tolist() == [95.0, 20.0, 4.0]
    bgr = _preprocess(color_order="BGR").normalize(crop)
    assert bgr[0, :, 0, 0].tolist() == [20.0, 20.0, 34.0]  # (50-10)/2, (100-20)/4, (200-30)/5
    # the same statistics on the 0..1 scale (torchvision style) give the same tensor
    unit = _preprocess(mean=(10 / 255, 20 / 255, 30 / 255), std=(2 / 255, 4 / 255, 5 / 255), pixel_scale=1.0)
    np.testing.assert_allclose(unit.normalize(crop), x, rtol=1e-6)


def test_preprocess_crops_with_its_padding():
    image = np.zeros((100, 100, 3), np.uint8)
    box = np.array([[10.0, 20.0, 30.0, 40.0]])  # 30×40 is already 6:8, so only the padding scales it
    for padding in (1.0, 1.25, 1.5):
        _, m = _preprocess(box_padding=padding).crop(image, box)
        center, scale = box_to_center_scale(box, 6 / 8, padding)
        np.testing.assert_allclose(m, get_warp_matrix(center, scale, (6, 8)).reshape(-1, 2, 3))
        np.testing.assert_allclose(m[0, 0, 0], 6 / (30 * padding))


@pytest.mark.parametrize(
    "changes, field",
    [
        (dict(std=(0.0, 1.0, 1.0)), "std must be positive"),
        (dict(std=(58.0,)), "std must be 3 numbers"),
        (dict(mean=("a", "b", "c")), "mean must be 3 finite numbers"),
        (dict(mean=(float("nan"), 1.0, 1.0)), "mean must be 3 finite numbers"),
        (dict(box_padding=float("nan")), "box_padding must be a positive number, got nan"),
        (dict(box_padding=0.0), "box_padding must be a positive number"),
        (dict(color_order="XYZ"), "color_order must be one of"),
        (dict(pixel_scale=-1.0), "pixel_scale must be a positive number"),
        (dict(input_size=(8,)), "input_size must be two positive integers"),
        (dict(aspect="stretch"), "aspect must be one of"),
    ],
)
def test_preprocess_refuses_what_would_give_nan_or_wrong_crops(changes, field):
    with pytest.raises(ConfigError, match=field):
        _preprocess(**changes)


def test_preprocess_round_trips_and_names_bad_fields():
    pre = _preprocess()
    assert Preprocess.from_dict(pre.to_dict()) == pre
    with pytest.raises(ConfigError, match=r"lacks \['box_padding'\]"):
        Preprocess.from_dict({k: v for k, v in pre.to_dict().items() if k != "box_padding"})
    with pytest.raises(ConfigError, match="unknown fields"):
        Preprocess.from_dict({**pre.to_dict(), "padding": 1.2})


def test_keypoint_spec_validates_against_its_own_count():
    coco = KeypointSpec.coco()
    assert coco.num_keypoints == 17 and KeypointSpec.from_dict(coco.to_dict()) == coco
    assert coco.flip_perm().tolist() == flip_index(17, COCO_FLIP_PAIRS).tolist()
    with pytest.raises(ConfigError, match="flip_pairs entry"):
        KeypointSpec(coco.names, (), ((1,),), ())
    with pytest.raises(ConfigError, match="skeleton entry"):
        KeypointSpec(coco.names, ((0, 17),), (), ())
    with pytest.raises(ConfigError, match="oks_sigmas must be 17"):
        KeypointSpec(coco.names, (), (), (0.1,) * 16)
    with pytest.raises(ConfigError, match="each in one pair"):
        KeypointSpec(coco.names, (), ((1, 2), (2, 3)), ())
    with pytest.raises(ConfigError, match="no OKS sigmas"):
        KeypointSpec.generic(5).sigmas()
