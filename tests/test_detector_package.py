"""Detector packages: swinpose-export --detector, its contract (runtime/detection/package.py), TensorRT-RTX engines.

The detector files are Ultralytics' own exports (tests/ultralytics_ref.py) and a YOLOv5-layout graph with known boxes
(tests/detector_graphs.py). TensorRT-RTX's real parser and builder build the engines ahead of time on this CPU; what
needs a GPU (running an engine) is not here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from detector_graphs import yolov5_detector
from ultralytics_ref import export_yolo

import runtime.detection.detector
from export.cli import main as export_main
from export.detector import DetectorExportOptions, export_detector
from runtime.detection import DETECTOR_JSON, PRESETS, Detector, read_detector_package
from runtime.errors import BackendError, EngineBuildError, InputError, PackageError
from runtime.files import FAULT_ENV

trt = pytest.importorskip("tensorrt_rtx_bindings", reason="TensorRT-RTX is in the dev extra: pip install -e '.[dev]'")
RTX = {"engine": True, "trt_flavor": "rtx", "compute_capabilities": ("sm86",), "workspace_gb": 1.0, "progress": False}
PEOPLE = np.array([[30.0, 40.0, 130.0, 300.0], [260.5, 12.25, 340.0, 200.0]])
IMAGE = np.full((333, 517, 3), 90, np.uint8)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("detector_files")
    geometry, _ = PRESETS["ultralytics"].geometry(IMAGE.shape[:2], (320, 256))
    return {
        "yolov5": yolov5_detector(geometry.to_network(PEOPLE), np.array([0.9, 0.7]), (320, 256), folder / "v5.onnx"),
        "ultralytics": export_yolo("yolov8n.yaml", folder / "v8"),
        "ultralytics-e2e": export_yolo("yolov8n.yaml", folder / "v8nms", nms=True),
    }


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_an_ultralytics_file_packages_with_an_rtx_engine(files, tmp_path, precision, monkeypatch):
    out = tmp_path / "det"
    result = export_detector(files["ultralytics"], out, DetectorExportOptions(precision=precision, **RTX))
    spec = read_detector_package(out)
    assert sorted(p.name for p in out.iterdir()) == ["detector.engine", "detector.json", "detector.onnx"]
    assert (spec.layout, spec.person_class, spec.input_size, spec.class_names[0]) == (
        "ultralytics",
        0,
        (320, 320),
        "person",
    )
    assert spec.engine["precision"] == precision and spec.engine["flavor"] == "rtx"
    assert spec.engine["compute_capabilities"] == ["sm86"] and spec.engine["profile"]["max"] == [1, 3, 320, 320]
    assert spec.engine["bytes"] == (out / "detector.engine").stat().st_size
    assert (out / "detector.onnx").read_bytes() == files["ultralytics"].read_bytes()  # the user's bytes, as given
    assert "detector package" in result.summary() and result.engine_skipped is None
    convs = spec.engine["layers"]["gemm_layers"]  # what TensorRT computes the convolutions in, from the parsed network
    assert set(convs) == {"float16" if precision == "fp16" else "float32"} and sum(convs.values()) >= 60
    # the engine opens with the flavour that built it (TensorRT-RTX's module), not standard TensorRT's
    seen = {}

    def record(name, path, device, **options):
        seen.update(name=name, file=Path(path).name, device=device, **options)
        raise BackendError("recorded, not opened: no GPU here")

    monkeypatch.setattr(runtime.detection.detector, "open_backend", record)
    with pytest.raises(BackendError, match="recorded"):
        Detector(out, backend="tensorrt", device="cuda:0")
    assert (seen["name"], seen["file"], seen["flavor"]) == ("tensorrt", "detector.engine", "rtx")


def test_the_package_gives_the_files_detections_and_checks_its_bytes(files, tmp_path):
    out = tmp_path / "det"
    export_detector(files["yolov5"], out, DetectorExportOptions(engine=False))
    with Detector(out) as packaged, Detector(files["yolov5"]) as plain:
        assert packaged.package is not None and packaged.layout.name == "yolov5"
        a, b = packaged(IMAGE), plain(IMAGE)
    assert np.array_equal(a.boxes, b.boxes) and np.array_equal(a.scores, b.scores)
    assert np.abs(a.boxes - PEOPLE).max() < 1e-3
    data = bytearray((out / "detector.onnx").read_bytes())
    data[-1] ^= 1
    (out / "detector.onnx").write_bytes(bytes(data))
    with pytest.raises(
        PackageError, match="does not match .*detector.json.*re-export it with swinpose-export --detector"
    ):
        Detector(out)
    with pytest.raises(PackageError, match="lists no engine for the tensorrt backend"):
        Detector(out, backend="tensorrt")


def test_an_nms_graph_names_its_node_and_the_way_out(files, tmp_path):
    """Ultralytics' nms=True graph: TensorRT-RTX's parser stops at its selection (NonZero); the error says so, names
    the NMS nodes and how to export without them. Without an engine it packages, for ONNX Runtime."""
    with pytest.raises(
        EngineBuildError, match="cannot parse.*NonZero.*holds its NMS \\(.*NonMaxSuppression.*nms=False.*--onnx-only"
    ):
        export_detector(files["ultralytics-e2e"], tmp_path / "nms", DetectorExportOptions(**RTX))
    assert not (tmp_path / "nms").exists()
    export_detector(files["ultralytics-e2e"], tmp_path / "nms", DetectorExportOptions(engine=False))
    assert read_detector_package(tmp_path / "nms").layout == "ultralytics-e2e"
    with pytest.raises(InputError, match="has its NMS in the graph.*drop --fp16"):
        export_detector(files["ultralytics-e2e"], tmp_path / "x", DetectorExportOptions(precision="fp16"))


def test_foreign_and_damaged_packages_say_what_to_do(files, tmp_path, bundled_packages):
    out = tmp_path / "det"
    export_detector(files["yolov5"], out, DetectorExportOptions(engine=False))
    data = json.loads((out / DETECTOR_JSON).read_text())
    for change, message in [
        ({"format_version": 2}, "format version 2, newer than this swinpose reads \\(1\\); upgrade swinpose"),
        ({"format_version": 0}, "format version 0 is not one this swinpose reads"),
        ({"kind": "other"}, "not a swinpose detector package \\(kind 'other'"),
        ({"layout": "yolo9000"}, "layout 'yolo9000' is not one of"),
        ({"person_class": -1}, "person_class must be a class index"),
        ({"extra": 1}, "unknown fields \\['extra'\\]"),
    ]:
        (out / DETECTOR_JSON).write_text(json.dumps({**data, **change}))
        with pytest.raises(PackageError, match=message):
            read_detector_package(out)
    (out / DETECTOR_JSON).write_text("{NaN")
    with pytest.raises(PackageError, match="not valid JSON"):
        read_detector_package(out)
    with pytest.raises(PackageError, match="is a pose model package \\(model.json\\), not a detector package"):
        Detector(bundled_packages["fp32"])
    with pytest.raises(PackageError, match="does not exist; make a detector package with: swinpose-export"):
        read_detector_package(tmp_path / "nothing")


def test_bad_export_input_is_refused_before_anything_is_written(files, tmp_path):
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(InputError, match="holds files that are not a detector package's"):
        export_detector(files["yolov5"], tmp_path, DetectorExportOptions(engine=False))
    with pytest.raises(InputError, match="--detector takes an ONNX file"):
        export_detector(tmp_path / "keep.txt", tmp_path / "a", DetectorExportOptions(engine=False))
    (tmp_path / "bad.onnx").write_bytes(b"not onnx")
    with pytest.raises(InputError, match="is not an ONNX model"):
        export_detector(tmp_path / "bad.onnx", tmp_path / "b", DetectorExportOptions(engine=False))
    with pytest.raises(InputError, match="fp32 or fp16, not int8"):
        export_detector(files["yolov5"], tmp_path / "c", DetectorExportOptions(precision="int8"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.onnx", "keep.txt"]


def test_the_cli_packages_a_detector_and_refuses_pose_flags(files, tmp_path, capsys):
    argv = ["--detector", str(files["yolov5"]), "--out", str(tmp_path / "det"), "--onnx-only", "--quiet"]
    assert export_main(argv) == 0
    assert "detector package" in capsys.readouterr().out and (tmp_path / "det" / DETECTOR_JSON).is_file()
    assert export_main(argv + ["--calib-data", str(tmp_path)]) != 0
    assert "--calib-data: for pose models (--weights), not --detector" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        export_main(["--detector", str(files["yolov5"]), "--weights", "bundled"])


def test_a_killed_export_leaves_the_old_package_whole(files, tmp_path):
    out = tmp_path / "det"
    export_detector(files["yolov5"], out, DetectorExportOptions(engine=False))
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    code = (
        "import sys; from export.detector import *; export_detector(sys.argv[1], sys.argv[2], "
        "DetectorExportOptions(engine=False, person_class=1))"
    )
    for step in ("staged-detector-onnx", "staged-detector-json"):
        env = {**os.environ, FAULT_ENV: step}
        run = subprocess.run(
            [sys.executable, "-c", code, str(files["yolov5"]), str(out)], env=env, capture_output=True, text=True
        )
        assert run.returncode == -9, run.stderr
        assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert read_detector_package(out).person_class == 0
    onnx.checker.check_model(onnx.load(out / "detector.onnx"))


def test_opencv_graphs_are_written_checked_and_recorded(files, tmp_path):
    """--opencv: detector.opencv.onnx (the OpenCV DNN rewrite, batch 1; the C++ runtime's CPU backend) for an
    Ultralytics export (opset 19: converted to 17) and the YOLOv5-layout graph. ONNX Runtime gives the file's own
    outputs with it on a letterboxed photo-like image; detector.json records it and its bytes are checked; a
    package from before the field reads as one without it."""
    import onnxruntime as ort

    image = np.random.default_rng(1).integers(0, 256, (333, 517, 3), np.uint8)
    for name in ("ultralytics", "yolov5"):
        out = tmp_path / name
        argv = ["--detector", str(files[name]), "--out", str(out), "--onnx-only", "--opencv", "--quiet"]
        assert export_main(argv) == 0
        spec = read_detector_package(out)
        assert spec.opencv_file == "detector.opencv.onnx" and spec.opencv["batch"] == 1
        assert spec.opencv["bytes"] == (out / spec.opencv_file).stat().st_size
        assert spec.opencv["max_abs_vs_onnx"] <= 1e-5
        graph = onnx.load(str(out / spec.opencv_file))
        assert next(o.version for o in graph.opset_import if o.domain in ("", "ai.onnx")) <= 17
        with Detector(out) as detector:
            feeds = {detector.input_name: detector.preprocess(image)[0]}
        want = ort.InferenceSession(str(out / "detector.onnx")).run(None, feeds)
        got = ort.InferenceSession(str(out / spec.opencv_file)).run(None, feeds)
        for a, b in zip(want, got):
            assert np.abs(a - b).max() <= 1e-5 * max(1.0, np.abs(a).max())
        spec.verify(out / spec.opencv_file)
        data = bytearray((out / spec.opencv_file).read_bytes())
        data[len(data) // 2] ^= 1
        (out / spec.opencv_file).write_bytes(bytes(data))
        with pytest.raises(PackageError, match="does not match"):
            spec.verify(out / spec.opencv_file)
    old = json.loads((tmp_path / "yolov5" / DETECTOR_JSON).read_text())
    del old["opencv"], old["files"]["opencv"]
    (tmp_path / "yolov5" / DETECTOR_JSON).write_text(json.dumps(old))
    spec = read_detector_package(tmp_path / "yolov5")
    assert spec.opencv_file is None and spec.opencv is None and spec.opencv_path is None
