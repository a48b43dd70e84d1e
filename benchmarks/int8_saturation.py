"""The int8 root cause on one quantized MatMul: ONNX Runtime's result against an exact integer reference.

The graph is what the int8 export writes for a linear layer: ``x → QuantizeLinear → DequantizeLinear`` (int8,
symmetric) and int8 per-channel weights behind a ``DequantizeLinear``, into a ``MatMul``; ONNX Runtime fuses it into
one integer kernel (``MatMulIntegerToFloat``). Two references are computed in numpy:

* **exact**: the int8 activations times the int8 weights summed in int32, then scaled;
* **int16 pairs**: what ``VPMADDUBSW`` computes on AVX2 CPUs without VNNI: activations made uint8 (+128, as ONNX
  Runtime does on x86), each pair of neighbouring products along K added in int16 *with saturation*, then int32.

On a VNNI CPU ONNX Runtime matches the exact reference for both weight ranges. Under ``--emulate`` (``qemu-x86_64
-cpu Haswell``, :mod:`benchmarks.emulation`) it matches the int16-pair reference: with 8-bit weights that is far
from exact, with 7-bit weights (|w| ≤ 64, no pair can pass 255 × 128 = 32640) the two references are equal::

    python -m benchmarks.int8_saturation            # this CPU
    python -m benchmarks.int8_saturation --emulate  # ONNX Runtime's AVX2 kernels
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import numpy as np

__all__ = ["one_matmul", "exact_reference", "int16_pair_reference", "measure"]

#: M×K activations, K×N weights (K a multiple of 4, as the kernels pack it)
M, K, N = 8, 64, 16


def one_matmul(weight_bits: int, seed: int = 0) -> tuple[bytes, np.ndarray, np.ndarray, np.ndarray, float]:
    """(serialized ONNX model, M×K float input, K×N int8 weights, N weight scales, activation scale). Row 0 of the
    input sits at the top of the activation range, where the uint8 operand is 255; the rest is uniform."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    w = rng.normal(size=(K, N)).astype(np.float32)
    qmax = 64 if weight_bits == 7 else 127  # ONNX Runtime's reduce_range / full symmetric int8 ranges
    w_scale = (np.abs(w).max(0) / qmax).astype(np.float32)
    wq = np.clip(np.round(w / w_scale), -qmax, qmax).astype(np.int8)
    x_scale = np.float32(1 / 127)
    x = rng.uniform(-1, 1, size=(M, K)).astype(np.float32)
    x[0] = 1.0
    consts = [
        numpy_helper.from_array(np.array(x_scale, np.float32), "x_scale"),
        numpy_helper.from_array(np.array(0, np.int8), "x_zero"),
        numpy_helper.from_array(wq, "w_q"),
        numpy_helper.from_array(w_scale, "w_scale"),
        numpy_helper.from_array(np.zeros(N, np.int8), "w_zero"),
    ]
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "x_scale", "x_zero"], ["x_q"]),
        helper.make_node("DequantizeLinear", ["x_q", "x_scale", "x_zero"], ["x_dq"]),
        helper.make_node("DequantizeLinear", ["w_q", "w_scale", "w_zero"], ["w_dq"], axis=1),
        helper.make_node("MatMul", ["x_dq", "w_dq"], ["y"]),
    ]
    graph = helper.make_graph(nodes, "one_matmul", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [M, K])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [M, N])], consts)  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    return model.SerializeToString(), x, wq, w_scale, float(x_scale)


def _quantize(x: np.ndarray, scale: float) -> np.ndarray:
    return np.clip(np.round(x / scale), -128, 127).astype(np.int64)  # np.round: half to even, as QuantizeLinear


def exact_reference(x: np.ndarray, wq: np.ndarray, w_scale: np.ndarray, x_scale: float) -> np.ndarray:
    """M×N: the int8 products summed exactly, then scaled."""
    return (_quantize(x, x_scale) @ wq.astype(np.int64)) * x_scale * w_scale.astype(np.float64)


def int16_pair_reference(x: np.ndarray, wq: np.ndarray, w_scale: np.ndarray, x_scale: float) -> np.ndarray:
    """M×N: uint8 activations (+128) times int8 weights, neighbouring pairs along K saturated to int16 (AVX2's
    VPMADDUBSW), summed in int32, less the zero point's 128 × column sum, then scaled."""
    u = _quantize(x, x_scale) + 128
    w = wq.astype(np.int64)
    pairs = u[:, 0::2, None] * w[None, 0::2] + u[:, 1::2, None] * w[None, 1::2]
    total = np.clip(pairs, -32768, 32767).sum(1) - 128 * w.sum(0)
    return total * x_scale * w_scale.astype(np.float64)


def measure(weight_bits: int) -> dict[str, float]:
    """ONNX Runtime on this (or the emulated) CPU against both references: max |difference| in output units."""
    import onnxruntime as ort

    model, x, wq, w_scale, x_scale = one_matmul(weight_bits)
    # a bare session, not runtime.backends.onnxruntime.ort_session: --emulate runs this under qemu, where importing
    # the runtime package (OpenCV) would cost more than the measurement
    options = ort.SessionOptions()
    options.log_severity_level = 3
    y = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    exact = exact_reference(x, wq, w_scale, x_scale)
    pairs = int16_pair_reference(x, wq, w_scale, x_scale)
    return {
        "vs_exact": float(np.abs(y - exact).max()),
        "vs_int16_pairs": float(np.abs(y - pairs).max()),
        "references_differ_by": float(np.abs(exact - pairs).max()),
        "output_scale": float(np.abs(exact).max()),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--emulate", action="store_true", help="run ONNX Runtime under qemu-x86_64 -cpu Haswell (AVX2)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    args = p.parse_args(argv)
    if args.emulate:
        from benchmarks.emulation import emulated_command

        cmd = emulated_command(["-m", "benchmarks.int8_saturation", *(["--json"] if args.json else [])])
        done = subprocess.run(cmd, capture_output=True, text=True)
        sys.stdout.write(done.stdout)
        return done.returncode
    from runtime.int8_cpu import int8_kernel

    results = {f"{bits}-bit": measure(bits) for bits in (8, 7)}
    kernel = int8_kernel()
    if args.json:
        print(json.dumps({"kernel": kernel.name, **results}))
        return 0
    print(f"ONNX Runtime on {kernel.name} ({kernel.description}); one {M}x{K} @ {K}x{N} int8 MatMul")
    print("weights  max|ORT - exact|  max|ORT - int16 pairs|  max|exact - int16 pairs|  max|exact|")
    for name, r in results.items():
        print(f"{name:8s} {r['vs_exact']:16.3g}  {r['vs_int16_pairs']:22.3g}  {r['references_differ_by']:24.3g}  "
              f"{r['output_scale']:.3g}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
