"""int8 that is right on every CPU family: the saturation proof on the graph, the kernels emulated, PoseEngine's rule.

The proof (``test_no_pair_sum_of_the_int8_graph_can_leave_int16_on_any_cpu``) walks the exported graph and holds
on any machine: it reads weights, not timings or one CPU's results. The kernel-family tests run ONNX Runtime (and
OpenVINO, on x86) on this host and on emulated CPUs of each family (tests/emulated.py: ``qemu-x86_64 -cpu Haswell``
for AVX2, ``qemu-aarch64 -cpu cortex-a57`` for arm64 NEON, ``-cpu neoverse-n1`` for dot products, ``-cpu Nehalem``
for SSE) and compare every result with references computed in numpy on the host, so their verdict is the same on any
host.
QEMU 7.2 emulates neither AVX-512 nor AVX-VNNI: those families are checked here only on hosts that have them
(``test_onnx_runtime_sums_as_the_named_family[here]``), and otherwise by the decision table below, which mirrors MLAS's
dispatch.
"""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

import runtime.engine
from benchmarks.emulation import CPUS
from benchmarks.int8_reference import kernel_sum, quantize, raw_activations
from benchmarks.int8_saturation import (
    EXTREMES,
    REFERENCES,
    UNSIGNED_ZERO_POINT,
    extremes_matmul,
    matmuls,
    measure,
    reference_of,
    unsigned_extremes_matmul,
)
from export.int8_check import max_weight_pair, quantized_ops, saturating_ops, weight_pair
from export.precision import int8_excluded_nodes, quantize_int8
from runtime import PoseEngine
from runtime.errors import ConfigError, PackageError, SaturatingInt8Error
from runtime.int8_cpu import INT16_MAX, KERNELS, int8_kernel, int8_speed_note

#: numpy's CPUID/HWCAP feature names and Linux's /proc/cpuinfo names for the same features
NUMPY_TO_LINUX = {
    "SSE3": "pni",
    "SSSE3": "ssse3",
    "SSE41": "sse4_1",
    "SSE42": "sse4_2",
    "POPCNT": "popcnt",
    "AVX": "avx",
    "F16C": "f16c",
    "FMA3": "fma",
    "AVX2": "avx2",
    "MOVBE": "movbe",
    "BMI": "bmi1",
    "BMI2": "bmi2",
    "LZCNT": "abm",
    "CX16": "cx16",
    "LAHF": "lahf_lm",
    "AVX512F": "avx512f",
    "AVX512BW": "avx512bw",
    "AVX512VNNI": "avx512_vnni",
    "ASIMD": "asimd",
    "ASIMDHP": "asimdhp",
    "ASIMDDP": "asimddp",
    "ASIMDFHM": "asimdfhm",
    "SVE": "sve",
}
_AVX512 = {"AVX2", "FMA3", "AVX512F", "AVX512BW", "AVX512DQ", "AVX512VL"}


@pytest.mark.parametrize(
    ("features", "machine", "kernel"),
    [
        ({"AVX2", "FMA3"}, "x86_64", "x86-avx2"),  # Haswell, Zen 2/3
        (_AVX512, "x86_64", "x86-avx2"),  # Skylake-X: AVX-512 without VNNI
        (_AVX512 | {"AVX512VNNI"}, "x86_64", "x86-vnni"),  # Cascade Lake, Zen 4/5
        ({"AVX2", "FMA3", "AVX_VNNI"}, "x86_64", "x86-vnni"),  # Alder Lake
        (_AVX512 | {"AVX_VNNI"}, "x86_64", "x86-avx2"),  # MLAS: AVX-512 core replaces AVX-VNNI's kernel
        (_AVX512 | {"AVX_VNNI", "AVX512VNNI"}, "x86_64", "x86-vnni"),  # Sapphire Rapids
        ({"AVX2"}, "x86_64", "other"),  # MLAS takes its AVX2 kernels with FMA only
        ({"SSE41", "SSE42"}, "x86_64", "other"),  # Nehalem: kernels that widen to int16
        ({"ASIMD", "ASIMDDP"}, "aarch64", "arm64-dot"),  # Graviton 2+, Jetson Orin
        ({"ASIMD"}, "aarch64", "arm64-neon"),  # Cortex-A53/A57 (Jetson Nano)
    ],
)
def test_kernel_family_follows_the_cpu_features(features, machine, kernel):
    assert int8_kernel(features, machine).name == kernel


@pytest.mark.parametrize(
    ("features", "machine", "kernel"),
    [
        ({"AVX2", "FMA3"}, "x86_64", "x86-avx2"),
        (_AVX512, "x86_64", "x86-avx2"),
        (_AVX512 | {"AVX512VNNI"}, "x86_64", "x86-vnni"),
        ({"AVX2", "FMA3", "AVX_VNNI"}, "x86_64", "x86-vnni"),
        ({"SSE41", "SSE42"}, "x86_64", "x86-sse"),  # oneDNN saturates pairs here too (PMADDUBSW); MLAS widens
        ({"ASIMD", "ASIMDDP"}, "aarch64", "arm64-neon"),  # OpenVINO's arm64 kernels wrap int16 pairs, dot or not
        ({"ASIMD"}, "aarch64", "arm64-neon"),
    ],
)
def test_openvino_kernel_family_follows_the_cpu_features(features, machine, kernel):
    assert int8_kernel(features, machine, runtime="openvino").name == kernel
    with pytest.raises(ConfigError, match="no int8 kernel rule for 'tensorrt'"):
        int8_kernel(features, machine, runtime="tensorrt")


def test_saturation_limits_are_the_int16_range():
    avx2, neon = KERNELS["x86-avx2"], KERNELS["arm64-neon"]
    assert not avx2.saturates(128) and avx2.saturates(129)  # 255 × 128 = 32640 ≤ 32767 < 255 × 129
    # 128 × 255 = 32640 (weights -128 and 127: the extremes are 32513 and -32512); 128 × 256 = 32768: two -128s
    assert not neon.saturates(255) and neon.saturates(256)
    assert not KERNELS["x86-vnni"].saturates(10**6) and not KERNELS["arm64-dot"].saturates(10**6)
    assert 255 * 128 <= INT16_MAX < 255 * 129


def test_kernel_references_are_hand_computable():
    """The three references on a 1×2 @ 2×1 product, by hand: one pair, a = (a₁, a₂), w = (w₁, w₂)."""
    exact, avx2, neon = (KERNELS[f] for f in ("x86-vnni", "x86-avx2", "arm64-neon"))
    a, w = np.array([[127, 127]]), np.array([[127], [127]])
    assert kernel_sum(exact, a, w) == 32258 == kernel_sum(neon, a, w)  # 2 × 127²
    assert kernel_sum(avx2, a, w) == 32767 - 128 * 254  # u = 255: 2 × 255 × 127 = 64770 saturates to 32767
    a, w = np.array([[-128, -128]]), np.array([[-128], [-128]])
    assert kernel_sum(exact, a, w) == 32768 == kernel_sum(avx2, a, w)  # u = 0: nothing to saturate
    assert kernel_sum(neon, a, w) == -32768  # 2 × 16384 wraps
    assert quantize(np.array([-2.0, 0.5, 1.5, 2.5, 300.0]), 1.0).tolist() == [-2, 0, 2, 2, 127]  # half to even


def test_kernel_references_multiply_the_stored_bytes_whatever_the_zero_point():
    """uint8 activations with zero point 77, by hand: the value is q - 77, but x86 multiplies the byte q and NEON
    the byte q - 128 (top bit flipped), and each corrects for the difference through the weights' sum."""
    exact, avx2, neon = (KERNELS[f] for f in ("x86-vnni", "x86-avx2", "arm64-neon"))
    q, w = np.array([[255, 255]]), np.array([[127], [127]])
    assert kernel_sum(exact, q, w, 77, np.uint8) == 2 * 178 * 127 == 45212 == kernel_sum(neon, q, w, 77, np.uint8)
    assert kernel_sum(avx2, q, w, 77, np.uint8) == 32767 - 77 * 254  # 2 × 255 × 127 = 64770 saturates
    q, w = np.array([[0, 0]]), np.array([[-128], [-128]])
    assert kernel_sum(exact, q, w, 77, np.uint8) == 2 * 77 * 128 == 19712 == kernel_sum(avx2, q, w, 77, np.uint8)
    assert kernel_sum(neon, q, w, 77, np.uint8) == 19712 - 65536  # the byte 0 is -128 there: 2 × 16384 wraps
    assert raw_activations(avx2, np.array([-128, 127]), np.int8).tolist() == [0, 255]
    assert raw_activations(neon, np.array([0, 255]), np.uint8).tolist() == [-128, 127]


def test_weight_pair_is_the_two_largest_magnitudes_of_one_channel():
    w = np.array([[10, -3], [-60, 2], [5, -64], [64, 1]], np.int8)  # K×N: channel 0 = [10, -60, 5, 64]
    assert weight_pair(w, 1) == (124, 64)  # |64| + |-60|; channel 1: 64 + 3 = 67
    conv = np.zeros((2, 3, 1, 1), np.int8)
    conv[0, :, 0, 0], conv[1, :, 0, 0] = [127, -127, 0], [1, 2, 3]
    assert weight_pair(conv, 0) == (254, 127)
    assert weight_pair(np.array([[7], [-9]], np.int8), 0) == (9, 9)  # a one-element channel pairs with nothing


def test_no_pair_sum_of_the_int8_graph_can_leave_int16_on_any_cpu(bundled_packages):
    """For every quantized MatMul/Conv, every activation reaches the kernel through a QuantizeLinear (so it is 8-bit
    whatever the input: any zero point, int8 or uint8) and the two largest weights of each output channel bound every
    pair sum. No weight is -128, the one value that can wrap a pair on arm64 NEON."""
    graph = onnx.load(str(bundled_packages["int8"] / "model.onnx"))
    ops = quantized_ops(graph)
    reads_int8_weights = [op for op in ops if op.weight is not None]
    assert len(reads_int8_weights) == len(ops) > 40  # every quantized op has a constant weight (attention is fp32)
    inits = {i.name: i for i in graph.graph.initializer}
    producers = {o: n for n in graph.graph.node for o in n.output}
    eight_bit = (onnx.TensorProto.INT8, onnx.TensorProto.UINT8)
    for node in graph.graph.node:
        if node.name in {op.node for op in ops}:
            dq = producers[node.input[0]]
            q = producers[dq.input[0]]
            assert q.op_type == "QuantizeLinear" and inits[q.input[2]].data_type in eight_bit
    for kernel in KERNELS.values():
        worst = [(op.node, bound) for op, bound in saturating_ops(graph, kernel)]
        assert worst == [], f"{len(worst)} ops can leave int16 on {kernel.name}"
    assert max(op.max_abs for op in ops) <= 64 and min(op.min_weight for op in ops) >= -64
    calibration = json.loads((bundled_packages["int8"] / "model.json").read_text())["calibration"]
    assert calibration["weight_bits"] == 7 and calibration["saturates_on"] == []
    assert calibration["max_weight_pair"] == max_weight_pair(graph) <= 128


def test_the_proof_fails_on_full_8bit_weights_and_on_a_weight_pair_of_minus_128(bundled_packages):
    """The previous recipe (8-bit weights): the same walk finds the ops that saturate on AVX2, not on arm64 NEON
    (symmetric weights stop at -127) nor on exact kernels. Two weights of -128 in one channel wrap on NEON, and the
    walk flags exactly that op there."""
    fp32 = onnx.load(str(bundled_packages["fp32"] / "model.onnx"))
    cache = bundled_packages["int8"] / "calibration.json"
    graph = quantize_int8(fp32, None, "minmax", cache, int8_excluded_nodes(fp32), weight_bits=8)
    ops = quantized_ops(graph)
    bad = saturating_ops(graph, KERNELS["x86-avx2"])
    assert len(bad) == len(ops) and all(bound > INT16_MAX for _, bound in bad)
    assert max_weight_pair(graph) > 128 and min(op.min_weight for op in ops) == -127
    for name in ("arm64-neon", "x86-vnni", "arm64-dot"):
        assert saturating_ops(graph, KERNELS[name]) == [], name
    matmul = next(op for op in ops if op.op_type == "MatMul")  # K×N: channel 0 is column 0
    init = next(i for i in graph.graph.initializer if i.name == matmul.weight)
    w = numpy_helper.to_array(init).copy()
    w[:2, 0] = -128
    init.CopyFrom(numpy_helper.from_array(w, init.name))
    assert [(op.node, bound) for op, bound in saturating_ops(graph, KERNELS["arm64-neon"])] == [(matmul.node, 32768)]


@pytest.mark.parametrize("cpu", sorted(CPUS))
def test_each_emulated_cpu_sees_its_own_cpu(emulated, cpu):
    """The emulated process runs on its model's architecture, is served that model's /proc/cpuinfo (not the host's),
    whose features agree with what numpy probes from the emulated CPUID/HWCAP, and so runtime.int8_cpu names the
    model's kernel family; the runtime never imports torch."""
    model, run = CPUS[cpu], emulated.results(cpu)
    assert str(run["cpu:machine"]) == model.arch
    assert str(run["cpu:cpuinfo"]) == model.cpuinfo()
    listed = set(model.flags)
    probed = {str(f) for f in run["cpu:features"]}
    disagree = {n for n, linux in NUMPY_TO_LINUX.items() if (n in probed) != (linux in listed) and n != "AVX_VNNI"}
    assert not disagree, f"the emulated CPUID/HWCAP and {cpu}'s cpuinfo disagree on {sorted(disagree)}"
    assert str(run["cpu:kernel"]) == model.kernel and not bool(run["cpu:torch"])


@pytest.mark.parametrize("cpu", ["here", *sorted(CPUS)])
def test_onnx_runtime_sums_as_the_named_family(emulated, cpu):
    """The product's rule against the kernels: on each CPU ONNX Runtime's four MatMuls match, within fp32 rounding,
    the reference of the family runtime.int8_cpu names *in that process*, and on the two extremes MatMuls (int8
    activations, and uint8 ones with a zero point of 77) no other reference does (each differs from the other two by
    far more than rounding)."""
    run = emulated.results(cpu)
    kernel = str(run["cpu:kernel"])
    expected = reference_of(KERNELS[kernel])
    for name in matmuls():
        r = measure(name, run[f"{name}:y"])
        assert r[expected] <= r["fp32_error"], (cpu, kernel, name, r)
        if name in EXTREMES:
            others = [ref for ref in REFERENCES if ref != expected]
            assert all(r[ref] > 1000 * r["fp32_error"] for ref in others), (cpu, kernel, r)


#: the emulated CPUs that run OpenVINO: this host's wheel on x86, the arm64 sysroot's (the host's version) on arm64
OPENVINO_CPUS = sorted(CPUS)
#: those on which the bf16 refusal is checked (OpenVINO's ARM plugin has no bf16 path to refuse)
OPENVINO_X86_CPUS = sorted(c for c, model in CPUS.items() if model.arch == "x86_64")


def _openvino_results(emulated, cpu):
    run = emulated.results(cpu)
    if "ov-extremes:y" not in run:
        if os.environ.get("CI"):
            pytest.fail("CI installs OpenVINO (the dev extra), but the CPU matrix ran no OpenVINO graph")
        pytest.skip("OpenVINO is not installed: pip install 'swinpose[openvino]', then prepare the arm64 sysroot again")
    return run


@pytest.mark.parametrize("cpu", ["here", *OPENVINO_CPUS])
def test_openvino_sums_as_the_named_family(emulated, cpu):
    """As test_onnx_runtime_sums_as_the_named_family, for OpenVINO's CPU plugin and the family runtime.int8_cpu
    names for it in that process (on Nehalem it saturates where ONNX Runtime is exact, on Neoverse-N1 it wraps where
    ONNX Runtime's dot products are exact)."""
    run = _openvino_results(emulated, cpu)
    kernel = str(run["cpu:kernel:openvino"])
    expected = reference_of(KERNELS[kernel])
    for name in matmuls():
        r = measure(name, run[f"ov-{name}:y"])
        assert r[expected] <= r["fp32_error"], (cpu, kernel, name, r)
        if name in EXTREMES:
            others = [ref for ref in REFERENCES if ref != expected]
            assert all(r[ref] > 1000 * r["fp32_error"] for ref in others), (cpu, kernel, r)


@pytest.mark.parametrize("cpu", OPENVINO_CPUS)
def test_openvino_backend_compiles_f32_where_openvino_would_pick_f16(emulated, cpu):
    """The backend always sets its precision hint: on Neoverse-N1 OpenVINO's own default is f16 (it lists FP16), and
    the backend still compiles the fp32 graph for f32, as on every other CPU. Only the emulated CPUs' capabilities
    are fixed (QEMU's models); this host's depend on the host (AVX512-FP16, AMX), so only its f32 is checked."""
    run = _openvino_results(emulated, cpu)
    assert str(run["ov-fp32:error"]) == "" and str(run["ov-fp32:precision"]) == "f32", run["ov-fp32:error"]
    capabilities = {str(c) for c in run["cpu:openvino"]}
    if cpu != "here":  # QEMU's x86 models have no AVX512-FP16; its Neoverse-N1 has fp16 arithmetic
        assert ("FP16" in capabilities) == (cpu == "neoverse-n1"), capabilities


@pytest.mark.parametrize("cpu", OPENVINO_X86_CPUS)
def test_openvino_refuses_bf16_on_a_cpu_without_it(emulated, cpu):
    """QEMU emulates no AVX-512, so no emulated CPU has bf16: OpenVINO there lists no BF16 and would run f32 under a
    bf16 hint; the backend refuses to open instead, naming the CPU flags bf16 needs."""
    run = _openvino_results(emulated, cpu)
    assert "BF16" not in {str(c) for c in run["cpu:openvino"]} and "INT8" in {str(c) for c in run["cpu:openvino"]}
    error = str(run["ov-bf16:error"])
    assert error.startswith("UnsupportedPrecisionError: bf16 inference needs a CPU with avx512_bf16 or amx_bf16")


def test_the_extremes_separate_the_three_references():
    """The references differ where the docstrings say: row 0 × column 0 saturates, row 1 × column 1 wraps, with int8
    activations (127 and -128) and with uint8 ones (bytes 255 and 0, zero point 77)."""
    for matmul, top, bottom in ((extremes_matmul(), 127, -128), (unsigned_extremes_matmul(), 255, 0)):
        q, zero, wq = matmul.activations(), int(matmul.x_zero), matmul.wq
        exact, avx2, neon = (
            kernel_sum(KERNELS[f], q, wq, zero, matmul.x_zero.dtype.type)
            for f in ("x86-vnni", "x86-avx2", "arm64-neon")
        )
        assert (q[0] == top).all() and (q[1] == bottom).all() and (wq[:, 0] == 127).all() and (wq[:, 1] == -128).all()
        assert exact[0, 0] == 64 * (top - zero) * 127 != avx2[0, 0] and neon[0, 0] == exact[0, 0]
        assert exact[1, 1] == 64 * (bottom - zero) * -128 == avx2[1, 1] and neon[1, 1] != exact[1, 1]
    assert UNSIGNED_ZERO_POINT not in (0, 128)


@pytest.mark.parametrize("weight_bits", [7, 8])
@pytest.mark.parametrize(
    ("runtime", "cpu"),
    [*(("onnxruntime", c) for c in ["here", *sorted(CPUS)]), *(("openvino", c) for c in ["here", *OPENVINO_CPUS])],
)
def test_every_quantized_op_sums_exactly_where_the_rule_says(emulated, runtime, cpu, weight_bits):
    """Each quantized MatMul/Conv of the bundled int8 graph, fed the same bytes, against its exact value computed in
    numpy from its integer inputs (tests/emulated.py), run by ONNX Runtime and by OpenVINO. With 7-bit weights
    every op is exact on every family; with 8-bit weights so it is where int8_cpu says the graph cannot saturate
    (VNNI, dot products, and NEON, since symmetric weights never reach -128), and on AVX2 (and OpenVINO's SSE) most
    ops are not: the check can fail."""
    graph = emulated.ops(weight_bits)
    run = _openvino_results(emulated, cpu) if runtime == "openvino" else emulated.results(cpu)
    kernel = KERNELS[str(run["cpu:kernel:openvino" if runtime == "openvino" else "cpu:kernel"])]
    assert len(graph.steps) == len(quantized_ops(graph.model)) > 40
    agree = emulated.op_agreement(cpu, weight_bits, runtime)
    if saturating_ops(graph.model, kernel):
        assert sum(not ok for ok in agree.values()) > len(agree) // 2, (cpu, kernel.name)
    else:
        assert all(agree.values()), (cpu, kernel.name, [n for n, ok in agree.items() if not ok])


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
    monkeypatch.setattr(runtime.engine, "int8_kernel", lambda **_: KERNELS["x86-avx2"])
    with pytest.raises(SaturatingInt8Error, match="can saturate on this CPU.*7-bit weights.*allow_int8_saturation"):
        PoseEngine(package)
    PoseEngine(package, allow_int8_saturation=True).close()
    monkeypatch.setattr(runtime.engine, "int8_kernel", lambda **_: KERNELS["arm64-neon"])  # 128 × 254 fits in int16
    PoseEngine(package).close()
    monkeypatch.setattr(runtime.engine, "int8_kernel", lambda **_: KERNELS["x86-vnni"])
    PoseEngine(package).close()
    assert issubclass(SaturatingInt8Error, PackageError)


def test_pose_engine_asks_each_runtime_for_its_own_kernel_family(bundled_packages, tmp_path, monkeypatch):
    """An 8-bit graph on a CPU without AVX2: OpenVINO saturates its pairs there (x86-sse) and is refused, ONNX
    Runtime widens them (other) and runs it."""
    pytest.importorskip("openvino", reason="OpenVINO is not installed: pip install 'swinpose[openvino]'")
    package = _with_weight_pair(bundled_packages["int8"], tmp_path / "pk", 254)
    asked = []

    def kernel(runtime="onnxruntime"):
        asked.append(runtime)
        return int8_kernel({"SSE41", "SSE42"}, "x86_64", runtime)

    monkeypatch.setattr(runtime.engine, "int8_kernel", kernel)
    with pytest.raises(SaturatingInt8Error, match="can saturate on this CPU, which has x86 without AVX2"):
        PoseEngine(package, backend="openvino")
    PoseEngine(package, backend="onnxruntime").close()
    assert asked == ["openvino", "onnxruntime"]


def test_bench_shows_a_saturating_package_as_a_skipped_row(bundled_packages, tmp_path, monkeypatch):
    from benchmarks.runners import find_packages, open_combo

    package = _with_weight_pair(bundled_packages["int8"], tmp_path / "pk" / "int8", 254)
    monkeypatch.setattr(runtime.engine, "int8_kernel", lambda **_: KERNELS["x86-avx2"])
    combo = open_combo("onnxruntime", "int8", find_packages(package), package)
    assert combo.engine is None and "can saturate on this CPU" in combo.skipped


def test_pose_engine_runs_the_7bit_graph_on_every_kernel_family(bundled_packages, monkeypatch):
    for kernel in KERNELS.values():
        monkeypatch.setattr(runtime.engine, "int8_kernel", lambda kernel=kernel, **_: kernel)
        PoseEngine(bundled_packages["int8"]).close()


def test_speed_note_only_where_int8_measured_no_faster():
    assert "no faster than fp32" in int8_speed_note(KERNELS["x86-avx2"])
    assert int8_speed_note(KERNELS["x86-vnni"]) is None and int8_speed_note(KERNELS["arm64-dot"]) is None


def test_export_and_latency_clis_say_int8_is_no_faster_on_an_avx2_cpu(
    bundled_packages, cached_onnx, tmp_path, monkeypatch, capsys
):
    import runtime.int8_cpu
    from benchmarks.cli import main as bench
    from export.cli import main as export

    monkeypatch.setattr(runtime.int8_cpu, "int8_kernel", lambda: KERNELS["x86-avx2"])
    argv = ["--weights", "bundled", "--int8", "--calib-cache", str(bundled_packages["int8"]), "--quiet"]
    assert export([*argv, "--out", str(tmp_path / "pk")]) == 0
    notes = [line for line in capsys.readouterr().out.splitlines() if "no faster than fp32" in line]
    assert len(notes) == 1 and notes[0].startswith("swinpose-export: this CPU has x86 with AVX2 and no VNNI")
    assert (
        bench(
            [
                "latency",
                "--package",
                str(tmp_path / "pk"),
                "--backends",
                "onnxruntime",
                "--precisions",
                "int8",
                "--batch",
                "1",
                "--iters",
                "2",
                "--warmup",
                "1",
                "--quiet",
            ]
        )
        == 0
    )
    assert sum("no faster than fp32" in line for line in capsys.readouterr().out.splitlines()) == 1
    monkeypatch.setattr(runtime.int8_cpu, "int8_kernel", lambda: KERNELS["x86-vnni"])
    assert export([*argv, "--out", str(tmp_path / "pk2")]) == 0
    assert "no faster" not in capsys.readouterr().out


def test_the_cpu_matrix_report_has_a_row_per_runtime_and_cpu(emulated):
    """benchmarks.cpu_matrix's Markdown (BENCHMARKS.md's table): ONNX Runtime's and OpenVINO's rows for every CPU,
    each naming the family its process reported, whose reference its extremes matched."""
    from benchmarks.cpu_matrix import report

    cpus = sorted(CPUS)
    for cpu in ["here", *cpus]:
        _openvino_results(emulated, cpu)  # skips where OpenVINO is missing
    lines = report(emulated, cpus)
    rows = [line.split(" | ") for line in lines[2 : 2 + 2 * (len(cpus) + 1)]]
    assert [r[1] for r in rows] == ["onnxruntime"] * (len(cpus) + 1) + ["openvino"] * (len(cpus) + 1)
    for cpu, row in zip(["here", *cpus] * 2, rows):
        run = emulated.results(cpu)
        assert row[2] == str(run["cpu:kernel" if row[1] == "onnxruntime" else "cpu:kernel:openvino"]), row
        assert row[3] == row[4] == row[5], row  # both extremes match the named family's reference, and only it
