"""The OpenVINO backend against PyTorch and ONNX Runtime, its options, its model cache, and threads sharing it.

References: PyTorch's heatmaps of the bundled model on the COCO sample photos' crops (the export's own gates:
``FP32_GATE`` for fp32, the int8 and bf16 shift limits of :mod:`export.parity`), ONNX Runtime on the same crops.
bf16 runs only on a CPU whose OpenVINO lists ``BF16``; elsewhere its test skips, and the refusal on CPUs without it is
checked on emulated ones (``tests/test_int8_cpu.py``), so no verdict here depends on the host.
"""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest
from threads import run_together

from benchmarks.cpu_matrix import coco_photos
from export.parity import FP32_GATE, compare_heatmaps, shift_limit
from runtime import PoseEngine
from runtime.backends import open_backend
from runtime.errors import BackendError, ConfigError, MissingDependencyError
from runtime.images import read_image

try:
    import openvino
except ImportError:
    openvino = None
    if os.environ.get("CI"):
        raise  # CI installs the openvino extra: a missing one is a broken setup, not a skip
pytestmark = pytest.mark.skipif(openvino is None, reason="OpenVINO is not installed: pip install 'swinpose[openvino]'")

from runtime.backends.openvino import (  # noqa: E402 (after the skip: the module imports openvino lazily anyway)
    BF16_CPU_FLAGS,
    OvBackend,
    UnsupportedPrecisionError,
    bf16_problem,
)


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SWINPOSE_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def crops(bundled_packages):
    """The COCO sample photos' ground-truth crops (N×3×H×W) and PyTorch's fp32 heatmaps of them (N×K×h×w)."""
    import torch

    from swinpose.models.pose_io import BUNDLED_WEIGHTS, load_pose_file

    images, boxes = coco_photos()
    with PoseEngine(bundled_packages["fp32"]) as engine:
        inputs, _, _ = engine.preprocess([read_image(f) for f in images], boxes)
    model, _ = load_pose_file(BUNDLED_WEIGHTS)
    with torch.no_grad():
        reference = model.eval()(torch.from_numpy(inputs)).numpy()
    return inputs, reference


def _heatmaps(package, inputs, **options):
    with PoseEngine(package, backend="openvino", backend_options=options) as engine:
        assert engine.backend.name == "openvino"
        return engine.heatmaps(inputs)


def test_fp32_meets_the_exports_fp32_gate_against_pytorch(bundled_packages, crops):
    inputs, reference = crops
    parity = compare_heatmaps(reference, _heatmaps(bundled_packages["fp32"], inputs), _codec(bundled_packages))
    assert parity.max_abs <= FP32_GATE, parity


def test_int8_meets_the_int8_shift_limit_against_pytorch(bundled_packages, crops):
    inputs, reference = crops
    codec = _codec(bundled_packages)
    parity = compare_heatmaps(reference, _heatmaps(bundled_packages["int8"], inputs), codec)
    assert parity.median_kpt_px <= shift_limit("int8", codec), parity


def test_bf16_meets_the_bf16_shift_limit_against_pytorch(bundled_packages, crops):
    if bf16_problem(openvino.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")):
        pytest.skip("this CPU has no bf16 (avx512_bf16 or amx_bf16); the refusal is tested on emulated CPUs")
    inputs, reference = crops
    codec = _codec(bundled_packages)
    heatmaps = _heatmaps(bundled_packages["fp32"], inputs, precision="bf16")
    parity = compare_heatmaps(reference, heatmaps, codec)
    assert parity.median_kpt_px <= shift_limit("bf16", codec), parity
    assert parity.max_abs > 1e-4, "bf16 heatmaps as exact as fp32's: the hint did not take"


def _codec(packages):
    from runtime import read_package

    return read_package(packages["fp32"]).codec


def test_bf16_refusal_names_the_cpu_flags():
    message = bf16_problem(["FP32", "INT8"])
    assert all(flag in message for flag in BF16_CPU_FLAGS) and "f32" in message
    assert bf16_problem(["FP32", "BF16", "INT8"]) is None
    assert issubclass(UnsupportedPrecisionError, BackendError) and issubclass(UnsupportedPrecisionError, ConfigError)


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"hint": "fast"}, ConfigError, "hint 'fast' is not one of \\['latency', 'throughput'\\]"),
        ({"precision": "fp16"}, ConfigError, "precision 'fp16' is not one of \\['bf16', 'f32'\\].*swinpose-export"),
        ({"threads": -1}, ConfigError, "threads must be an integer ≥ 0"),
        ({"device": "cuda:0"}, BackendError, "runs on the CPU, not 'cuda:0'"),
        ({"io_binding": True}, ConfigError, "the openvino backend: .*io_binding.*its options are .*'hint'"),
    ],
)
def test_bad_options_are_refused_with_the_choices(bundled_packages, options, error, message):
    with pytest.raises(error, match=message):
        open_backend("openvino", bundled_packages["fp32"] / "model.onnx", **options)


def test_a_missing_openvino_names_the_extra(bundled_packages, monkeypatch):
    monkeypatch.setitem(sys.modules, "openvino", None)  # import openvino now raises ImportError
    with pytest.raises(MissingDependencyError, match=r"pip install 'swinpose\[openvino\]'"):
        PoseEngine(bundled_packages["fp32"], backend="openvino")


def test_a_truncated_model_is_refused_with_the_fix(bundled_packages, tmp_path):
    bad = tmp_path / "model.onnx"
    bad.write_bytes((bundled_packages["fp32"] / "model.onnx").read_bytes()[:5000])
    with pytest.raises(BackendError, match="OpenVINO cannot compile .*re-export the package"):
        OvBackend(bad)


def test_the_second_open_loads_the_compiled_model_from_the_cache(bundled_packages, crops, tmp_path):
    import openvino.properties as props

    inputs = crops[0][:1]  # batch 1: the model opening compiles
    path = bundled_packages["fp32"] / "model.onnx"
    with OvBackend(path, threads=2) as first:
        assert not first.compiled.get_property(props.loaded_from_cache)
        want = first.infer({"input": inputs})
    blobs = list((tmp_path / "cache" / "openvino").glob("*.blob"))
    assert len(blobs) == 1
    with OvBackend(path, threads=2) as second:
        assert second.compiled.get_property(props.loaded_from_cache)
        np.testing.assert_array_equal(second.infer({"input": inputs})["heatmaps"], want["heatmaps"])
    with OvBackend(path, threads=1, hint="throughput") as other:  # run-time settings: the same compiled model
        assert other.compiled.get_property(props.loaded_from_cache)
        assert str(other.compiled.get_property(props.hint.performance_mode)) == "THROUGHPUT"
        assert other.compiled.get_property(props.inference_num_threads) == 1
    with OvBackend(bundled_packages["int8"] / "model.onnx") as int8:  # another model: another entry
        assert not int8.compiled.get_property(props.loaded_from_cache)
    with OvBackend(path, threads=2, cache=False) as uncached:
        assert not uncached.compiled.get_property(props.loaded_from_cache)
    assert len(list((tmp_path / "cache" / "openvino").glob("*.blob"))) == 2


def test_a_bf16_open_loads_the_f32_entry_and_still_runs_bf16(bundled_packages, crops, tmp_path):
    """OpenVINO 2026.4 keeps one cache entry per model and applies the precision hint when it loads it (the module
    docstring): the bf16 backend on a model cached at f32 loads that entry, and its heatmaps are bf16's, not f32's."""
    import openvino.properties as props

    if bf16_problem(openvino.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")):
        pytest.skip("this CPU has no bf16 (avx512_bf16 or amx_bf16); the refusal is tested on emulated CPUs")
    inputs = crops[0][:1]
    path = bundled_packages["fp32"] / "model.onnx"
    with OvBackend(path, threads=2) as f32:
        want = f32.infer({"input": inputs})["heatmaps"]
    with OvBackend(path, threads=2, precision="bf16") as bf16:
        assert bf16.compiled.get_property(props.loaded_from_cache) and bf16.inference_precision == "bf16"
        got = bf16.infer({"input": inputs})["heatmaps"]
    assert np.abs(got - want).max() > 1e-4, "bf16 heatmaps as exact as f32's: the entry ran at f32"
    assert len(list((tmp_path / "cache" / "openvino").glob("*.blob"))) == 1


def test_a_damaged_cache_entry_is_compiled_again(bundled_packages, crops, tmp_path):
    import openvino.properties as props

    inputs = crops[0][:1]
    path = bundled_packages["fp32"] / "model.onnx"
    with OvBackend(path, threads=2) as first:
        want = first.infer({"input": inputs})["heatmaps"]
    (blob,) = (tmp_path / "cache" / "openvino").glob("*.blob")
    blob.write_bytes(blob.read_bytes()[: blob.stat().st_size // 3])
    with OvBackend(path, threads=2) as again:
        assert not again.compiled.get_property(props.loaded_from_cache)
        np.testing.assert_array_equal(again.infer({"input": inputs})["heatmaps"], want)


@pytest.mark.parametrize("hint", ["latency", "throughput"])
def test_threads_sharing_one_engine_each_get_their_own_answer(bundled_packages, crops, hint):
    """4 threads × 4 calls on one engine, each call another crop of the same batch shape: each result must equal
    the same call made alone (each call has its own infer request)."""
    inputs = crops[0]
    with PoseEngine(bundled_packages["fp32"], backend="openvino", backend_options={"hint": hint}) as engine:
        assert engine.backend.concurrent
        want = [engine.heatmaps(inputs[i : i + 1]) for i in range(len(inputs))]
        got: dict[int, np.ndarray] = {}

        def work(t: int) -> None:
            for i in range(t, len(inputs), 4):
                got[i] = engine.heatmaps(inputs[i : i + 1])

        errors = run_together(work, 4)
        idle = sum(len(requests) for requests in engine.backend._idle.values())
    assert not errors
    assert [i for i in range(len(inputs)) if not np.array_equal(got[i], want[i])] == []
    assert 1 <= idle <= 4  # one request per call in flight, kept for the next calls


def test_each_batch_size_gets_its_own_static_model_with_the_same_results(bundled_packages, crops):
    inputs = crops[0][:3]
    path = bundled_packages["fp32"] / "model.onnx"
    with OvBackend(path, threads=2) as static, OvBackend(path, threads=2, static=False) as dynamic:
        assert static.inputs == dynamic.inputs and static.inputs[0].shape[0] == -1  # the file's dynamic batch
        for n in (1, 3, 2, 3):
            got, want = static.infer({"input": inputs[:n]}), dynamic.infer({"input": inputs[:n]})
            # each within FP32_GATE of PyTorch (test_fp32_meets_the_exports_fp32_gate_against_pytorch)
            np.testing.assert_allclose(got["heatmaps"], want["heatmaps"], atol=2 * FP32_GATE)
        assert sorted(static._compiled) == [((1, 3, 128, 96),), ((2, 3, 128, 96),), ((3, 3, 128, 96),)]
        assert list(dynamic._compiled) == [()]


def test_a_closed_backend_refuses_calls(bundled_packages, crops):
    backend = OvBackend(bundled_packages["fp32"] / "model.onnx")
    backend.close()
    with pytest.raises(BackendError, match="closed"):
        backend.infer({"input": crops[0][:1]})


def _bf16_here() -> bool:
    return bf16_problem(openvino.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")) is None


def test_latency_puts_the_cpu_runtimes_side_by_side(bundled_packages):
    """swinpose-bench latency --backends onnxruntime,openvino --precisions fp32,bf16,int8,int8+bf16: OpenVINO's rows
    run (bf16 where the CPU has it, else skipped with the flags it needs), ONNX Runtime's hinted rows are skipped
    with the backend that has them, and every row has its speed-up over ONNX Runtime fp32 from the same rounds."""
    from benchmarks.floor import Ceilings
    from benchmarks.latency import LatencySettings, run_latency
    from benchmarks.report import schema_problems

    ceilings = Ceilings({"fp32": 200.0, "fp16": 100.0, "bf16": 400.0, "int8": 800.0}, 25.0)
    settings = LatencySettings(
        backends=["onnxruntime", "openvino"],
        precisions=["fp32", "bf16", "int8", "int8+bf16"],
        batches=[1],
        warmup=1,
        iters=4,
        rounds=2,
        threads=2,
        people=1,
    )
    report = run_latency(bundled_packages["fp32"].parent, settings, ceilings=ceilings, progress=False)
    assert schema_problems(report) == []
    rows = {(r["backend"], r["precision"]): r for r in report["rows"]}
    hinted = ("bf16", "int8+bf16")
    for precision in hinted:
        assert rows["onnxruntime", precision]["status"] == "skipped"
        assert "--backends openvino" in rows["onnxruntime", precision]["reason"]
        if _bf16_here():
            assert rows["openvino", precision]["status"] == "ok"
        else:
            assert "avx512_bf16 or amx_bf16" in rows["openvino", precision]["reason"]
    assert rows["onnxruntime", "fp32"]["speedup_vs_onnxruntime_fp32"] == 1.0
    for (_, precision), r in rows.items():
        if r["status"] == "ok":
            assert r["speedup_vs_onnxruntime_fp32"] > 0
            like = {"int8+bf16": "int8"}.get(precision, precision)  # int8+bf16 has the int8 graph's floor
            assert r["floor_ms"] == report["floors_ms"][like]["1"]
    assert {k for k, r in rows.items() if r["status"] == "ok"} >= {
        ("onnxruntime", "fp32"),
        ("onnxruntime", "int8"),
        ("openvino", "fp32"),
        ("openvino", "int8"),
    }


def test_parity_judges_openvino_rows_by_their_precision(bundled_packages, synthetic_root):
    from benchmarks.parity import run_parity
    from export.parity import AP_THRESHOLDS

    precisions = ("fp32", "int8", "int8+bf16", *(("bf16",) if _bf16_here() else ()))
    report = run_parity(
        bundled_packages["fp32"].parent,
        synthetic_root / "annotations" / "person_keypoints_val.json",
        synthetic_root / "val",
        backends=("openvino",),
        precisions=precisions,
        threads=2,
        progress=False,
    )
    rows = {r["precision"]: r for r in report["rows"]}
    assert rows["fp32"]["status"] == "ok" and rows["fp32"]["passed"], rows["fp32"]  # fp32: ΔAP 0
    assert rows["int8"]["threshold"] == rows.get("int8+bf16", rows["int8"])["threshold"] == AP_THRESHOLDS["int8"]
    if _bf16_here():
        assert rows["bf16"]["threshold"] == AP_THRESHOLDS["bf16"] and rows["bf16"]["status"] == "ok"
    else:
        assert rows["int8+bf16"]["status"] == "skipped"
