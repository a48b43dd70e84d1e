"""runtime.PoseEngine against the PyTorch model run through the same pipeline, and its handling of bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from runtime import PoseEngine
from runtime.errors import BackendError, ConfigError, InputError, InputShapeError, PackageError
from swinpose.data.coco import CocoKeypoints, load_coco_instances
from swinpose.evaluation import predict
from swinpose.models.pose_io import BUNDLED_WEIGHTS, load_pose_file

PHOTOS = Path(__file__).parent / "data" / "coco-val2017-sample"


@pytest.fixture(scope="module")
def engine(bundled_packages):
    with PoseEngine(bundled_packages["fp32"]) as e:
        yield e


def _xyxy(bbox) -> list[float]:
    x, y, w, h = bbox
    return [x, y, x + w, y + h]


def _compare_with_pytorch(engine, ann: Path, images: Path, flip: bool) -> float:
    """Max |Δ| in image pixels between PoseEngine (ONNX Runtime) and swinpose.evaluation.predict (PyTorch) on the
    GT boxes of a COCO file."""
    model, _ = load_pose_file(BUNDLED_WEIGHTS)
    instances, _ = load_coco_instances(ann, images)
    dataset = CocoKeypoints(instances, engine.spec.inference)
    reference = predict(model, dataset, engine.codec, flip_test=flip, progress=False)
    worst, was = 0.0, engine.flip_test
    engine.flip_test = flip
    try:  # the engine is shared by the module's tests: its setting is put back whatever happens
        for image_id in sorted({i.image_id for i in instances}):
            idx = [j for j, inst in enumerate(instances) if inst.image_id == image_id]
            image = cv2.imread(str(instances[idx[0]].file))
            result = engine(image, np.array([_xyxy(instances[j].bbox) for j in idx]))
            worst = max(worst, float(np.abs(result.keypoints - reference.keypoints[idx]).max()))
            assert np.allclose(result.scores, reference.scores[idx], atol=1e-4)
    finally:
        engine.flip_test = was
    return worst


@pytest.mark.parametrize("flip", [False, True], ids=["plain", "flip-test"])
def test_engine_matches_pytorch_on_real_coco_photos(engine, flip):
    assert _compare_with_pytorch(engine, PHOTOS / "test_coco.json", PHOTOS, flip) <= 0.01


def test_engine_matches_pytorch_on_synthetic_val(engine, synthetic_root):
    ann = synthetic_root / "annotations" / "person_keypoints_val.json"
    assert _compare_with_pytorch(engine, ann, synthetic_root / "val", flip=True) <= 0.01


def test_engine_takes_a_model_file_and_splits_large_box_sets(engine, bundled_packages):
    image = cv2.imread(str(PHOTOS / "000000196141.jpg"))
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 300, (40, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(40, 300, (40, 2))], 1)  # 40 boxes > the package's batch max of 32
    together = engine(image, boxes)
    one_by_one = np.concatenate([engine(image, b[None]).keypoints for b in boxes])
    assert np.allclose(together.keypoints, one_by_one, atol=1e-6)
    with PoseEngine(bundled_packages["fp32"] / "model.onnx", backend="onnxruntime") as by_file:
        assert np.array_equal(by_file(image, boxes[:3]).keypoints, together.keypoints[:3])
    frames = engine.infer_batch([image, image[:, ::-1]], [boxes[:2], None])
    assert [len(r) for r in frames] == [2, 1]
    assert np.allclose(frames[0].keypoints, together.keypoints[:2], atol=1e-6)


def test_results_convert_to_coco_json(engine):
    image = cv2.imread(str(PHOTOS / "000000000785.jpg"))
    result = engine(image, np.array([[280.79, 44.73, 499.49, 391.41, 0.9]]))
    (entry,) = result.to_coco(785)
    assert entry["image_id"] == 785 and entry["category_id"] == 1 and len(entry["keypoints"]) == 51
    assert 0 < entry["score"] <= 0.9
    json.dumps(entry)


def test_accepted_image_variants_give_the_bgr_result(engine):
    bgr = cv2.imread(str(PHOTOS / "000000040083.jpg"))
    box = np.array([[38.08, 110.95, 212.79, 285.66]])
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    ref_gray = engine(cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR), box).keypoints
    assert np.array_equal(engine(gray, box).keypoints, ref_gray)
    bgra = cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA)
    reference = engine(bgr, box).keypoints
    assert np.array_equal(engine(bgra, box).keypoints, reference)
    assert np.array_equal(engine(bgr.astype(np.uint16) * 257, box).keypoints, reference)  # 16-bit: >> 8
    wide = np.zeros((bgr.shape[0], bgr.shape[1] * 2, 3), np.uint8)
    wide[:, ::2] = bgr
    assert np.array_equal(engine(wide[:, ::2], box).keypoints, reference)  # a non-contiguous view


@pytest.mark.parametrize(
    "image, boxes, error, message",
    [
        (np.zeros((0, 0, 3), np.uint8), None, InputShapeError, "empty"),
        (np.zeros((64, 64, 3), np.float32), None, InputShapeError, "uint8"),
        (np.zeros((64, 64, 2), np.uint8), None, InputShapeError, "H×W×3"),
        (np.zeros((64, 64, 3), np.uint8), [[0, 0, np.nan, 10]], InputError, "NaN/inf"),
        (np.zeros((64, 64, 3), np.uint8), [[10, 10, 10, 30]], InputError, "no area"),
        (np.zeros((64, 64, 3), np.uint8), [[30, 10, 20, 40]], InputError, "x2 > x1"),
        (np.zeros((64, 64, 3), np.uint8), [[100, 100, 200, 200]], InputError, "no area inside the 64×64 image"),
        (np.zeros((64, 64, 3), np.uint8), [[0, 0, 10]], InputShapeError, "N×4 xyxy"),
    ],
)
def test_bad_input_raises_a_typed_error_with_the_fix(engine, image, boxes, error, message):
    with pytest.raises(error, match=message):
        engine(image, boxes)


def test_partly_outside_boxes_are_clipped_and_no_boxes_give_no_poses(engine):
    image = np.full((100, 80, 3), 128, np.uint8)
    result = engine(image, np.array([[-20, -10, 50, 200]]))
    assert result.boxes.tolist() == [[0, 0, 50, 100]]
    assert len(engine(image, np.zeros((0, 4)))) == 0


def _edit_json(folder: Path, edit) -> None:
    meta = json.loads((folder / "model.json").read_text())
    edit(meta)
    (folder / "model.json").write_text(json.dumps(meta))


def _truncate_onnx(folder: Path) -> None:
    data = (folder / "model.onnx").read_bytes()
    (folder / "model.onnx").write_bytes(data[: len(data) // 3])


def _no_checksums(meta: dict) -> None:  # a package from before checksums: ONNX Runtime finds the damage
    del meta["onnx"]["bytes"], meta["onnx"]["sha256"]


#: (what is broken, how, the error, what it must say): each on its own copy of the fp32 package
PACKAGE_PROBLEMS = [
    (
        "json-disagrees-with-itself",
        lambda f: _edit_json(f, lambda m: m["output"].update(shape=[-1, 17, 64, 48])),
        PackageError,
        r"output.shape \[-1, 17, 64, 48\] disagree with .* codec.heatmap_size",
    ),
    (
        "json-disagrees-with-the-graph",
        lambda f: _edit_json(
            f, lambda m: (m["output"].update(shape=[-1, 17, 64, 48]), m["codec"].update(heatmap_size=[64, 48]))
        ),
        PackageError,
        "different exports",
    ),
    ("truncated-graph", _truncate_onnx, PackageError, r"model.onnx is \d+ bytes, and .* recorded \d+: .* truncated"),
    (
        "truncated-graph-without-checksums",
        lambda f: (_truncate_onnx(f), _edit_json(f, _no_checksums)),
        BackendError,
        "truncated or not an ONNX model",
    ),
]


@pytest.mark.parametrize("problem, breaks, error, message", PACKAGE_PROBLEMS, ids=[p[0] for p in PACKAGE_PROBLEMS])
def test_package_problems_are_refused(bundled_packages, tmp_path, problem, breaks, error, message):
    broken = tmp_path / "pk"
    shutil.copytree(bundled_packages["fp32"], broken)
    breaks(broken)
    with pytest.raises(error, match=message):
        PoseEngine(broken)


def test_a_cuda_device_without_cuda_is_refused(bundled_packages):
    with pytest.raises(BackendError, match="use device='cpu'"):
        PoseEngine(bundled_packages["fp32"], device="cuda:0")


def test_onnxruntime_io_binding_gives_the_same_results_and_reuses_its_buffers(engine, bundled_packages):
    """IO binding (the default on CUDA) on the CPU: the same keypoints as session.run, one binding per batch size,
    and results that later calls do not overwrite."""
    image = cv2.imread(str(PHOTOS / "000000196141.jpg"))
    boxes = np.array([[10, 20, 200, 400], [150, 30, 420, 380], [0, 0, 300, 300]], np.float64)
    with PoseEngine(bundled_packages["fp32"], backend_options={"io_binding": True}, flip_test=True) as bound:
        assert bound.backend.io_binding and not engine.backend.io_binding
        first = bound(image, boxes)
        again = bound(image, boxes[:1])
        assert np.array_equal(bound(image, boxes).keypoints, first.keypoints)
        assert sorted(k[0][0] for k in bound.backend._bound) == [1, 3]  # one binding per batch size, reused
    engine.flip_test = True
    try:
        plain = engine(image, boxes)
    finally:
        engine.flip_test = False
    assert np.array_equal(first.keypoints, plain.keypoints) and np.array_equal(first.scores, plain.scores)
    assert np.array_equal(again.keypoints, plain.keypoints[:1])
    with pytest.raises(ConfigError, match="its options are"):
        PoseEngine(bundled_packages["fp32"], backend_options={"cuda_graph": True})


@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
def test_packages_keep_pytorch_ap_within_the_parity_thresholds(card_parity, precision):
    """PoseEngine (ONNX Runtime) on each package against the PyTorch model, on the bundled model card's 409 val
    persons with GT boxes and flip test (swinpose-bench parity): |ΔAP| within the parity thresholds (fp32 0, fp16
    0.1, int8 0.5 AP points), agreement AP (OKS against PyTorch's own keypoints) near 100 and, for fp32, 0.01 px."""
    from export.parity import AP_THRESHOLDS

    assert card_parity["data"]["instances"] == 409
    (row,) = [r for r in card_parity["rows"] if r["precision"] == precision]
    assert row["status"] == "ok" and row["threshold"] == AP_THRESHOLDS[precision]
    assert row["passed"], row
    assert row["agreement_ap"] >= {"fp32": 100.0, "fp16": 99.9, "int8": 99.0}[precision]
    if precision == "fp32":
        assert row["delta_ap"] == 0.0 and row["shift"]["max_px"] <= 0.01 and row["max_heatmap_error"] <= 1e-4
