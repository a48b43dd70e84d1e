"""Property-based checks (hypothesis) of PoseEngine's input handling: any box and any image either work, with
keypoints where they can be, or raise one of our typed errors, never anything else and never NaN. Each test says
beforehand, independently of the code under test, whether an input must be refused and why, and checks that the
refusal is that one: a test that accepted any refusal would pass if every input were refused."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from runtime import PoseEngine
from runtime.engine import prepare_boxes, prepare_image
from runtime.errors import InputError, InputShapeError
from runtime.transforms import box_to_center_scale

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
coordinate = st.floats(min_value=-500, max_value=1500) | st.sampled_from([np.nan, np.inf, -np.inf])


@pytest.fixture(scope="module")
def engine(bundled_packages):
    with PoseEngine(bundled_packages["fp32"]) as e:
        yield e


@SETTINGS
@given(
    boxes=arrays(np.float64, st.tuples(st.integers(0, 6), st.sampled_from([4, 5])), elements=coordinate),
    h=st.integers(1, 600),
    w=st.integers(1, 600),
)
def test_boxes_are_clipped_inside_the_image_or_refused(boxes, h, w):
    finite = np.isfinite(boxes).all(1)
    x1, y1 = np.maximum(boxes[:, 0], 0), np.maximum(boxes[:, 1], 0)
    x2, y2 = np.minimum(boxes[:, 2], w), np.minimum(boxes[:, 3], h)
    with np.errstate(invalid="ignore"):
        area = finite & (x2 > x1) & (y2 > y1)
    try:
        xyxy, scores = prepare_boxes(boxes, (h, w, 3))
    except InputError as e:
        first = int(np.nonzero(~finite)[0][0]) if not finite.all() else int(np.nonzero(~area)[0][0])
        reason = "has NaN/inf values" if not finite.all() else "has no area inside"
        assert f"box {first} " in str(e) and reason in str(e), (str(e), boxes)
        return
    assert area.all(), f"a box without area inside the {w}x{h} image was accepted: {boxes}"
    assert np.isfinite(xyxy).all() and len(xyxy) == len(scores) == len(boxes)
    assert (xyxy[:, :2] >= 0).all() and (xyxy[:, 2] <= w).all() and (xyxy[:, 3] <= h).all()
    assert (xyxy[:, 2] > xyxy[:, 0]).all() and (xyxy[:, 3] > xyxy[:, 1]).all()


@SETTINGS
@given(
    image=arrays(
        st.sampled_from([np.uint8, np.uint16, np.float32, np.int8]),
        st.lists(st.integers(0, 5), min_size=1, max_size=4).map(tuple),
    )
)
def test_images_become_bgr_uint8_or_are_refused(image):
    usable_shape = image.ndim == 2 or (image.ndim == 3 and image.shape[2] in (3, 4))
    if image.size == 0:
        why = "is empty"
    elif image.dtype not in (np.uint8, np.uint16):
        why = "must be uint8"
    elif not usable_shape:
        why = "expected an H×W×3 BGR image"
    else:
        why = None
    try:
        out = prepare_image(image)
    except InputShapeError as e:
        assert why is not None and why in str(e), (str(e), image.dtype, image.shape)
        return
    assert why is None, f"a {image.dtype} {image.shape} image was accepted, but it {why}"
    assert out.dtype == np.uint8 and out.ndim == 3 and out.shape[2] == 3 and out.shape[:2] == image.shape[:2]


@SETTINGS
@given(
    seed=st.integers(0, 2**16),
    x=st.floats(-50, 250),
    y=st.floats(-50, 250),
    bw=st.floats(0.5, 300),
    bh=st.floats(0.5, 300),
)
def test_keypoints_stay_inside_their_crop_window(engine, seed, x, y, bw, bh):
    image = np.random.default_rng(seed).integers(0, 256, (180, 240, 3), dtype=np.uint8)
    inside = min(x + bw, 240) > max(x, 0) and min(y + bh, 180) > max(y, 0)
    try:
        result = engine(image, np.array([[x, y, x + bw, y + bh]]))
    except InputError as e:  # only boxes with no area inside the image are refused
        assert not inside and "no area" in str(e), str(e)
        return
    assert inside, "a box outside the image was accepted"
    assert np.isfinite(result.keypoints).all() and np.isfinite(result.scores).all()
    bx0, by0, bx1, by1 = result.boxes[0]
    h, w = engine.spec.input_size
    center, scale = box_to_center_scale(np.array([bx0, by0, bx1 - bx0, by1 - by0]), w / h, engine.padding)
    half = scale / 2 + 1.0  # the crop window, with a pixel's slack for sub-pixel refinement at its edge
    assert (np.abs(result.keypoints - center) <= half).all()
