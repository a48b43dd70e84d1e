"""A bad-input corpus, built here: box and annotation files as real datasets write them (PoseTrack18 sub-paths,
OCHuman ids, OpenPifPaf predictions), broken images and videos, bad output paths, flags and checkpoint metadata.
Every case must end in a typed error that names the fix (exit 1, or argparse's 2) or in a correct result."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

import swinpose
from runtime.boxes import read_boxes
from runtime.cli import main as infer_main
from runtime.errors import CheckpointError, DataError, InputShapeError
from swinpose.cli.evaluate import main as eval_main
from swinpose.models.pose_io import BUNDLED_WEIGHTS

DATA = Path(__file__).parent / "data" / "coco-val2017-sample"
PHOTO = DATA / "000000196141.jpg"
GT = json.loads((DATA / "test_coco.json").read_text())
PHOTO_ANNS = [a for a in GT["annotations"] if a["image_id"] == 196141 and a["num_keypoints"] > 0]


def _write(path: Path, obj) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))
    return path


def _dataset(root: Path, names: list[str], ids: list[int], area: bool = True) -> dict:
    """A COCO keypoint file over copies of the photo at ``names`` (sub-paths allowed), with its labelled people."""
    images, anns = [], []
    for name, image_id in zip(names, ids):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(PHOTO, root / name)
        images.append({"id": image_id, "file_name": name, "width": 640, "height": 429})
        for a in PHOTO_ANNS:
            ann = {**a, "image_id": image_id, "id": len(anns) + 1}
            if not area:
                ann.pop("area")
            anns.append(ann)
    return {"images": images, "annotations": anns, "categories": GT["categories"]}


def _infer(package: Path, source: Path, out: Path, *extra: str) -> tuple[int, list[dict]]:
    rc = infer_main(["--package", str(package), str(source), "--out", str(out), *extra])
    results = json.loads((out / "results.json").read_text()) if rc == 0 else []
    return rc, results


# -- real-world annotation and box files -----------------------------------------------------------------------------
def test_posetrack_sub_paths_match_from_the_dataset_root_or_below_it(bundled_packages, tmp_path, caplog):
    root = tmp_path / "posetrack"
    names = ["images/val/000342_mpii_test/000000.jpg", "images/val/000522_mpii_test/000000.jpg"]
    ann = _write(root / "annotations" / "val.json", _dataset(root, names, [10003420000, 10005220000], area=False))
    for source in (root, root / "images" / "val", root / "images"):
        rc, results = _infer(bundled_packages["fp32"], source, tmp_path / f"out_{source.name}", "--boxes", str(ann))
        assert rc == 0
        assert sorted({r["image_id"] for r in results}) == [10003420000, 10005220000]  # the file's ids
        assert len(results) == 2 * len(PHOTO_ANNS)
    # one sequence folder: 000000.jpg fits both sequences' entries, which is refused, not guessed
    assert (
        infer_main(
            [
                "--package",
                str(bundled_packages["fp32"]),
                str(root / names[0]),
                "--out",
                str(tmp_path / "x"),
                "--boxes",
                str(ann),
            ]
        )
        == 1
    )
    # the results score against the same file, whose annotations have no area (computed from the box, logged)
    res = tmp_path / "out_posetrack" / "results.json"
    with caplog.at_level("INFO", logger="swinpose.evaluation"):
        assert eval_main(["--results", str(res), "--ann", str(ann)]) == 0
    assert "had no 'area'; computed from its bbox" in caplog.text


def test_ochuman_ids_come_from_the_annotation_file_not_the_file_names(bundled_packages, tmp_path):
    root = tmp_path / "ochuman"
    ann = _write(root / "ochuman.json", _dataset(root / "images", ["000817.jpg", "000818.jpg"], [1, 2]))
    rc, results = _infer(bundled_packages["fp32"], root / "images", tmp_path / "out", "--boxes", str(ann))
    assert rc == 0 and sorted({r["image_id"] for r in results}) == [1, 2]
    assert eval_main(["--results", str(tmp_path / "out" / "results.json"), "--ann", str(ann)]) == 0


def test_detections_are_matched_by_id_through_ann_and_unmatched_ones_refused(bundled_packages, tmp_path, capsys):
    root = tmp_path / "ochuman"
    ann = _write(root / "ochuman.json", _dataset(root / "images", ["000817.jpg", "000818.jpg"], [1, 2]))
    dets = _write(
        tmp_path / "dets.json", [{"image_id": 2, "category_id": 1, "bbox": a["bbox"], "score": 0.9} for a in PHOTO_ANNS]
    )
    # by numeric stem, image 2 is no file here: nothing matches, which is an error naming --ann, not "0 people"
    rc = infer_main(
        [
            "--package",
            str(bundled_packages["fp32"]),
            str(root / "images"),
            "--out",
            str(tmp_path / "a"),
            "--boxes",
            str(dets),
        ]
    )
    assert rc == 1 and "--ann" in capsys.readouterr().err
    rc, results = _infer(
        bundled_packages["fp32"], root / "images", tmp_path / "b", "--boxes", str(dets), "--ann", str(ann)
    )
    assert rc == 0 and {r["image_id"] for r in results} == {2} and len(results) == len(PHOTO_ANNS)


def test_no_folder_index_fallback_and_unmatched_images_are_counted(bundled_packages, tmp_path, caplog):
    images = tmp_path / "images"
    for name in ("1.jpg", "5.jpg"):
        images.mkdir(exist_ok=True)
        shutil.copy(PHOTO, images / name)
    boxes = _write(tmp_path / "boxes.json", {"1.jpg": [[248, 74, 418, 375, 0.9]], "7.jpg": [[1, 1, 50, 50]]})
    with caplog.at_level("WARNING"):
        rc, results = _infer(bundled_packages["fp32"], images, tmp_path / "out", "--boxes", str(boxes))
    assert rc == 0 and [r["file_name"] for r in results] == ["1.jpg"]  # 5.jpg does not get 1.jpg's boxes
    assert "1 of 2 images have no entry" in caplog.text and "1 entries of" in caplog.text and "7.jpg" in caplog.text


BAD_BOX_FILES = {
    "a result without bbox": [{"image_id": 1, "score": 0.9}],
    "a list of numbers": [1, 2, 3],
    "a bbox of 3 numbers": [{"image_id": 1, "bbox": [1, 2, 3], "score": 1}],
    "a dict of numbers": {"a.jpg": 5},
    "a NaN bbox": [{"image_id": 1, "bbox": [1, 2, float("nan"), 4]}],
    "annotations without image_id": {
        "images": [{"id": 1, "file_name": "a.jpg"}],
        "annotations": [{"bbox": [1, 2, 3, 4]}],
    },
    "annotations of an unknown image": {
        "images": [{"id": 1, "file_name": "a.jpg"}],
        "annotations": [{"image_id": 9, "bbox": [1, 2, 3, 4]}],
    },
    "OpenPifPaf predictions": [{"keypoints": [0.0] * 51, "bbox": [1, 2, 30, 40], "score": 0.8, "category_id": 1}],
    "a string": "boxes",
}


@pytest.mark.parametrize("name", list(BAD_BOX_FILES))
def test_bad_box_files_are_typed_errors_naming_the_entry(tmp_path, name):
    path = tmp_path / "boxes.json"
    path.write_text(json.dumps(BAD_BOX_FILES[name]))
    with pytest.raises(DataError) as e:
        read_boxes(path)
    assert str(path) in str(e.value)
    if name == "OpenPifPaf predictions":
        assert "OpenPifPaf" in str(e.value)


@pytest.mark.parametrize("boxes", [[[1, 2, 3, 4], [1, 2, 3]], [["a", "b", "c", "d"]], "abc", {"a": 1}])
def test_ragged_or_string_boxes_to_the_api_are_typed_errors(bundled_packages, boxes):
    from runtime import PoseEngine

    with PoseEngine(bundled_packages["fp32"]) as engine, pytest.raises(InputShapeError, match="N×4 xyxy"):
        engine(cv2.imread(str(PHOTO)), boxes)


# -- broken images and videos --------------------------------------------------------------------------------------
def test_truncated_and_corrupt_images_stop_the_run_or_are_skipped_and_counted(
    bundled_packages, tmp_path, capsys, caplog
):
    images = tmp_path / "images"
    images.mkdir()
    data = PHOTO.read_bytes()
    (images / "a.jpg").write_bytes(data)
    (images / "b.jpg").write_bytes(data[: len(data) // 2])  # truncated: OpenCV would decode a grey half
    (images / "c.jpg").write_bytes(b"\xff\xd8" + os.urandom(2000))  # garbage after a JPEG header
    rc = infer_main(["--package", str(bundled_packages["fp32"]), str(images), "--out", str(tmp_path / "o")])
    assert rc == 1 and "truncated" in capsys.readouterr().err
    with caplog.at_level("WARNING"):
        rc, results = _infer(bundled_packages["fp32"], images, tmp_path / "o2", "--skip-bad")
    assert rc == 0 and {r["file_name"] for r in results} == {"a.jpg"} and "skipped 2 of 3 images" in caplog.text


def test_a_truncated_image_in_an_eval_set_is_a_data_error(tmp_path, capsys):
    root = tmp_path / "set"
    ann = _write(root / "ann.json", _dataset(root / "images", ["000001.jpg"], [1]))
    data = PHOTO.read_bytes()
    (root / "images" / "000001.jpg").write_bytes(data[: len(data) * 2 // 3])
    rc = eval_main(["--weights", "bundled", "--ann", str(ann), "--images", str(root / "images"), "--device", "cpu"])
    assert rc == 1 and "truncated" in capsys.readouterr().err


def test_a_truncated_video_says_how_many_frames_were_read(bundled_packages, tmp_path, capsys):
    """Exit 1 naming the frame it stopped at and how many of the header's 20 frames it read; the results of those
    frames are written all the same (tests/test_video.py checks the same with --track)."""
    video = tmp_path / "v.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (96, 128))
    rng = np.random.default_rng(0)
    for _ in range(20):
        writer.write(rng.integers(0, 255, (128, 96, 3), dtype=np.uint8))
    writer.release()
    data = video.read_bytes()
    video.write_bytes(data[: int(len(data) * 0.6)])
    rc = infer_main(["--package", str(bundled_packages["fp32"]), str(video), "--out", str(tmp_path / "out")])
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    read = len({r["image_id"] for r in results})
    err = capsys.readouterr().err
    assert rc == 1 and 0 < read < 20 and f"stopped at frame {read}: {read} of the 20 frames" in err


# -- output paths and flags ------------------------------------------------------------------------------------------
def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", *args], capture_output=True, text=True, cwd=Path(__file__).parent.parent
    )


def test_an_output_path_that_is_a_file_or_unwritable_is_refused_by_every_command(bundled_packages, tmp_path):
    a_file = tmp_path / "taken"
    a_file.write_text("x")
    under_a_file = a_file / "sub"
    pk = str(bundled_packages["fp32"])
    for out in (a_file, under_a_file):
        runs = {
            "infer": _cli("runtime.cli", "--package", pk, str(PHOTO), "--out", str(out)),
            "eval": _cli(
                "swinpose.cli.evaluate",
                "--results",
                str(tmp_path / "r.json"),
                "--ann",
                str(DATA / "test_coco.json"),
                "--out",
                str(under_a_file / "r.json"),
            ),
            "bench": _cli("benchmarks.cli", "latency", "--package", pk, "--out", str(out), "--iters", "1"),
            "export": _cli("export.cli", "--weights", "bundled", "--out", str(out), "--onnx-only"),
        }
        for name, done in runs.items():
            assert done.returncode == 1, (name, done.stderr[-500:])
            assert "Traceback" not in done.stderr and "error:" in done.stderr, (name, done.stderr[-500:])


@pytest.mark.parametrize(
    "argv",
    [
        ["swinpose.cli.evaluate", "--weights", "bundled", "--data", "x", "--batch-size", "0"],
        ["swinpose.cli.evaluate", "--weights", "bundled", "--data", "x", "--batch-size", "-1"],
        ["swinpose.cli.evaluate", "--weights", "bundled", "--data", "x", "--sigma", "0"],
        ["benchmarks.cli", "latency", "--package", "x", "--people", "0"],
        ["benchmarks.cli", "latency", "--package", "x", "--people", "-1"],
        ["benchmarks.cli", "latency", "--package", "x", "--threads", "-1"],
        ["benchmarks.cli", "latency", "--package", "x", "--iters", "0"],
        ["benchmarks.cli", "latency", "--package", "x", "--iters", "-1"],
    ],
    ids=lambda a: " ".join(a[-2:]),
)
def test_bad_counts_are_usage_errors(argv):
    done = _cli(*argv)
    assert done.returncode == 2 and "must be" in done.stderr and "Traceback" not in done.stderr


# -- checkpoints with bad metadata -----------------------------------------------------------------------------------
def _bundled_parts() -> tuple[dict, dict]:
    from safetensors import safe_open
    from safetensors.torch import load_file

    with safe_open(str(BUNDLED_WEIGHTS), "pt") as f:
        meta = f.metadata()
    return load_file(str(BUNDLED_WEIGHTS)), meta


def _config_edit(meta: dict, **changes) -> dict:
    cfg = json.loads(meta["swinpose_config"])
    cfg.update(changes)
    return {**meta, "swinpose_config": json.dumps(cfg)}


@pytest.mark.parametrize(
    "case, match",
    [
        ("config not JSON", "metadata is not JSON"),
        ("config a list", "metadata is list, not a model config"),
        ("num_keypoints a string", "model config is malformed"),
        ("train_config a list", "train_config is list"),
        ("sigma a string", "recorded sigma 'abc' is not a positive number"),
        ("relative position table of another window", r"relative_position_bias_table"),
        ("pickled code", "not a readable weights-only checkpoint"),
    ],
)
def test_checkpoints_with_bad_metadata_are_checkpoint_errors(tmp_path, case, match):
    from safetensors.torch import save_file

    from export.package import ExportOptions, export_package

    sd, meta = _bundled_parts()
    model = swinpose.load_model("bundled")
    base = {"model": model.state_dict(), "model_config": model.cfg.to_dict()}
    path = tmp_path / "m.pth"
    if case == "config not JSON":
        path = tmp_path / "m.safetensors"
        save_file(sd, str(path), metadata={**meta, "swinpose_config": "{not json"})
    elif case == "config a list":
        path = tmp_path / "m.safetensors"
        save_file(sd, str(path), metadata={**meta, "swinpose_config": "[1, 2]"})
    elif case == "num_keypoints a string":
        path = tmp_path / "m.safetensors"
        save_file(sd, str(path), metadata=_config_edit(meta, num_keypoints="17"))
    elif case == "train_config a list":
        torch.save({**base, "train_config": [1, 2]}, path)
    elif case == "sigma a string":
        torch.save({**base, "train_config": {"sigma": "abc"}}, path)
    elif case == "relative position table of another window":
        bad = dict(base["model"])
        key = next(k for k in bad if k.endswith("relative_position_bias_table"))
        bad[key] = torch.zeros(5, bad[key].shape[1])
        torch.save({**base, "model": bad}, path)
    else:
        import pickle

        class Payload:
            def __reduce__(self):
                return (os.system, ("echo pwned",))

        path.write_bytes(pickle.dumps({"model": Payload()}))
    with pytest.raises(CheckpointError, match=match) as e:
        export_package(path, tmp_path / "pk", ExportOptions(engine=False, progress=False))
    assert str(path) in str(e.value) and "weights_only=False" not in str(e.value)


def test_the_ceiling_measurement_skips_a_path_too_slow_for_this_cpu(monkeypatch):
    """The floor's GEMM ceilings skip a shape whose call the library's smaller shapes say would take over
    MAX_CALL_S (int8 torch._int_mm without VNNI: 26 s a call at 2048³), instead of waiting for it."""
    import time

    import benchmarks.floor as floor

    calls: list[tuple] = []

    def slow_gemm(m, k, n, kind, device):  # a library at 1 GFLOP/s
        def run():
            calls.append((m, k, n))
            time.sleep(2 * m * k * n / 1e9)

        return run

    monkeypatch.setattr(floor, "_torch_gemm", slow_gemm)
    monkeypatch.setattr(floor, "_ort_gemm", lambda *a: None)
    monkeypatch.setattr(floor, "_numpy_gemm", lambda *a: None)
    monkeypatch.setattr(floor, "_ov_gemm", lambda *a: None)
    ceilings = floor.measure_ceilings(shapes=((1000, 1000, 1000), (100, 100, 100)), iters=3)
    assert set(calls) == {(100, 100, 100)}  # 2 GFLOP at 1 GFLOP/s would be 2 s a call: skipped, never run
    assert list(ceilings.sources["fp32"]) == ["torch 100x100x100"]
