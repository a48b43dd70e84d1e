"""The machine's measured ceilings and the model's counted work: a lower bound on latency per precision.

* **Ceilings.** The best dense GEMM throughput this machine reaches, measured through every GEMM library at hand,
  because one library understates it: fp32 through ONNX Runtime (MLAS), numpy (its BLAS), PyTorch (oneDNN/MKL) and
  OpenVINO (oneDNN); bf16 through PyTorch's bf16 ``mm`` and OpenVINO's bf16 precision hint (oneDNN's AVX512-BF16 or
  AMX kernels; only where OpenVINO lists ``BF16``, since elsewhere it would run f32); int8 through ONNX Runtime's
  ``MatMulInteger`` (u8×s8, VNNI where present), ``torch._int_mm`` and OpenVINO's int8 MatMul (a Q/DQ graph);
  fp16 through ONNX Runtime (and PyTorch on a GPU). Memory bandwidth is a large array copy (read + write). On a CUDA
  device the GEMMs and the copy run there, through PyTorch.
* **Work.** The model's FLOPs (2 per multiply-accumulate of every conv and matmul, counted by
  :func:`swinpose.models.complexity.measure_complexity`) and the bytes of its weights at each precision.
* **Floor** of a batch of B: ``max(B·FLOPs / GEMM ceiling, weight bytes / bandwidth)`` for that precision. The fp16
  and bf16 ceilings are the better of theirs and fp32's: a graph in either can always be run in fp32. Activations,
  and ops that are not GEMMs (LayerNorm, softmax, GELU, layout), are left out, so the floor is a bound no runtime
  beats.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from benchmarks.schema import CEILINGS, HEADER, MODEL, NUM, Schema
from benchmarks.timing import measure

logger = logging.getLogger(__name__)

__all__ = [
    "FLOOR_PRECISIONS",
    "Ceilings",
    "measure_ceilings",
    "ModelWork",
    "model_work",
    "floor_ms",
    "floor_report",
    "FLOOR_SCHEMA_ID",
]

FLOOR_SCHEMA_ID = "swinpose-bench/floor/1"
#: what a floor report holds (:mod:`benchmarks.schema`)
FLOOR_SCHEMA: Schema = (
    {
        **HEADER,
        "ceilings": CEILINGS,
        "model": MODEL,
        "floors_ms": {"fp32": NUM, "fp16": NUM, "bf16": NUM, "int8": NUM},
    },
    {},
)

#: (M, K, N) GEMM shapes measured: a large square one, and the shapes of Swin-T 256×192's two largest linear layers
GEMM_SHAPES = ((2048, 2048, 2048), (3072, 96, 384), (768, 768, 3072))
_BYTES = {"fp32": 4, "fp16": 2, "bf16": 2, "int8": 1}
#: the precisions a floor is given for (bf16: the fp32 graph run by OpenVINO's bf16 hint)
FLOOR_PRECISIONS = tuple(_BYTES)


@dataclass
class Ceilings:
    """Best measured throughput per precision (GFLOP/s, int8 in GOP/s) and bandwidth (GB/s), with each source."""

    gflops: dict[str, float]
    bandwidth_gbs: float
    sources: dict[str, dict[str, float]] = field(default_factory=dict)
    device: str = "cpu"

    def effective(self, precision: str) -> float:
        """The GEMM ceiling a graph of ``precision`` can use: fp16 and bf16 may run in fp32 instead."""
        if precision in ("fp16", "bf16"):
            return max(self.gflops.get(precision, 0.0), self.gflops["fp32"])
        return self.gflops[precision]

    def to_dict(self) -> dict[str, Any]:
        return {
            "device": self.device,
            "gflops": self.gflops,
            "bandwidth_gbs": self.bandwidth_gbs,
            "sources": self.sources,
        }


def _ov_gemm(m: int, k: int, n: int, kind: str, threads: int) -> Callable[[], Any] | None:
    """An OpenVINO CPU model of one MatMul with a constant B: fp32 at the f32 hint, bf16 the same graph at the bf16
    hint (None where OpenVINO lists no ``BF16``), int8 a Q/DQ MatMul as the int8 export writes it."""
    if kind not in ("fp32", "bf16", "int8"):
        return None
    try:
        import openvino
        from onnx import TensorProto, helper, numpy_helper
    except ImportError:
        return None
    core = openvino.Core()
    if kind == "bf16" and "BF16" not in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES"):
        return None
    rng = np.random.default_rng(0)
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    if kind == "int8":
        from benchmarks.int8_saturation import qdq_matmul_model

        scale = np.float32(np.abs(b).max() / 64)
        bq = np.clip(np.round(b / scale), -64, 64).astype(np.int8)
        model = qdq_matmul_model(m, bq, np.array(scale, np.float32), 4 / 127, np.array(0, np.int8), "gemm")
    else:
        graph = helper.make_graph(
            [helper.make_node("MatMul", ["x", "b"], ["y"])],
            "gemm",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [m, k])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [m, n])],
            [numpy_helper.from_array(b, "b")],
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()
    config: dict[str, Any] = {"INFERENCE_PRECISION_HINT": "bf16" if kind == "bf16" else "f32"}
    if threads:
        config["INFERENCE_NUM_THREADS"] = threads
    try:
        compiled = core.compile_model(core.read_model(model, b""), "CPU", config)
    except Exception:  # noqa: BLE001 (a shape or type OpenVINO cannot compile here: not a ceiling)
        return None
    request = compiled.create_infer_request()
    return lambda: request.infer({"x": a})


def _ort_gemm(m: int, k: int, n: int, kind: str, threads: int) -> Callable[[], Any] | None:
    """An ONNX Runtime session of one MatMul (``kind`` fp32/fp16) or MatMulInteger (int8) with a constant B."""
    try:
        import onnxruntime as ort
        from onnx import TensorProto, helper, numpy_helper
    except ImportError:
        return None
    rng = np.random.default_rng(0)
    if kind == "int8":
        a = rng.integers(0, 256, (m, k), dtype=np.uint8)
        b = rng.integers(-127, 128, (k, n), dtype=np.int8)
        op, a_type, c_type = "MatMulInteger", TensorProto.UINT8, TensorProto.INT32
    else:
        dtype = np.float16 if kind == "fp16" else np.float32
        a, b = rng.standard_normal((m, k)).astype(dtype), rng.standard_normal((k, n)).astype(dtype)
        op = "MatMul"
        a_type = c_type = TensorProto.FLOAT16 if kind == "fp16" else TensorProto.FLOAT
    graph = helper.make_graph(
        [helper.make_node(op, ["a", "b"], ["c"])],
        "gemm",
        [helper.make_tensor_value_info("a", a_type, [m, k])],
        [helper.make_tensor_value_info("c", c_type, [m, n])],
        [numpy_helper.from_array(b, "b")],
    )
    options = ort.SessionOptions()
    options.log_severity_level = 3
    if threads:
        options.intra_op_num_threads = threads
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    try:
        session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    except Exception:  # noqa: BLE001 (a type ONNX Runtime has no CPU kernel for: not a ceiling here)
        return None
    return lambda: session.run(None, {"a": a})


def _torch_gemm(m: int, k: int, n: int, kind: str, device: str) -> Callable[[], Any] | None:
    if kind == "fp16" and not device.startswith("cuda"):
        return None  # PyTorch's CPU fp16 matmul is a reference kernel (about 1 GFLOP/s here), not a ceiling
    if kind == "bf16" and not device.startswith("cuda"):
        from runtime.int8_cpu import cpu_features

        if not {"AVX512BF16", "AMX_BF16"} & cpu_features():
            return None  # without the instructions oneDNN's bf16 GEMM converts to fp32: not a bf16 ceiling
    try:
        import torch
    except ImportError:
        return None
    g = torch.Generator().manual_seed(0)
    if kind == "int8":
        if not hasattr(torch, "_int_mm"):
            return None
        a = torch.randint(-127, 128, (m, k), dtype=torch.int8, generator=g).to(device)
        b = torch.randint(-127, 128, (k, n), dtype=torch.int8, generator=g).to(device)
        fn = torch._int_mm
    else:
        dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(kind, torch.float32)
        a, b = (torch.randn(s, generator=g).to(device, dtype) for s in ((m, k), (k, n)))
        fn = torch.mm
    try:
        fn(a, b)
    except RuntimeError:  # no kernel for this type or shape here
        return None
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)

    def run() -> None:
        fn(a, b)
        sync()

    return run


def _numpy_gemm(m: int, k: int, n: int, kind: str) -> Callable[[], Any] | None:
    if kind != "fp32":
        return None
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((m, k), dtype=np.float32), rng.standard_normal((k, n), dtype=np.float32)
    return lambda: a @ b


def _bandwidth(device: str, mib: int = 256) -> float:
    if device.startswith("cuda"):
        import torch

        x = torch.empty(mib * 2**18, device=device)
        y = torch.empty_like(x)

        def copy() -> None:
            y.copy_(x)
            torch.cuda.synchronize()

        nbytes = x.numel() * 4
    else:
        x = np.ones(mib * 2**18, np.float32)
        y = np.empty_like(x)
        copy, nbytes = (lambda: np.copyto(y, x)), x.nbytes
    return 2 * nbytes / (measure(copy, iters=10, warmup=2).median / 1e3) / 1e9


#: the longest one GEMM call of the ceiling measurement may take (estimated from the library's smaller shapes), and
#: the time each measured shape gets: a path that is slow on this CPU (int8 without VNNI: torch._int_mm at 2048³ takes
#: 26 s a call on AVX2) is skipped, not waited for; it cannot be a ceiling anyway
MAX_CALL_S, SHAPE_BUDGET_S = 1.0, 1.5


def measure_ceilings(
    device: str = "cpu", threads: int = 0, shapes=GEMM_SHAPES, iters: int = 10, progress: bool = False
) -> Ceilings:
    """The best GEMM throughput per precision over ``shapes`` and libraries, and the copy bandwidth.

    Each library runs the shapes from the smallest up; a shape whose call the library's best throughput so far
    says would take over :data:`MAX_CALL_S` is skipped, and each shape gets about :data:`SHAPE_BUDGET_S` of calls
    (at least 2, at most ``iters``), so the whole measurement takes seconds on every CPU. ``progress``: a bar."""
    if threads:
        try:
            import torch

            torch.set_num_threads(threads)
        except ImportError:
            pass
    ordered = sorted(shapes, key=lambda s: s[0] * s[1] * s[2])
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(FLOOR_PRECISIONS) * len(ordered), desc="machine ceilings", unit="shape", leave=False)
    sources: dict[str, dict[str, float]] = {}
    for kind in FLOOR_PRECISIONS:
        found: dict[str, float] = {}
        best: dict[str, float] = {}  # library → its best GFLOP/s so far
        for m, k, n in ordered:
            flops = 2 * m * k * n
            candidates = {"torch": _torch_gemm(m, k, n, kind, device)}
            if not device.startswith("cuda"):
                candidates.update(
                    onnxruntime=_ort_gemm(m, k, n, kind, threads) if kind != "bf16" else None,
                    numpy=_numpy_gemm(m, k, n, kind),
                    openvino=_ov_gemm(m, k, n, kind, threads),
                )
            for lib, fn in candidates.items():
                if fn is None:
                    continue
                if lib in best and flops / (best[lib] * 1e9) > MAX_CALL_S:
                    logger.info(
                        "ceilings: %s %s %dx%dx%d skipped (about %.0f s a call on this CPU)",
                        lib,
                        kind,
                        m,
                        k,
                        n,
                        flops / (best[lib] * 1e9),
                    )
                    continue
                first = _seconds(fn)  # also the warm-up
                if first > MAX_CALL_S and lib in best:
                    continue
                runs = int(max(2, min(iters, SHAPE_BUDGET_S / max(first, 1e-6))))
                seconds = measure(fn, iters=runs, warmup=1).median / 1e3
                gflops = flops / seconds / 1e9
                found[f"{lib} {m}x{k}x{n}"] = round(gflops, 1)
                best[lib] = max(best.get(lib, 0.0), gflops)
            if bar is not None:
                bar.update()
        sources[kind] = found
    if bar is not None:
        bar.close()
    gflops = {kind: max(found.values()) for kind, found in sources.items() if found}
    return Ceilings(gflops, round(_bandwidth(device), 1), sources, device)


def _seconds(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


@dataclass(frozen=True)
class ModelWork:
    """One crop's work: FLOPs (2 per multiply-accumulate) and parameter count."""

    name: str
    flops: int
    params: int

    def weight_bytes(self, precision: str) -> int:
        return self.params * _BYTES[precision]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "gflops": self.flops / 1e9,
            "gmacs": self.flops / 2e9,
            "params": self.params,
            "weight_mb": {p: self.weight_bytes(p) / 1e6 for p in _BYTES},
        }


def model_work(cfg: Any) -> ModelWork:
    """Counted work of a :class:`swinpose.models.config.PoseModelConfig` (on the meta device: no time, no memory)."""
    from swinpose.models.complexity import measure_complexity

    c = measure_complexity(cfg)
    return ModelWork(cfg.name, c.flops, c.params)


def floor_ms(work: ModelWork, ceilings: Ceilings, precision: str, batch: int = 1) -> float:
    """Lower bound in ms on one batch: the slower of its GEMM work at the ceiling and reading its weights once."""
    compute = batch * work.flops / (ceilings.effective(precision) * 1e9)
    memory = work.weight_bytes(precision) / (ceilings.bandwidth_gbs * 1e9)
    return 1e3 * max(compute, memory)


def floor_report(cfg: Any, device: str = "cpu", threads: int = 0) -> dict[str, Any]:
    """The ceilings of this machine and the batch-1 floors of a model config, as a JSON-ready report."""
    import time

    from benchmarks.machine import describe_machine, library_versions

    work = model_work(cfg)
    ceilings = measure_ceilings(device, threads)
    return {
        "schema": FLOOR_SCHEMA_ID,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": describe_machine(),
        "versions": library_versions(),
        "settings": {"device": device, "threads": threads},
        "ceilings": ceilings.to_dict(),
        "model": work.to_dict(),
        "floors_ms": {p: floor_ms(work, ceilings, p) for p in _BYTES},
    }
