"""Where OpenVINO spends a package's inference time: its per-layer performance counters, summed per layer type,
with the GEMM-like layers (FullyConnected, MatMul, Convolution) set against everything else.

    python -m benchmarks.profile_ov --package pk/swint/int8 --threads 2 [--precision bf16] [--batch 1] [--out p.md]

The layers are those of the graph OpenVINO's CPU plugin runs after its own transformations (``Subgraph`` is a
fused elementwise or attention block its code generator compiled; ``Reorder`` a layout or precision conversion),
with the batch fixed, as :class:`runtime.backends.openvino.OvBackend` runs it.
"""

from __future__ import annotations

import argparse
import collections
from pathlib import Path

import numpy as np

from benchmarks._markdown import emit
from benchmarks.profile_ort import kernel_table
from runtime.backends.openvino import (
    PERFORMANCE_HINTS,
    PRECISION_HINTS,
    UnsupportedPrecisionError,
    bf16_problem,
    openvino_core,
)
from runtime.exitcodes import nonnegative_int, positive_int
from runtime.package import read_package

__all__ = ["profile_package", "GEMM_LAYERS"]

#: OpenVINO CPU layer types that do the model's multiply-accumulates (the int8 ones too)
GEMM_LAYERS = (
    "FullyConnected",
    "FullyConnectedQuantized",
    "FullyConnectedQuantizedLegacy",
    "MatMul",
    "Convolution",
    "GroupConvolution",
    "Deconvolution",
)


def profile_package(
    package: Path, threads: int = 2, batch: int = 1, runs: int = 20, precision: str = "f32"
) -> dict[str, dict[str, float]]:
    """layer type → {"ms": mean ms per run, "nodes": layers that ran per run} for the package's model.onnx on
    real-sized input, compiled for that batch with OpenVINO's precision hint ``precision``."""
    spec = read_package(package)
    core = openvino_core()
    if precision == "bf16" and bf16_problem(core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")):
        raise UnsupportedPrecisionError(bf16_problem(core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")))
    model = core.read_model(str(spec.onnx_path))
    h, w = spec.input_size
    model.reshape({spec.input_name: [batch, 3, h, w]})
    config = {
        "PERF_COUNT": True,
        "PERFORMANCE_HINT": PERFORMANCE_HINTS["latency"],
        "INFERENCE_PRECISION_HINT": PRECISION_HINTS[precision],
    }
    if threads:
        config["INFERENCE_NUM_THREADS"] = threads
    request = core.compile_model(model, "CPU", config).create_infer_request()
    x = np.random.default_rng(0).standard_normal((batch, 3, h, w), dtype=np.float32)
    for _ in range(3):
        request.infer({spec.input_name: x})
    per_run: dict[str, list[float]] = collections.defaultdict(lambda: [0.0, 0])
    for _ in range(runs):
        request.infer({spec.input_name: x})
        for layer in request.profiling_info:
            if str(layer.status).endswith("EXECUTED"):
                entry = per_run[layer.node_type]
                entry[0] += layer.real_time.total_seconds()
                entry[1] += 1
    return {op: {"ms": 1e3 * s / runs, "nodes": n / runs} for op, (s, n) in per_run.items()}


def main(argv: list[str] | None = None) -> int:
    from runtime.exitcodes import run_guarded

    p = argparse.ArgumentParser(prog="python -m benchmarks.profile_ov", description=__doc__.split("\n\n")[0])
    p.add_argument("--package", type=Path, required=True)
    p.add_argument("--threads", type=nonnegative_int, default=2)
    p.add_argument("--precision", choices=sorted(PRECISION_HINTS), default="f32", help="OpenVINO's precision hint")
    p.add_argument("--batch", type=positive_int, default=1)
    p.add_argument("--runs", type=positive_int, default=20)
    p.add_argument("--top", type=positive_int, default=15)
    p.add_argument("--out", type=Path, help="write the markdown table here too")

    def run(args: argparse.Namespace) -> int:
        ops = profile_package(args.package, args.threads, args.batch, args.runs, args.precision)
        spec = read_package(args.package)
        head = f"`{spec.model.name}` {spec.precision} on OpenVINO ({args.precision}), batch {args.batch}"
        head += f", {args.threads} threads"
        emit(kernel_table(head, ops, GEMM_LAYERS, args.top), args.out)
        return 0

    return run_guarded(p.prog, run, p.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
