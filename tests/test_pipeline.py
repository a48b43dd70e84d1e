"""PosePipeline and swinpose-infer --detector: image in, people out.

The detector is a YOLOv5-layout file (tests/detector_graphs.py) that returns the ground-truth boxes of a synthetic
val image (and of a COCO sample photo for the CLI), with a near-duplicate box of one person that box NMS does not
catch; the pose model is the bundled package. The references: PoseEngine on the same boxes for the keypoints, MMPose's
instance-score formula written out here, OKS by its COCO definition for the duplicate.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from detector_graphs import yolov5_detector

from runtime.cli import main
from runtime.detection import PRESETS, Detector
from runtime.engine import PoseResult
from runtime.errors import ConfigError
from runtime.keypoints import COCO_SIGMAS
from runtime.pipeline import PosePipeline, suppress_duplicates

PHOTOS = Path(__file__).parent / "data" / "coco-val2017-sample"
SIZE = (320, 320)


def _gt_boxes(annotations: Path, file_name: str) -> tuple[np.ndarray, tuple[int, int]]:
    coco = json.loads(annotations.read_text())
    image = next(i for i in coco["images"] if i["file_name"] == file_name)
    xywh = np.array([a["bbox"] for a in coco["annotations"] if a["image_id"] == image["id"]], np.float64)
    return np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], 1), (image["height"], image["width"])


def _detector_for(boxes: np.ndarray, image_size: tuple[int, int], path: Path, duplicate: bool = True):
    """A detector file returning ``boxes`` (image pixels) scored 0.9, 0.85, ... and, with ``duplicate``, a copy of
    the first shifted 2 px scored 0.5; returns the file and the boxes and scores it gives, in image pixels."""
    scores = 0.9 - 0.05 * np.arange(len(boxes))
    if duplicate:
        boxes = np.concatenate([boxes, boxes[:1] + [2.0, 2.0, 2.0, 2.0]])
        scores = np.append(scores, 0.5)
    geometry, _ = PRESETS["ultralytics"].geometry(image_size, SIZE)
    return yolov5_detector(geometry.to_network(boxes), scores, SIZE, path), boxes, scores


@pytest.fixture(scope="module")
def scene(synthetic_root, tmp_path_factory):
    """A synthetic val image with the most people, its GT boxes, and a detector file that finds them."""
    annotations = synthetic_root / "annotations" / "person_keypoints_val.json"
    coco = json.loads(annotations.read_text())
    counts = {i["file_name"]: sum(a["image_id"] == i["id"] for a in coco["annotations"]) for i in coco["images"]}
    name = max(sorted(counts), key=counts.get)
    boxes, size = _gt_boxes(annotations, name)
    assert len(boxes) >= 2
    path, det_boxes, det_scores = _detector_for(boxes, size, tmp_path_factory.mktemp("det") / "v5.onnx")
    image = cv2.imread(str(synthetic_root / "val" / name))
    return {"image": image, "boxes": boxes, "detector": path, "det_boxes": det_boxes, "det_scores": det_scores}


def test_the_pipeline_poses_the_detected_people_once_each(bundled_packages, scene):
    """Box NMS keeps the shifted copy (IoU 0.99 allowed), OKS-NMS drops it; each person's keypoints are PoseEngine's
    on the detector's box, best instance score first, and the score is MMPose's."""
    options = {"iou_thr": 0.99}
    with PosePipeline(bundled_packages["fp32"], scene["detector"], detector_options=options) as pipeline:
        found = pipeline.detect([scene["image"]])[0]
        assert len(found) == len(scene["boxes"]) + 1  # the duplicate survives box NMS
        result = pipeline(scene["image"])
        on_boxes = pipeline.engine(scene["image"], found.with_scores())
    n = len(scene["boxes"])
    assert len(result) == n
    mask = on_boxes.scores > 0.2
    mmpose = on_boxes.box_scores * (on_boxes.scores * mask).sum(1) / mask.sum(1)  # box score × mean kpt score > 0.2
    duplicate = int(np.argmin(np.abs(found.scores - 0.5)))
    first = int(np.argmax(found.scores))
    d2 = ((on_boxes.keypoints[duplicate] - on_boxes.keypoints[first]) ** 2).sum(1)
    area = np.prod(found.boxes[first, 2:] - found.boxes[first, :2])
    oks = np.exp(-d2 / (2 * area * (2 * COCO_SIGMAS) ** 2)).mean()
    assert oks > 0.9  # why it goes, by COCO's definition
    kept = [i for i in np.argsort(-mmpose, kind="stable") if i != duplicate]
    assert np.array_equal(result.keypoints, on_boxes.keypoints[kept])
    assert np.array_equal(result.boxes, on_boxes.boxes[kept])
    assert [r["score"] for r in result.to_coco(1)] == pytest.approx(mmpose[kept], abs=1e-12)


def test_every_crop_of_every_frame_shares_one_run_within_the_batch_range(bundled_packages, scene):
    with PosePipeline(bundled_packages["fp32"], scene["detector"], detector_options={"iou_thr": 0.99}) as pipeline:
        calls: list[int] = []
        infer = pipeline.engine.backend.infer
        pipeline.engine.backend.infer = lambda feeds: calls.append(len(next(iter(feeds.values())))) or infer(feeds)
        results = pipeline.infer_batch([scene["image"], scene["image"][:, ::-1]])
    per_frame = len(scene["det_boxes"])
    assert calls == [2 * per_frame]  # the package's batch range is 1..32: one run for both frames' crops
    assert [len(r) for r in results] == [len(scene["boxes"])] * 2


def test_suppress_duplicates_by_hand():
    """Two poses 1 px apart on 100×200 boxes (OKS ≈ 0.99) and one far off: of the pair, the better instance score
    stays although its box score is the lower, the far one stays, best first."""
    k = 17
    base = np.stack([np.linspace(10, 90, k), np.linspace(10, 190, k)], 1)
    keypoints = np.stack([base, base + 1.0, base + 500.0])
    scores = np.stack([np.full(k, 0.9), np.r_[np.full(9, 0.8), np.full(8, 0.1)], np.full(k, 0.5)])
    boxes = np.array([[0, 0, 100, 200], [1, 1, 101, 201], [500, 500, 600, 700]], np.float64)
    result = PoseResult(keypoints, scores, boxes, np.array([0.95, 0.8, 0.9]))
    # instance scores: 0.95 × 0.9 = 0.855; 0.8 × 0.8 = 0.64 (the 0.1s do not count); 0.9 × 0.5 = 0.45
    kept = suppress_duplicates(result)
    assert np.array_equal(kept.box_scores, [0.95, 0.9])
    assert np.array_equal(kept.keypoints, keypoints[[0, 2]])
    swapped = PoseResult(keypoints, scores[[1, 0, 2]], boxes, np.array([0.95, 0.8, 0.9]))
    # 0.95 × 0.8 = 0.76 against 0.8 × 0.9 = 0.72: the first still wins; with box scores 0.7 and 0.8 the second does
    assert np.array_equal(suppress_duplicates(swapped).keypoints, keypoints[[0, 2]])
    lower = PoseResult(keypoints, scores[[1, 0, 2]], boxes, np.array([0.7, 0.8, 0.9]))
    # 0.7 × 0.8 = 0.56 against 0.8 × 0.9 = 0.72 and 0.45: the second pose, then the far one
    assert np.array_equal(suppress_duplicates(lower).keypoints, keypoints[[1, 2]])
    assert len(suppress_duplicates(result, oks_thr=None)) == 3
    empty = PoseResult(np.zeros((0, k, 2)), np.zeros((0, k)), np.zeros((0, 4)), np.zeros(0))
    assert len(suppress_duplicates(empty)) == 0


def test_an_image_with_no_people_is_an_empty_result(bundled_packages, tmp_path):
    path = yolov5_detector(np.zeros((0, 4)), np.zeros(0), SIZE, tmp_path / "nobody.onnx")
    with PosePipeline(bundled_packages["fp32"], path) as pipeline:
        result = pipeline(np.zeros((240, 320, 3), np.uint8))
    assert len(result) == 0 and result.keypoints.shape == (0, 17, 2) and result.to_coco(1) == []


def test_bad_settings_are_refused_and_what_was_opened_is_closed(bundled_packages, scene):
    for bad in ({"oks_thr": 1.5}, {"keypoint_thr": -1}):
        with pytest.raises(ConfigError, match=next(iter(bad))):
            PosePipeline(bundled_packages["fp32"], scene["detector"], **bad)
    detector = Detector(scene["detector"])
    with pytest.raises(ConfigError, match="unknown backend 'nope'"):
        PosePipeline(bundled_packages["fp32"], detector, backend="nope")
    assert detector.backend._closed  # the pipeline owned it once given


# --- swinpose-infer --detector ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def photo_detector(tmp_path_factory):
    """A detector file that finds the five people of the COCO sample photo 197388 (its GT boxes)."""
    boxes, size = _gt_boxes(PHOTOS / "test_coco.json", "000000197388.jpg")
    path, _, _ = _detector_for(boxes, size, tmp_path_factory.mktemp("photo") / "people.onnx", duplicate=False)
    return path, len(boxes)


def test_infer_finds_the_people_of_a_photo_without_boxes(bundled_packages, photo_detector, tmp_path, capsys):
    path, people = photo_detector
    photo = PHOTOS / "000000197388.jpg"
    argv = ["--package", str(bundled_packages["fp32"]), str(photo), "--detector", str(path), "--out", str(tmp_path)]
    assert main(argv) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    assert len(results) == people and f"{people} people in" in capsys.readouterr().out
    with PosePipeline(bundled_packages["fp32"], path) as pipeline:
        expected = pipeline(cv2.imread(str(photo))).to_coco(197388)
    assert [r["keypoints"] for r in results] == [e["keypoints"] for e in expected]
    drawn = cv2.imread(str(tmp_path / "000000197388.jpg"))
    assert np.abs(drawn.astype(int) - cv2.imread(str(photo))).max() > 100  # boxes and skeletons drawn


def test_infer_boxes_win_over_the_detector(bundled_packages, photo_detector, tmp_path, caplog):
    path, people = photo_detector
    boxes = PHOTOS / "test_coco.json"
    argv = ["--package", str(bundled_packages["fp32"]), str(PHOTOS), "--detector", str(path), "--boxes", str(boxes)]
    assert main(argv + ["--out", str(tmp_path)]) == 0
    assert "--boxes gives the people, so the detector" in caplog.text
    assert len(json.loads((tmp_path / "results.json").read_text())) == 14  # the GT boxes of all four photos


def test_infer_with_a_bad_detector_says_what_to_do(bundled_packages, tmp_path, capsys):
    argv = ["--package", str(bundled_packages["fp32"]), str(PHOTOS / "000000197388.jpg"), "--out", str(tmp_path)]
    assert main(argv + ["--detector", str(tmp_path / "missing.onnx")]) != 0
    assert "no detector file at" in capsys.readouterr().err
    assert main(argv + ["--detector", str(PHOTOS / "test_coco.json")]) != 0
    assert "a detector file ends in .onnx (onnxruntime)" in capsys.readouterr().err
