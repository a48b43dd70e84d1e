"""The bundled person detector (swinpose/detection): torchvision's FCOS trained on synthetic figures, exported before
NMS in the ultralytics layout, so that the runtime's one decoder serves it.

References: torchvision's own FCOS post-processing (its score, threshold, box decoding and NMS; the NMS op by the
test-only shim) on images letterboxed and mapped back by Ultralytics' LetterBox and scale_boxes; pycocotools for the
box AP; the detector card's figures, recorded in the weights by swinpose-train-detector; TensorRT-RTX's builder.
"""

from __future__ import annotations

import contextlib
import io
import json
import re

import cv2
import numpy as np
import pytest
from ultralytics_ref import ultralytics

from export.detector import DetectorExportOptions, export_detector
from runtime.cli import main as infer_main
from runtime.detection import Detector, read_detector_package
from runtime.errors import CheckpointError
from swinpose.cli.evaluate import main as eval_main
from swinpose.detection.weights import BUNDLED_DETECTOR, load_detector
from swinpose.evaluation import EVAL_BOX_SCORE_THR, coco_bbox_eval, coco_keypoint_eval, person_detections

CARD = load_detector(BUNDLED_DETECTOR)[2]["evaluation"]


def _nms(boxes, scores, iou):
    """Plain greedy NMS for torchvision's missing op (the reference's own NMS is torchvision's batched_nms)."""
    import torch

    order, keep = scores.argsort(descending=True), []
    while len(order):
        i, order = order[0], order[1:]
        keep.append(int(i))
        if len(order):
            x1 = torch.maximum(boxes[i, 0], boxes[order, 0])
            y1 = torch.maximum(boxes[i, 1], boxes[order, 1])
            x2 = torch.minimum(boxes[i, 2], boxes[order, 2])
            y2 = torch.minimum(boxes[i, 3], boxes[order, 3])
            inter = (x2 - x1).clamp(min=0) * (y2 - y1).clamp(min=0)
            area = lambda b: (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])  # noqa: E731
            order = order[inter / (area(boxes[i]) + area(boxes[order]) - inter) <= iou]
    return torch.tensor(keep, dtype=torch.int64)


def _torchvision_boxes(image: np.ndarray, score_thr: float, iou: float) -> tuple[np.ndarray, np.ndarray]:
    """The trained FCOS's own eval-mode output on ``image``, letterboxed and mapped back by Ultralytics."""
    import torch
    from torchvision_shim import provide_nms

    ultralytics()
    from ultralytics.data.augment import LetterBox
    from ultralytics.utils.ops import scale_boxes

    provide_nms(_nms)
    model, cfg, _ = load_detector("bundled")
    model.score_thresh, model.nms_thresh, model.detections_per_img = score_thr, iou, 100
    canvas = LetterBox(cfg.input_size, auto=False, scale_fill=False, scaleup=True, center=True)(image=image)
    x = torch.from_numpy(np.ascontiguousarray(canvas[..., ::-1].transpose(2, 0, 1))).float() / 255
    with torch.no_grad():
        out = model([x])[0]
    boxes = scale_boxes(cfg.input_size, out["boxes"].clone(), image.shape[:2]).numpy()
    return boxes.astype(np.float64), out["scores"].numpy().astype(np.float64)


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    lt, rb = np.maximum(a[:, None, :2], b[None, :, :2]), np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(2)
    area = lambda x: (x[:, 2:] - x[:, :2]).prod(1)  # noqa: E731
    return inter / (area(a)[:, None] + area(b)[None, :] - inter)


def test_the_export_decodes_as_torchvisions_fcos_does(detector_package, card_val_root):
    """Our ONNX + ultralytics-layout decoder + NMS + un-letterbox against torchvision's FCOS post-processing, on val
    images and on odd sizes (scaled down and up). Boxes agree within 0.05 px and scores within 1e-4 (float32 ONNX
    Runtime against float32 PyTorch); a box within 0.002 of the threshold may fall on either side of it."""
    thr, iou = 0.3, 0.45
    files = sorted((card_val_root / "val").iterdir())[:6]
    images = [cv2.imread(str(f)) for f in files]
    images += [images[0][13:300, 7:401], cv2.resize(images[1], None, fx=1.7, fy=1.3)]
    compared = 0
    with Detector(detector_package, score_thr=thr, iou_thr=iou) as detector:
        assert detector.layout.name == "ultralytics" and detector.input_size == (256, 320)
        for image in images:
            ours = detector(image)
            ref_boxes, ref_scores = _torchvision_boxes(image, thr, iou)
            sure_ref = ref_scores > thr + 0.002
            sure_ours = ours.scores > thr + 0.002
            assert sure_ref.sum() == sure_ours.sum(), (ref_scores, ours.scores)
            if not sure_ref.any():
                continue
            overlap = _iou(ref_boxes[sure_ref], ours.boxes[sure_ours])
            match = overlap.argmax(1)
            assert len(set(match.tolist())) == len(match)
            assert np.abs(ref_boxes[sure_ref] - ours.boxes[sure_ours][match]).max() < 0.05
            assert np.abs(ref_scores[sure_ref] - ours.scores[sure_ours][match]).max() < 1e-4
            compared += int(sure_ref.sum())
    assert compared >= len(images)  # the trained detector finds people on these images


def test_the_bundled_detector_scores_its_card(detector_package, card_val_root):
    """Person bbox AP on the card's val split (200 images), through the package as the runtime opens it. The card was
    computed by the same path on float16 weights; another CPU's float32 rounding can move a box across the floor or an
    NMS tie, which moves AP by about 1e-4 each, so 0.002 is allowed."""
    ann = card_val_root / "annotations" / "person_keypoints_val.json"
    with Detector(detector_package, score_thr=EVAL_BOX_SCORE_THR) as detector:
        stats = coco_bbox_eval(ann, person_detections(detector, ann, card_val_root / "val", progress=False))
    assert abs(stats["AP"] - CARD["bbox"]["AP"]) < 0.002 and abs(stats["AP50"] - CARD["bbox"]["AP50"]) < 0.002
    assert stats["AP50"] > 0.9  # it finds the figures (the card gives the exact figure)


def test_the_bundled_detector_builds_an_fp16_rtx_engine(tmp_path):
    pytest.importorskip("tensorrt_rtx_bindings", reason="TensorRT-RTX is in the dev extra: pip install -e '.[dev]'")
    out = tmp_path / "det"
    export_detector(
        "bundled",
        out,
        DetectorExportOptions(
            precision="fp16",
            engine=True,
            trt_flavor="rtx",
            compute_capabilities=("sm86",),
            workspace_gb=1.0,
            progress=False,
        ),
    )
    spec = read_detector_package(out)
    assert spec.engine["precision"] == "fp16" and spec.engine["profile"]["max"] == [1, 3, 256, 320]
    assert spec.onnx["source"] == "bundled" and spec.layout == "ultralytics"
    convs = spec.engine["layers"]["gemm_layers"]
    assert set(convs) == {"float16"} and sum(convs.values()) >= 40


def test_pixels_to_poses_on_the_synthetic_val_split(
    bundled_packages, detector_package, card_val_root, tmp_path, capsys
):
    """The bundled pair, end to end, without boxes: swinpose-infer --detector (ONNX Runtime) and swinpose-eval
    --detector (PyTorch pose model, same detector) give the same keypoint AP with detected boxes (both flip-tested,
    rescored, OKS-NMS 0.9; float32 on both sides moves keypoints by about 1e-3 px), and swinpose-eval prints the
    three APs of the card."""
    ann = card_val_root / "annotations" / "person_keypoints_val.json"
    out = tmp_path / "poses"
    assert (
        infer_main(
            [
                "--package",
                str(bundled_packages["fp32"]),
                "--detector",
                str(detector_package),
                "--det-score-thr",
                str(EVAL_BOX_SCORE_THR),
                "--flip-test",
                str(card_val_root / "val"),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    results = json.loads((out / "results.json").read_text())
    pipeline_ap = coco_keypoint_eval(ann, results)["AP"]
    capsys.readouterr()
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        assert eval_main(["--weights", "bundled", "--data", str(card_val_root), "--detector", "bundled"]) == 0
    summary = stdout.getvalue().strip().splitlines()[-1]
    found = re.fullmatch(
        r"bbox AP ([\d.]+) \(AP50 [\d.]+\) \| keypoint AP, detected boxes ([\d.]+) \| keypoint AP, "
        r"ground-truth boxes ([\d.]+)",
        summary,
    )
    assert found, stdout.getvalue()
    box_ap, det_ap, gt_ap = (float(v) for v in found.groups())
    assert abs(pipeline_ap - det_ap) < 0.002, (pipeline_ap, summary)
    assert abs(box_ap - CARD["bbox"]["AP"]) < 0.002 and abs(det_ap - CARD["keypoints_detected"]["AP"]) < 0.005
    assert abs(gt_ap - CARD["keypoints_gt"]["AP"]) < 0.005


def test_detector_weights_errors(tmp_path, capsys):
    from swinpose.models.pose_io import BUNDLED_WEIGHTS

    with pytest.raises(CheckpointError, match="not a swinpose detector file"):
        load_detector(BUNDLED_WEIGHTS)
    with pytest.raises(CheckpointError, match="no detector weights at"):
        load_detector(tmp_path / "missing.safetensors")
    assert (
        infer_main(["--package", str(tmp_path), "--detector", "bundled", str(tmp_path), "--out", str(tmp_path / "o")])
        == 1
    )
    assert "swinpose-export --detector bundled --out det" in capsys.readouterr().err
