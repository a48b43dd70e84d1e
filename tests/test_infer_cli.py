"""swinpose-infer: overlays and COCO results for a folder, an image and a video, with detector boxes or none."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from runtime import PoseEngine
from runtime.cli import main

PHOTOS = Path(__file__).parent / "data" / "coco-val2017-sample"


def test_folder_with_detections_writes_overlays_and_the_engines_results(bundled_packages, tmp_path, capsys):
    out = tmp_path / "out"
    dets = PHOTOS / "test_coco_det_AP_H_56.json"
    argv = ["--package", str(bundled_packages["fp32"]), str(PHOTOS), "--boxes", str(dets), "--det-score-thr", "0.5"]
    assert main(argv + ["--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [p.stem + ".jpg" for p in PHOTOS.glob("*.jpg")] + ["results.json"]
    )
    results = json.loads((out / "results.json").read_text())
    kept = [d for d in json.loads(dets.read_text()) if d["score"] >= 0.5 and d["category_id"] == 1]
    assert len(results) == len(kept) and "people in" in capsys.readouterr().out
    # the same numbers as PoseEngine on the same boxes
    det = kept[0]
    x, y, w, h = det["bbox"]
    image = cv2.imread(str(PHOTOS / f"{det['image_id']:012d}.jpg"))
    with PoseEngine(bundled_packages["fp32"]) as engine:
        same_image = [d for d in kept if d["image_id"] == det["image_id"]]
        boxes = [
            [d["bbox"][0], d["bbox"][1], d["bbox"][0] + d["bbox"][2], d["bbox"][1] + d["bbox"][3], d["score"]]
            for d in same_image
        ]
        expected = engine(image, np.array(boxes)).to_coco(det["image_id"])
    got = [r for r in results if r["image_id"] == det["image_id"]]
    assert [r["keypoints"] for r in got] == [e["keypoints"] for e in expected]
    drawn = cv2.imread(str(out / f"{det['image_id']:012d}.jpg"))
    assert drawn.shape == image.shape and np.abs(drawn.astype(int) - image).max() > 100  # something was drawn


def test_video_and_single_image(bundled_packages, tmp_path):
    frame = cv2.imread(str(PHOTOS / "000000196141.jpg"))
    video = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 10, (frame.shape[1], frame.shape[0]))
    for i in range(4):
        writer.write(np.roll(frame, 8 * i, axis=1))
    writer.release()
    assert main(["--package", str(bundled_packages["fp32"]), str(video), "--out", str(tmp_path / "v")]) == 0
    capture = cv2.VideoCapture(str(tmp_path / "v" / "clip_poses.mp4"))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 4
    capture.release()
    assert len(json.loads((tmp_path / "v" / "results.json").read_text())) == 4  # one whole-frame box per frame
    gray = tmp_path / "gray.png"
    cv2.imwrite(str(gray), cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY))
    assert main(["--package", str(bundled_packages["fp32"]), str(gray), "--out", str(tmp_path / "g")]) == 0
    assert cv2.imread(str(tmp_path / "g" / "gray.jpg")).shape == frame.shape


@pytest.mark.parametrize("problem", ["missing", "corrupt", "boxes"])
def test_cli_errors(bundled_packages, tmp_path, capsys, problem):
    target = tmp_path / "in.jpg"
    argv = ["--package", str(bundled_packages["fp32"]), str(target), "--out", str(tmp_path / "o")]
    if problem == "corrupt":
        target.write_bytes(b"not a jpeg")
    if problem == "boxes":
        cv2.imwrite(str(target), np.zeros((32, 32, 3), np.uint8))
        (tmp_path / "b.json").write_text(json.dumps({"in.jpg": [[1, 2, 3]]}))
        argv += ["--boxes", str(tmp_path / "b.json")]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1].startswith("swinpose-infer: error:") and "Traceback" not in err
    want = {"missing": "does not exist", "corrupt": "is not an image OpenCV decodes", "boxes": "a box must be"}
    assert want[problem] in err


def test_ground_truth_boxes_from_a_coco_annotation_file(bundled_packages, tmp_path):
    out = tmp_path / "gt"
    argv = ["--package", str(bundled_packages["fp32"]), str(PHOTOS), "--boxes", str(PHOTOS / "test_coco.json")]
    assert main(argv + ["--out", str(out)]) == 0
    gt = json.loads((PHOTOS / "test_coco.json").read_text())["annotations"]
    assert len(json.loads((out / "results.json").read_text())) == sum(not a.get("iscrowd", 0) for a in gt)


def test_bf16_runs_on_openvino_or_names_the_cpu_flags_it_needs(bundled_packages, tmp_path, capsys):
    """--bf16 is OpenVINO's bf16 hint: on a CPU whose OpenVINO lists BF16 it writes results, elsewhere it stops with
    the flags bf16 needs (both are checked on every host: the refusal on emulated CPUs in test_int8_cpu.py); with
    another backend it is refused before anything opens."""
    openvino = pytest.importorskip("openvino", reason="OpenVINO is not installed: pip install 'swinpose[openvino]'")
    argv = ["--package", str(bundled_packages["fp32"]), str(PHOTOS / "000000196141.jpg"), "--bf16"]
    assert main([*argv, "--backend", "onnxruntime", "--out", str(tmp_path / "ort")]) == 1
    assert "--bf16 is OpenVINO's precision hint on the CPU, not onnxruntime" in capsys.readouterr().err
    has_bf16 = "BF16" in openvino.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    code = main([*argv, "--out", str(tmp_path / "ov")])
    err = capsys.readouterr().err
    if has_bf16:
        assert code == 0 and len(json.loads((tmp_path / "ov" / "results.json").read_text())) == 1, err
    else:
        assert code != 0 and "bf16 inference needs a CPU with avx512_bf16 or amx_bf16" in err
