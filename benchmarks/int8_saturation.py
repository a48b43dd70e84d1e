"""Which arithmetic ONNX Runtime's int8 kernels perform on a CPU, shown on single quantized MatMuls.

Each graph is what the int8 export writes for a linear layer: ``x → QuantizeLinear → DequantizeLinear`` (int8,
symmetric) and int8 per-channel weights behind a ``DequantizeLinear``, into a ``MatMul``, which ONNX Runtime fuses into
one integer kernel (``MatMulIntegerToFloat``). Its output is compared with three references computed in numpy on the
host (:func:`benchmarks.int8_reference.kernel_sum`), one per way a kernel family sums (:mod:`runtime.int8_cpu`):

* **exact**: products summed in int32 (x86-vnni, arm64-dot, other);
* **saturating int16 pairs**: u8×s8 pairs saturated to int16 (x86-avx2's ``VPMADDUBSW``);
* **wrapping int16 pairs**: s8×s8 pairs wrapped to int16 (arm64-neon's ``SMULL``+``SMLAL``).

Four MatMuls, M×K @ K×N: **8-bit** and **7-bit** random weights (row 0 at the top of the activation range), and
two whose rows and columns are constant at the ends of the 8-bit ranges, where each reference differs from the other
two whichever products a kernel pairs: **extremes** (int8 activations 127 and -128, weights 127 and -128) and
**extremes-u8** (uint8 activations 255 and 0 with zero point 77, the same weights), which shows that the stored
bytes decide, whatever the activations' dtype and zero point::

    python -m benchmarks.int8_saturation                    # this CPU
    python -m benchmarks.int8_saturation --cpu haswell      # ONNX Runtime's AVX2 kernels (qemu-x86_64)
    python -m benchmarks.int8_saturation --cpu cortex-a57   # arm64 NEON, as on a Jetson Nano (qemu-aarch64)
"""

from __future__ import annotations

import argparse
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.int8_reference import kernel_sum, quantize
from runtime.int8_cpu import KERNELS, Int8Kernel, int8_kernel

__all__ = [
    "M",
    "K",
    "N",
    "REFERENCES",
    "EXTREMES",
    "UNSIGNED_ZERO_POINT",
    "QuantizedMatMul",
    "qdq_matmul_model",
    "one_matmul",
    "extremes_matmul",
    "unsigned_extremes_matmul",
    "matmuls",
    "reference_of",
    "measure",
    "run_here",
    "run_emulated",
]

#: M×K activations, K×N weights (K a multiple of 4, as the kernels pack it)
M, K, N = 8, 64, 16
#: each reference and a kernel family that sums that way
REFERENCES = {"exact": "x86-vnni", "saturating int16 pairs": "x86-avx2", "wrapping int16 pairs": "arm64-neon"}
_X_SCALE = 1 / 127


@dataclass(frozen=True)
class QuantizedMatMul:
    """One quantized MatMul: ``model`` (serialized ONNX), ``x`` its M×K float input, ``wq`` the K×N int8 weights
    with N per-channel ``w_scale``, and the activations' ``x_scale`` and ``x_zero`` (a 0-d int8 or uint8 array: its
    dtype is the activations')."""

    model: bytes
    x: np.ndarray
    wq: np.ndarray
    w_scale: np.ndarray
    x_scale: float
    x_zero: np.ndarray

    def activations(self) -> np.ndarray:
        """The M×K stored 8-bit activations (``QuantizeLinear`` of ``x``), int64."""
        return quantize(self.x, self.x_scale, int(self.x_zero), self.x_zero.dtype.type)

    def reference(self, family: str) -> np.ndarray:
        """The M×N float64 output as the kernel ``family`` of :data:`runtime.int8_cpu.KERNELS` computes it."""
        sums = kernel_sum(KERNELS[family], self.activations(), self.wq, int(self.x_zero), self.x_zero.dtype.type)
        return sums * self.x_scale * self.w_scale.astype(np.float64)


def qdq_matmul_model(
    m: int, wq: np.ndarray, w_scale: np.ndarray, x_scale: float, x_zero: np.ndarray, name: str = "one_matmul"
) -> bytes:
    """A serialized ONNX Q/DQ MatMul, as the int8 export writes one: input ``x`` (m×K float) quantized with
    ``x_scale`` and ``x_zero`` (0-d int8 or uint8), times the K×N int8 weights ``wq`` dequantized with ``w_scale``
    (N per-channel scales, or a 0-d one for the whole tensor), output ``y`` (m×N float)."""
    from onnx import TensorProto, helper, numpy_helper

    k, n = wq.shape
    w_scale = np.asarray(w_scale, np.float32)
    per_channel = w_scale.ndim == 1
    consts = [
        numpy_helper.from_array(np.array(x_scale, np.float32), "x_scale"),
        numpy_helper.from_array(x_zero, "x_zero"),
        numpy_helper.from_array(wq, "w_q"),
        numpy_helper.from_array(w_scale, "w_scale"),
        numpy_helper.from_array(np.zeros(n if per_channel else (), np.int8), "w_zero"),
    ]
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "x_scale", "x_zero"], ["x_q"]),
        helper.make_node("DequantizeLinear", ["x_q", "x_scale", "x_zero"], ["x_dq"]),
        helper.make_node(
            "DequantizeLinear", ["w_q", "w_scale", "w_zero"], ["w_dq"], **({"axis": 1} if per_channel else {})
        ),
        helper.make_node("MatMul", ["x_dq", "w_dq"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        name,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [m, k])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [m, n])],
        consts,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


def _matmul(x: np.ndarray, wq: np.ndarray, w_scale: np.ndarray, x_zero: np.ndarray) -> QuantizedMatMul:
    model = qdq_matmul_model(len(x), wq, w_scale, _X_SCALE, x_zero)
    return QuantizedMatMul(model, x, wq, w_scale, _X_SCALE, x_zero)


def one_matmul(weight_bits: int, seed: int = 0) -> QuantizedMatMul:
    """Random ``weight_bits`` weights and int8 activations (zero point 0). Row 0 of the input sits at the top of
    the activation range, where the uint8 operand of x86 kernels is 255; the rest is uniform."""
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(K, N)).astype(np.float32)
    qmax = 64 if weight_bits == 7 else 127  # ONNX Runtime's reduce_range / full symmetric int8 ranges
    w_scale = (np.abs(w).max(0) / qmax).astype(np.float32)
    wq = np.clip(np.round(w / w_scale), -qmax, qmax).astype(np.int8)
    x = rng.uniform(-1, 1, size=(M, K)).astype(np.float32)
    x[0] = 1.0
    return _matmul(x, wq, w_scale, np.array(0, np.int8))


def _extreme_weights(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(random M×K input, 8-bit weights with columns 0 and 1 at 127 and -128, their scales)."""
    m = one_matmul(8, seed)
    x, wq, w_scale = m.x.copy(), m.wq.copy(), m.w_scale.copy()
    wq[:, 0], wq[:, 1] = 127, -128
    w_scale[:2] = 1 / 127
    return x, wq, w_scale


def extremes_matmul(seed: int = 0) -> QuantizedMatMul:
    """As :func:`one_matmul`, with rows 0 and 1 at int8 activations 127 and -128 (input 1 and -2, clipped) and
    columns 0 and 1 at weights 127 and -128; the other columns are random 8-bit weights. Row 0 × column 0 saturates
    on x86-avx2 (255·127 twice) and row 1 × column 1 wraps on arm64-neon ((-128)·(-128) twice)."""
    x, wq, w_scale = _extreme_weights(seed)
    x[0], x[1] = 1.0, -2.0
    return _matmul(x, wq, w_scale, np.array(0, np.int8))


#: the uint8 activations' zero point of :func:`unsigned_extremes_matmul`: neither 0 nor 128, to show it plays no part
UNSIGNED_ZERO_POINT = 77


def unsigned_extremes_matmul(seed: int = 0) -> QuantizedMatMul:
    """As :func:`extremes_matmul` with uint8 activations of zero point :data:`UNSIGNED_ZERO_POINT`: rows 0 and 1 at
    the stored bytes 255 and 0 (input ±3, clipped). What each family multiplies is the byte, not the zero-point
    corrected value: row 0 × column 0 still saturates on x86-avx2 (255·127 twice), and row 1 × column 1 still wraps
    on arm64-neon, which flips the byte 0 to -128 ((-128)·(-128) twice). The other rows' bytes are kept off 0, so
    that no pair of theirs can wrap on NEON: its kernel pairs other elements of K than the neighbours
    :func:`~benchmarks.int8_reference.kernel_sum` pairs, which only constant rows make irrelevant."""
    x, wq, w_scale = _extreme_weights(seed)
    zero = UNSIGNED_ZERO_POINT
    x[2:] = (np.clip(np.round(x[2:] / _X_SCALE) + zero, 1, 255) - zero) * np.float32(_X_SCALE)
    x[0], x[1] = 3.0, -3.0
    return _matmul(x, wq, w_scale, np.array(UNSIGNED_ZERO_POINT, np.uint8))


def matmuls() -> dict[str, QuantizedMatMul]:
    """The MatMuls by name: ``8-bit``, ``7-bit``, ``extremes`` (int8 activations) and ``extremes-u8`` (uint8)."""
    return {
        "8-bit": one_matmul(8),
        "7-bit": one_matmul(7),
        "extremes": extremes_matmul(),
        "extremes-u8": unsigned_extremes_matmul(),
    }


#: the MatMuls on which each reference differs from the other two by far more than rounding
EXTREMES = ("extremes", "extremes-u8")


def reference_of(kernel: Int8Kernel) -> str:
    """The name of the reference whose arithmetic ``kernel`` performs."""
    return next(name for name, family in REFERENCES.items() if KERNELS[family].overflow == kernel.overflow)


def measure(name: str, y: np.ndarray) -> dict[str, float]:
    """ONNX Runtime's output ``y`` of the MatMul ``name`` against each reference: max |difference| in output units,
    keyed by reference, with ``output_scale`` (max |exact|) and ``fp32_error``, the most an fp32 epilogue can round
    (4 ulps of the largest output)."""
    matmul = matmuls()[name]
    refs = {ref: matmul.reference(family) for ref, family in REFERENCES.items()}
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
    for name, matmul in matmuls().items():
        session = ort.InferenceSession(matmul.model, options, providers=["CPUExecutionProvider"])
        outputs[name] = session.run(None, {"x": matmul.x})[0]
    return outputs


def run_emulated(cpu: str) -> tuple[str, dict[str, np.ndarray]]:
    """(the kernel family :mod:`runtime.int8_cpu` names inside the emulated process, each MatMul's output there)."""
    from benchmarks.emulation import GraphJob, run_jobs

    with tempfile.TemporaryDirectory(prefix="swinpose-int8-") as tmp:
        jobs = []
        for name, matmul in matmuls().items():
            (Path(tmp) / f"{name}.onnx").write_bytes(matmul.model)
            jobs.append(GraphJob(name, Path(tmp) / f"{name}.onnx", {"x": matmul.x}))
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
    print(f"matmul      {'  '.join(f'max|ORT - {r}|' for r in REFERENCES)}  max|exact|")
    for name, r in results.items():
        cells = "  ".join(f"{r[ref]:>{len(ref) + 11}.3g}" for ref in REFERENCES)
        print(f"{name:11s} {cells}  {r['output_scale']:.3g}")
    print(f"{kernel} sums as the {reference_of(KERNELS[kernel])} reference does")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
