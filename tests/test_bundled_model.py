"""The bundled synthetic-data model: its card's AP reproduces, and the eval CLI and demo run it end to end."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import pytest

from swinpose.data.coco import find_split
from swinpose.evaluation import evaluate_weights
from swinpose.models.pose_io import BUNDLED_WEIGHTS, read_pose_file

COCO = Path(__file__).parent / "data" / "coco-val2017-sample"
XTCOCO = Path(__file__).parent / "data" / "xtcocoapi-examples"


@pytest.fixture(scope="module")
def card():
    _, cfg, meta = read_pose_file(BUNDLED_WEIGHTS)
    return cfg, json.loads(meta["evaluation"]), json.loads(meta["training"]), meta


def test_bundled_file_is_small_and_self_describing(card):
    cfg, evaluation, training, meta = card
    assert BUNDLED_WEIGHTS.stat().st_size < 8e6
    assert cfg["name"] == "swinpose_nano_128x96" and float(meta["sigma"]) == training["config"]["sigma"]
    text = (BUNDLED_WEIGHTS.parent / "MODEL_CARD.md").read_text()
    assert f"| AP | {evaluation['AP']:.4f} |" in text
    assert "synthetic figures, not real people" in text and "swinpose-train --config nano_synthetic" in text


def test_bundled_model_reproduces_its_card_ap(card, card_val_root):
    _, evaluation, _, _ = card
    ann, images = find_split(card_val_root, "val")
    run = evaluate_weights(BUNDLED_WEIGHTS, ann, images, device="cpu", progress=False)
    assert run.num_instances == evaluation["people"]
    assert abs(run.stats["AP"] - evaluation["AP"]) <= 0.02, (run.stats["AP"], evaluation["AP"])


def test_eval_cli_on_real_coco_images_with_gt_and_detector_boxes(tmp_path, capsys):
    from swinpose.cli.evaluate import main

    base = ["--weights", "bundled", "--ann", str(COCO / "test_coco.json"), "--images", str(COCO), "--device", "cpu"]
    assert main([*base, "--out", str(tmp_path / "gt.json")]) == 0
    out = capsys.readouterr().out
    assert "12 ground-truth boxes, flip test on" in out and "AP50" in out
    results = json.loads((tmp_path / "gt.json").read_text())
    assert len(results) == 12 and len(results[0]["keypoints"]) == 51 and results[0]["category_id"] == 1
    dets = COCO / "test_coco_det_AP_H_56.json"
    assert main([*base, "--detections", str(dets), "--det-score-thr", "0.3", "--out", str(tmp_path / "d.json")]) == 0
    assert "detector boxes from test_coco_det_AP_H_56.json" in capsys.readouterr().out
    kept = json.loads((tmp_path / "d.json").read_text())
    boxes = [d for d in json.loads(dets.read_text()) if d["score"] >= 0.3 and d["category_id"] == 1]
    assert 0 < len(kept) <= len(boxes)  # OKS-NMS may drop duplicates, never adds
    # wrong keypoint count and wrong arguments: one clear line, exit 1
    assert main(["--weights", "bundled", "--ann", str(XTCOCO / "example_crowdpose_val.json"), "--images", "."]) == 1
    assert "14 keypoints but the model predicts 17" in capsys.readouterr().err
    assert main(["--weights", "bundled"]) == 1
    assert "pass either --data ROOT or --ann FILE --images DIR" in capsys.readouterr().err
    assert main(["--weights", str(tmp_path / "none.safetensors"), "--data", str(tmp_path)]) == 1


def test_demo_draws_the_bundled_models_keypoints(tmp_path, capsys):
    from swinpose.cli.demo import main

    assert main(["--bundled", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "not real people" in out and "card AP" in out
    png = cv2.imread(str(tmp_path / "bundled_keypoints.png"))
    assert png is not None and png.shape[1] >= 640
    left, right = png[:, : png.shape[1] // 2], png[:, png.shape[1] // 2 :]
    assert (left != right).any()  # keypoints were drawn
