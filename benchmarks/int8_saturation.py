"""Which arithmetic ONNX Runtime's int8 kernels perform on a CPU, shown on single quantized MatMuls.

Each graph is what the int8 export writes for a linear layer: ``x → QuantizeLinear → DequantizeLinear`` (int8,
symmetric) and int8 per-channel weights behind a ``DequantizeLinear``, into a ``MatMul``, which ONNX Runtime fuses into
one integer kernel (``MatMulIntegerToFloat``). Its output is compared with three references computed in numpy on the
host (:func:`benchmarks.int8_reference.kernel_sum`), one per way a kernel family sums (:mod:`runtime.int8_cpu`):

* **exact**: products summed in int32 (x86-vnni, arm64-dot, other);
* **saturating int16 pairs**: u8×s8 pairs saturated to int16 (x86-avx2's ``VPMADDUBSW``);
* **wrapping int16 pairs**: s8×s8 pairs wrapped to int16 (arm64-neon's ``SMULL``+``SMLAL``).

Three MatMuls, M×K @ K×N: **8-bit** and **7-bit** random weights (row 0 at the top of the activation range), and
**extremes**, whose rows and columns are constant at the ends of the int8 range (activations 127 and -128, weights
127 and -128), where each reference differs from the other two whichever products a kernel pairs::

    python -m benchmarks.int8_saturation                    # this CPU
    python -m benchmarks.int8_saturation --cpu haswell      # ONNX Runtime's AVX2 kernels (qemu-x86_64)
    python -m benchmarks.int8_saturation --cpu cortex-a57   # arm64 NEON, as on a Jetson Nano (qemu-aarch64)
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

from benchmarks.int8_reference import kernel_sum, quantize
from runtime.int8_cpu import KERNELS, Int8Kernel, int8_kernel

__all__ = ["M", "K", "N", "REFERENCES", "one_matmul", "extremes_matmul", "matmuls", "reference_of", "measure",
           "run_here", "run_emulated"]  # fmt: skip

#: M×K activations, K×N weights (K a multiple of 4, as the kernels pack it)
M, K, N = 8, 64, 16
#: each reference and a kernel family that sums that way
REFERENCES = {"exact": "x86-vnni", "saturating int16 pairs": "x86-avx2", "wrapping int16 pairs": "arm64-neon"}
_X_SCALE = 1 / 127


def _graph(wq: np.ndarray, w_scale: np.ndarray) -> bytes:
    from onnx import TensorProto, helper, numpy_helper

    consts = [
        numpy_helper.from_array(np.array(_X_SCALE, np.float32), "x_scale"),
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
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


def one_matmul(weight_bits: int, seed: int = 0) -> tuple[bytes, np.ndarray, np.ndarray, np.ndarray, float]:
    """(serialized ONNX model, M×K float input, K×N int8 weights, N weight scales, activation scale) with random
    ``weight_bits`` weights. Row 0 of the input sits at the top of the activation range, where the uint8 operand of
    x86 kernels is 255; the rest is uniform."""
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(K, N)).astype(np.float32)
    qmax = 64 if weight_bits == 7 else 127  # ONNX Runtime's reduce_range / full symmetric int8 ranges
    w_scale = (np.abs(w).max(0) / qmax).astype(np.float32)
    wq = np.clip(np.round(w / w_scale), -qmax, qmax).astype(np.int8)
    x = rng.uniform(-1, 1, size=(M, K)).astype(np.float32)
    x[0] = 1.0
    return _graph(wq, w_scale), x, wq, w_scale, _X_SCALE


def extremes_matmul(seed: int = 0) -> tuple[bytes, np.ndarray, np.ndarray, np.ndarray, float]:
    """As :func:`one_matmul`, with rows 0 and 1 at activations 127 and -128 (input 1 and -2, clipped) and columns
    0 and 1 at weights 127 and -128; the other columns are random 8-bit weights. Row 0 × column 0 saturates on
    x86-avx2 (255·127 twice) and row 1 × column 1 wraps on arm64-neon ((-128)·(-128) twice)."""
    _, x, wq, w_scale, _ = one_matmul(8, seed)
    x[0], x[1] = 1.0, -2.0
    wq[:, 0], wq[:, 1] = 127, -128
    w_scale[:2] = 1 / 127
    return _graph(wq, w_scale), x, wq, w_scale, _X_SCALE


def matmuls() -> dict[str, tuple[bytes, np.ndarray, np.ndarray, np.ndarray, float]]:
    """The three MatMuls by name: ``8-bit``, ``7-bit``, ``extremes``."""
    return {"8-bit": one_matmul(8), "7-bit": one_matmul(7), "extremes": extremes_matmul()}


def reference_of(kernel: Int8Kernel) -> str:
    """The name of the reference whose arithmetic ``kernel`` performs."""
    return next(name for name, family in REFERENCES.items() if KERNELS[family].overflow == kernel.overflow)


def measure(name: str, y: np.ndarray) -> dict[str, float]:
    """ONNX Runtime's output ``y`` of the MatMul ``name`` against each reference: max |difference| in output units,
    keyed by reference, with ``output_scale`` (max |exact|) and ``fp32_error``, the most an fp32 epilogue can round
    (4 ulps of the largest output)."""
    _, x, wq, w_scale, x_scale = matmuls()[name]
    a = quantize(x, x_scale)
    scale = x_scale * w_scale.astype(np.float64)
    refs = {ref: kernel_sum(KERNELS[family], a, wq) * scale for ref, family in REFERENCES.items()}
    result = {ref: float(np.abs(np.asarray(y, np.float64) - value).max()) for ref, value in refs.items()}
    result["output_scale"] = float(np.abs(refs["exact"]).max())
    result["fp32_error"] = float(4 * np.spacing(np.float32(result["output_scale"])))
    return result


def run_here() -> dict[str, np.ndarray]:
    """Each MatMul's output from ONNX Runtime on this CPU, by name."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    outputs = {}
    for name, (model, x, *_) in matmuls().items():
        session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        outputs[name] = session.run(None, {"x": x})[0]
    return outputs


def run_emulated(cpu: str) -> tuple[str, dict[str, np.ndarray]]:
    """(the kernel family :mod:`runtime.int8_cpu` names inside the emulated process, each MatMul's output there)."""
    from benchmarks.emulation import GraphJob, run_jobs

    with tempfile.TemporaryDirectory(prefix="swinpose-int8-") as tmp:
        jobs = []
        for name, (model, x, *_) in matmuls().items():
            (Path(tmp) / f"{name}.onnx").write_bytes(model)
            jobs.append(GraphJob(name, Path(tmp) / f"{name}.onnx", {"x": x}))
        out = run_jobs(cpu, jobs)
    return str(out["cpu:kernel"]), {name: out[f"{name}:y"] for name in matmuls()}


def main(argv: list[str] | None = None) -> int:
    from benchmarks.emulation.cpus import CPUS
    from runtime.exitcodes import run_guarded

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cpu", choices=sorted(CPUS), help="run ONNX Runtime on this emulated CPU (qemu-user)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    return run_guarded(p.prog, _main, p.parse_args(argv))


def _main(args: argparse.Namespace) -> int:
    kernel, outputs = run_emulated(args.cpu) if args.cpu else (int8_kernel().name, run_here())
    results = {name: measure(name, y) for name, y in outputs.items()}
    if args.json:
        print(json.dumps({"kernel": kernel, **results}))
        return 0
    where = f"emulated {args.cpu}" if args.cpu else "this CPU"
    print(f"ONNX Runtime on {where} ({kernel}: {KERNELS[kernel].description}); {M}x{K} @ {K}x{N} int8 MatMuls")
    print(f"matmul    {'  '.join(f'max|ORT - {r}|' for r in REFERENCES)}  max|exact|")
    for name, r in results.items():
        cells = "  ".join(f"{r[ref]:>{len(ref) + 11}.3g}" for ref in REFERENCES)
        print(f"{name:9s} {cells}  {r['output_scale']:.3g}")
    print(f"{kernel} sums as the {reference_of(KERNELS[kernel])} reference does")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
