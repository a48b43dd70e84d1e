"""int8 that is right on every CPU family: the saturation proof on the graph, the kernels emulated, PoseEngine's rule.

The proof (``test_no_pair_sum_of_the_int8_graph_can_leave_int16_on_any_cpu``) walks the exported graph and holds
on any machine: it reads weights, not timings or one CPU's results. The emulated tests run ONNX Runtime's AVX2
kernels under ``qemu-x86_64 -cpu Haswell`` (Debian's qemu-user; the README's test command installs it) and skip,
saying so, where the emulator is missing.
"""

from __future__ import annotations

import json
import platform
import shutil
import subprocess

import numpy as np
import onnx
import pytest

import runtime.engine
from benchmarks.emulation import EMULATED_CPU, EXACT_INT8_CPU, emulated_command, emulated_run
from benchmarks.int8_saturation import exact_reference, int16_pair_reference, one_matmul
from export.calibration import synthetic_set
from export.int8_check import isolate_quantized_ops, max_weight_pair, quantized_ops, saturating_ops, weight_pair
from export.onnx_export import ort_session
from export.precision import int8_excluded_nodes, quantize_int8
from runtime import PoseEngine
from runtime.codec import HeatmapCodec
from runtime.errors import PackageError, SaturatingInt8Error
from runtime.int8_cpu import INT16_MAX, KERNELS, int8_kernel, int8_speed_note
from swinpose.defaults import inference_for_codec

#: the bundled model's pre-processing (our training's, at 128×96)
BUNDLED_PRE = inference_for_codec(HeatmapCodec((128, 96), (32, 24), 1.5)).preprocess

needs_qemu = pytest.mark.skipif(
    shutil.which("qemu-x86_64") is None or platform.machine() not in ("x86_64", "AMD64"),
    reason="needs qemu-x86_64 on an x86-64 host (it runs this interpreter): apt-get install qemu-user",
)


@pytest.mark.parametrize(
    ("features", "machine", "kernel"),
    [
        ({"AVX2", "FMA3"}, "x86_64", "x86-avx2"),  # Haswell, Zen 2/3
        ({"AVX2", "AVX512F", "AVX512BW"}, "x86_64", "x86-avx2"),  # Skylake-X: AVX-512 without VNNI
        ({"AVX2", "AVX512F", "AVX512BW", "AVX512VNNI"}, "x86_64", "x86-vnni"),  # Cascade Lake, Zen 4
        ({"AVX2", "AVX_VNNI"}, "x86_64", "x86-vnni"),  # Alder Lake
        ({"SSE41", "SSE42"}, "x86_64", "other"),  # portable int32 kernels (checked under qemu -cpu Nehalem)
        ({"ASIMD", "ASIMDDP"}, "aarch64", "arm64-dot"),  # Graviton 2+, Jetson Orin
        ({"ASIMD"}, "aarch64", "arm64-neon"),  # Cortex-A53/A57 (Jetson Nano)
    ],
)
def test_kernel_family_follows_the_cpu_features(features, machine, kernel):
    assert int8_kernel(features, machine).name == kernel


def test_saturation_limits_are_the_int16_range():
    avx2, neon = KERNELS["x86-avx2"], KERNELS["arm64-neon"]
    assert not avx2.saturates(128) and avx2.saturates(129)  # 255 × 128 = 32640 ≤ 32767 < 255 × 129
    assert not neon.saturates(255) and neon.saturates(256)  # 128 × 255 = 32640; 128 × 256 = 32768
    assert not KERNELS["x86-vnni"].saturates(10**6) and not KERNELS["arm64-dot"].saturates(10**6)
    assert 255 * 128 <= INT16_MAX < 255 * 129


def test_weight_pair_is_the_two_largest_magnitudes_of_one_channel():
    w = np.array([[10, -3], [-60, 2], [5, -64], [64, 1]], np.int8)  # K×N: channel 0 = [10, -60, 5, 64]
    assert weight_pair(w, 1) == (124, 64)  # |64| + |-60|; channel 1: 64 + 3 = 67
    conv = np.zeros((2, 3, 1, 1), np.int8)
    conv[0, :, 0, 0], conv[1, :, 0, 0] = [127, -127, 0], [1, 2, 3]
    assert weight_pair(conv, 0) == (254, 127)
    assert weight_pair(np.array([[7], [-9]], np.int8), 0) == (9, 9)  # a one-element channel pairs with nothing


def test_no_pair_sum_of_the_int8_graph_can_leave_int16_on_any_cpu(bundled_packages):
    """For every quantized MatMul/Conv, every activation reaches the kernel through a QuantizeLinear (so it is 8-bit
    whatever the input) and the two largest weights of each output channel bound every pair sum."""
    graph = onnx.load(str(bundled_packages["int8"] / "model.onnx"))
    ops = quantized_ops(graph)
    reads_int8_weights = [op for op in ops if op.weight is not None]
    assert len(reads_int8_weights) == len(ops) > 40  # every quantized op has a constant weight (attention is fp32)
    inits = {i.name: i for i in graph.graph.initializer}
    producers = {o: n for n in graph.graph.node for o in n.output}
    for node in graph.graph.node:
        if node.name in {op.node for op in ops}:
            dq = producers[node.input[0]]
            q = producers[dq.input[0]]
            assert q.op_type == "QuantizeLinear" and inits[q.input[2]].data_type == onnx.TensorProto.INT8
    for kernel in KERNELS.values():
        worst = [(op.node, bound) for op, bound in saturating_ops(graph, kernel)]
        assert worst == [], f"{len(worst)} ops can leave int16 on {kernel.name}"
    assert max(op.max_abs for op in ops) <= 64
    calibration = json.loads((bundled_packages["int8"] / "model.json").read_text())["calibration"]
    assert calibration["weight_bits"] == 7 and calibration["saturates_on"] == []
    assert calibration["max_weight_pair"] == max_weight_pair(graph) <= 128


def test_the_proof_fails_on_full_8bit_weights(bundled_packages):
    """The previous recipe (8-bit weights): the same walk finds the ops that saturate on AVX2, not on arm64 NEON
    (whose s8 activations stop at 128) nor on exact kernels."""
    fp32 = onnx.load(str(bundled_packages["fp32"] / "model.onnx"))
    cache = bundled_packages["int8"] / "calibration.json"
    graph = quantize_int8(fp32, None, "minmax", cache, int8_excluded_nodes(fp32), weight_bits=8)
    bad = saturating_ops(graph, KERNELS["x86-avx2"])
    assert len(bad) == len(quantized_ops(graph)) and all(bound > INT16_MAX for _, bound in bad)
    assert max_weight_pair(graph) > 128
    for name in ("arm64-neon", "x86-vnni", "arm64-dot"):
        assert saturating_ops(graph, KERNELS[name]) == [], name


@needs_qemu
def test_one_quantized_matmul_on_emulated_avx2_saturates_only_with_8bit_weights():
    """Root cause: ONNX Runtime's AVX2 kernel computes the int16-pair reference exactly; with 8-bit weights that
    is far from the exact integer result, with 7-bit weights it is the exact result."""
    done = subprocess.run(emulated_command(["-m", "benchmarks.int8_saturation", "--json"]), capture_output=True,
                          text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    assert result["kernel"] == "x86-avx2"  # the emulated CPUID reaches numpy's probe
    eight, seven = result["8-bit"], result["7-bit"]
    float_error = 1e-5 * eight["output_scale"]  # the result is scaled in fp32: a few ulps of the largest output
    assert eight["vs_int16_pairs"] <= float_error < 0.1 * eight["references_differ_by"] <= eight["vs_exact"]
    assert seven["references_differ_by"] == 0 and seven["vs_exact"] <= float_error


def test_one_quantized_matmul_here_matches_a_reference():
    """On this CPU: exact where the kernel is exact, the int16-pair reference where it is not."""
    from benchmarks.int8_saturation import measure

    kernel = int8_kernel()
    for bits in (7, 8):
        r = measure(bits)
        key = "vs_int16_pairs" if kernel.name == "x86-avx2" else "vs_exact"
        assert r[key] <= 1e-5 * r["output_scale"], (bits, r)
    model, x, wq, w_scale, x_scale = one_matmul(8)
    assert np.abs(exact_reference(x, wq, w_scale, x_scale) - int16_pair_reference(x, wq, w_scale, x_scale)).max() > 1


def _op_by_op(graph: onnx.ModelProto, folder) -> tuple[dict, dict, dict]:
    """Each quantized op of ``graph`` fed the same bytes (captured here for 8 synthetic crops) on two emulated
    CPUs: (its outputs on the exact portable kernels, on the AVX2 kernels, their quantization steps). Both runs
    are emulated, so the comparison is the same whatever CPU runs the test."""
    forced, feeds, steps = isolate_quantized_ops(graph)
    capture = onnx.ModelProto()
    capture.CopyFrom(graph)
    capture.graph.output.extend(onnx.helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, None)
                                for n in feeds.values())  # fmt: skip
    inputs = synthetic_set(8, BUNDLED_PRE).inputs()
    values = dict(zip(feeds.values(), ort_session(capture).run(list(feeds.values()), {"input": inputs})))
    forced_feeds = {"input": inputs, **{new: values[old] for new, old in feeds.items()}}
    path = folder / "forced.onnx"
    onnx.save(forced, path)
    exact = emulated_run(path, forced_feeds, cpu=EXACT_INT8_CPU, threads=1, timeout=600)
    avx2 = emulated_run(path, forced_feeds, cpu=EMULATED_CPU, threads=1, timeout=600)
    return exact, avx2, steps


def _agree(a: np.ndarray, b: np.ndarray, step: float) -> bool:
    """Equal up to what the op's fp32 epilogue (int32 → float, scale, bias) can round differently: a few ulps of the
    output, and for a requantized output one step where the fp32 value sits on a rounding boundary."""
    ulps = 4 * np.spacing(np.float32(np.abs(a).max()))
    return bool(np.abs(a - b).max() <= max(ulps, step * 1.001))


@needs_qemu
@pytest.mark.parametrize("weight_bits", [7, 8])
def test_every_quantized_op_sums_exactly_on_emulated_avx2_with_7bit_weights(bundled_packages, tmp_path, weight_bits):
    """Second proof, op by op: each quantized MatMul/Conv gets the same input bytes on the emulated AVX2 kernels
    and on the emulated exact (portable int32) kernels. With 7-bit weights every one of them agrees; the previous
    8-bit recipe breaks most of them."""
    fp32 = onnx.load(str(bundled_packages["fp32"] / "model.onnx"))
    cache = bundled_packages["int8"] / "calibration.json"
    graph = quantize_int8(fp32, None, "minmax", cache, int8_excluded_nodes(fp32), weight_bits=weight_bits)
    exact, avx2, steps = _op_by_op(graph, tmp_path)
    assert len(steps) == len(quantized_ops(graph)) > 40
    agree = {name: _agree(exact[name], avx2[name], step) for name, step in steps.items()}
    if weight_bits == 7:
        assert all(agree.values()), [n for n, ok in agree.items() if not ok]
    else:  # the check can fail: 8-bit weights saturate in most ops on AVX2
        assert sum(not ok for ok in agree.values()) > len(agree) // 2


def _with_weight_pair(src, dst, pair):
    shutil.copytree(src, dst)
    data = json.loads((dst / "model.json").read_text())
    if pair is None:
        for key in ("weight_bits", "max_weight_pair", "saturates_on"):
            del data["calibration"][key]
    else:
        data["calibration"]["max_weight_pair"] = pair
    (dst / "model.json").write_text(json.dumps(data))
    return dst


@pytest.mark.parametrize("pair", [254, None], ids=["8-bit", "exported-before-the-field"])
def test_pose_engine_refuses_a_saturating_graph_on_an_avx2_cpu(bundled_packages, tmp_path, monkeypatch, pair):
    package = _with_weight_pair(bundled_packages["int8"], tmp_path / "pk", pair)
    monkeypatch.setattr(runtime.engine, "int8_kernel", lambda: KERNELS["x86-avx2"])
    with pytest.raises(SaturatingInt8Error, match="can saturate on this CPU.*7-bit weights.*allow_int8_saturation"):
        PoseEngine(package)
    PoseEngine(package, allow_int8_saturation=True).close()
    monkeypatch.setattr(runtime.engine, "int8_kernel", lambda: KERNELS["arm64-neon"])  # 128 × 254 fits in int16
    PoseEngine(package).close()
    monkeypatch.setattr(runtime.engine, "int8_kernel", lambda: KERNELS["x86-vnni"])
    PoseEngine(package).close()
    assert issubclass(SaturatingInt8Error, PackageError)


def test_bench_shows_a_saturating_package_as_a_skipped_row(bundled_packages, tmp_path, monkeypatch):
    from benchmarks.runners import find_packages, open_combo

    package = _with_weight_pair(bundled_packages["int8"], tmp_path / "pk" / "int8", 254)
    monkeypatch.setattr(runtime.engine, "int8_kernel", lambda: KERNELS["x86-avx2"])
    combo = open_combo("onnxruntime", "int8", find_packages(package), package)
    assert combo.engine is None and "can saturate on this CPU" in combo.skipped


def test_pose_engine_runs_the_7bit_graph_on_every_kernel_family(bundled_packages, monkeypatch):
    for kernel in KERNELS.values():
        monkeypatch.setattr(runtime.engine, "int8_kernel", lambda kernel=kernel: kernel)
        PoseEngine(bundled_packages["int8"]).close()


def test_speed_note_only_where_int8_measured_no_faster():
    assert "no faster than fp32" in int8_speed_note(KERNELS["x86-avx2"])
    assert int8_speed_note(KERNELS["x86-vnni"]) is None and int8_speed_note(KERNELS["arm64-dot"]) is None


def test_export_and_latency_clis_say_int8_is_no_faster_on_an_avx2_cpu(bundled_packages, cached_onnx, tmp_path,
                                                                     monkeypatch, capsys):  # fmt: skip
    import runtime.int8_cpu
    from benchmarks.cli import main as bench
    from export.cli import main as export

    monkeypatch.setattr(runtime.int8_cpu, "int8_kernel", lambda: KERNELS["x86-avx2"])
    argv = ["--weights", "bundled", "--int8", "--calib-cache", str(bundled_packages["int8"]), "--quiet"]
    assert export([*argv, "--out", str(tmp_path / "pk")]) == 0
    notes = [line for line in capsys.readouterr().out.splitlines() if "no faster than fp32" in line]
    assert len(notes) == 1 and notes[0].startswith("swinpose-export: this CPU has x86 with AVX2 and no VNNI")
    assert bench(["latency", "--package", str(tmp_path / "pk"), "--backends", "onnxruntime", "--precisions", "int8",
                  "--batch", "1", "--iters", "2", "--warmup", "1", "--quiet"]) == 0  # fmt: skip
    assert sum("no faster than fp32" in line for line in capsys.readouterr().out.splitlines()) == 1
    monkeypatch.setattr(runtime.int8_cpu, "int8_kernel", lambda: KERNELS["x86-vnni"])
    assert export([*argv, "--out", str(tmp_path / "pk2")]) == 0
    assert "no faster" not in capsys.readouterr().out
