"""Every tool downstream of the import works on an imported MMPose model: fp16 and int8 exports under the usual
parity gate, TensorRT builds (the recording fake's runtime, and real TensorRT-RTX ahead of time), swinpose-bench
latency and parity, swinpose-infer and swinpose-eval. The model is the golden Swin-T's 0.x file with the config
mmengine dumped for it (tests/data/mmpose; tests/test_mmpose_import.py checks it against MMPose itself)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from fake_tensorrt import FakeCudart, add_fake_engine, make_fake_tensorrt

import runtime.backends.cuda
import runtime.backends.tensorrt
from benchmarks.floor import Ceilings
from benchmarks.latency import LatencySettings, run_latency
from benchmarks.parity import run_parity
from export.cli import main as export_main
from runtime import PoseEngine, read_package
from swinpose.cli.evaluate import main as eval_main

GOLDEN = Path(__file__).parent / "data" / "mmpose"
PHOTOS = Path(__file__).parent / "data" / "coco-val2017-sample"
WEIGHTS, CONFIG = GOLDEN / "swin_t_256x192.0x.pth", GOLDEN / "swin_t_256x192.config.py"
BOXES = PHOTOS / "test_coco.json"
#: fixed ceilings (GFLOP/s, GB/s), as tests/test_bench.py's: the latency test times the model, not the machine
CEILINGS = Ceilings({"fp32": 200.0, "fp16": 100.0, "int8": 800.0}, 25.0, {"fp32": {"fixed": 200.0}})


@pytest.fixture(scope="module")
def packages(tmp_path_factory) -> Path:
    """fp32, fp16 and int8 packages of the imported model side by side, as swinpose-bench reads them."""
    root = tmp_path_factory.mktemp("mmpose_downstream")
    for precision in ("fp32", "fp16", "int8"):
        args = [
            "--weights",
            str(WEIGHTS),
            "--mmpose-config",
            str(CONFIG),
            "--out",
            str(root / precision),
            "--onnx-only",
            "--quiet",
            "--batch",
            "1,4,8",
            "--parity-crops",
            "8",
        ]
        if precision != "fp32":
            args += [f"--{precision}", "--calib-data", str(BOXES), "--calib-size", "8"]
        assert export_main(args) == 0, precision  # the parity gate passed
    return root


def test_the_exports_keep_mmposes_processing_and_pass_the_gate(packages):
    for precision in ("fp32", "fp16", "int8"):
        spec = read_package(packages / precision)
        assert spec.precision == precision and spec.codec.convention == "msra" and spec.preprocess.warp == "mmpose"
        assert spec.codec.flip_shift and spec.input_size == (256, 192)
        if precision != "fp32":
            assert spec.parity["gate"]["passed"] and spec.parity["fp32"]["max_abs"] <= spec.parity["fp32_gate"]


def test_bench_latency_and_parity_run_on_the_imported_packages(packages):
    settings = LatencySettings(backends=["onnxruntime"], batches=[1, 2], warmup=1, iters=2, threads=2, people=2)
    report = run_latency(packages, settings, ceilings=CEILINGS, progress=False)
    ok = {(r["precision"], r["batch"]) for r in report["rows"] if r["status"] == "ok"}
    assert ok == {(p, b) for p in ("fp32", "fp16", "int8") for b in (1, 2)}
    parity = run_parity(packages, BOXES, PHOTOS, weights=WEIGHTS, backends=("onnxruntime",), progress=False)
    rows = {r["precision"]: r for r in parity["rows"] if r["backend"] == "onnxruntime"}
    assert set(rows) == {"fp32", "fp16", "int8"} and all(r["status"] == "ok" for r in rows.values())
    assert rows["fp32"]["passed"] and rows["fp32"]["max_heatmap_error"] <= 1e-3


def test_infer_and_eval_agree_on_the_imported_model(packages, tmp_path, capsys):
    """swinpose-infer (PoseEngine, ONNX Runtime fp32) and swinpose-eval (PyTorch, swinpose.evaluation) on the same
    photos and GT boxes with the flip test: two implementations of the same pipeline, so the same keypoints."""
    out = tmp_path / "infer"
    from runtime.cli import main as infer_main

    gt = json.loads(BOXES.read_text())  # swinpose-eval, as MMPose, scores the people with keypoints only
    gt["annotations"] = [a for a in gt["annotations"] if a["num_keypoints"] > 0]
    labelled = tmp_path / "labelled.json"
    labelled.write_text(json.dumps(gt))
    assert (
        infer_main(
            [
                "--package",
                str(packages / "fp32"),
                str(PHOTOS),
                "--boxes",
                str(labelled),
                "--out",
                str(out),
                "--flip-test",
            ]
        )
        == 0
    )
    inferred = json.loads((out / "results.json").read_text())
    res = tmp_path / "eval.json"
    assert (
        eval_main(
            [
                "--weights",
                str(WEIGHTS),
                "--mmpose-config",
                str(CONFIG),
                "--ann",
                str(labelled),
                "--images",
                str(PHOTOS),
                "--device",
                "cpu",
                "--out",
                str(res),
            ]
        )
        == 0
    )
    assert "AP" in capsys.readouterr().out
    evaluated = json.loads(res.read_text())
    assert len(inferred) == len(evaluated) == len(gt["annotations"])
    a = np.array([r["keypoints"] for r in sorted(inferred, key=lambda r: r["image_id"])])  # stable: box order
    b = np.array([r["keypoints"] for r in sorted(evaluated, key=lambda r: r["image_id"])])
    assert a.shape == b.shape
    shift = np.hypot(a[:, 0::3] - b[:, 0::3], a[:, 1::3] - b[:, 1::3])
    # MSRA decoding is an argmax and a quarter-pixel step: the fp32 graph's heatmaps (within 1e-3 of PyTorch's, the
    # export's gate, on any CPU) leave a keypoint where it is unless a near-tie flips, which moves it by a whole
    # step (≥ 1 image px), so the median is exact up to float rounding; the crop half-pixel bug gave 1.2 px
    assert np.median(shift) <= 0.01


def test_a_tensorrt_engine_of_the_imported_model_runs_through_the_runtime(packages, tmp_path, monkeypatch):
    """The TensorRT backend's plumbing on the imported model's engine (the recording fake computes with ONNX
    Runtime, so its keypoints are ONNX Runtime's exactly)."""
    cudart = FakeCudart()
    monkeypatch.setattr(runtime.backends.cuda, "load_cudart", lambda: cudart)
    package = tmp_path / "pk"
    shutil.copytree(packages / "fp32", package)
    add_fake_engine(package, "11.4", cudart)
    trt = make_fake_tensorrt("11.4", cudart)
    monkeypatch.setattr(runtime.backends.tensorrt, "_import_tensorrt", lambda flavor="standard": trt)
    image = cv2.imread(str(PHOTOS / "000000196141.jpg"))
    boxes = np.array([[100.0, 50.0, 300.0, 420.0], [320.0, 60.0, 500.0, 400.0]])
    with PoseEngine(package, flip_test=True) as ort, PoseEngine(package, device="cuda:0", flip_test=True) as engine:
        assert engine.backend.name == "tensorrt"
        want, got = ort(image, boxes), engine(image, boxes)
    np.testing.assert_array_equal(got.keypoints, want.keypoints)


def test_real_tensorrt_rtx_builds_the_imported_models_fp16_and_int8_graphs(packages, tmp_path):
    trt = pytest.importorskip(
        "tensorrt_rtx_bindings", reason="TensorRT-RTX is in the dev extra: pip install -e '.[dev]'"
    )
    from export.trt import EngineOptions, build_engine

    for precision in ("fp16", "int8"):
        spec = read_package(packages / precision)
        info = build_engine(
            spec.onnx_path,
            read_package(packages / "fp32").onnx_path,
            tmp_path / f"{precision}.engine",
            spec.input_name,
            (3, *spec.input_size),
            EngineOptions(precision, (1, 4, 8), workspace_gb=1.0, compute_capabilities=("sm86",)),
            trt=trt,
        )
        assert info["flavor"] == "rtx" and info["mode"] == "typed"
        assert info["io"][spec.output_name]["shape"][1:] == [17, 64, 48]
