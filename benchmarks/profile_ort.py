"""Where ONNX Runtime spends a package's inference time: its own profiler, summed per op type, with the GEMM-like
kernels (MatMul, Conv and their fused and quantized forms) set against everything else.

    python -m benchmarks.profile_ort --package pk/swint/int8 --threads 2 [--batch 1] [--runs 20] [--out prof.md]

ONNX Runtime profiles the graph it runs after its own fusions, so the op types are its kernels (Gelu,
MatMulIntegerToFloat, QLinearConv …), not the exported graph's nodes.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from benchmarks._markdown import emit
from runtime.backends.onnxruntime import ort_session
from runtime.exitcodes import nonnegative_int, positive_int
from runtime.package import read_package

__all__ = ["profile_package", "kernel_table", "GEMM_KERNELS"]

#: ONNX Runtime kernels that do the model's multiply-accumulates
GEMM_KERNELS = (
    "MatMul",
    "FusedMatMul",
    "Gemm",
    "Conv",
    "FusedConv",
    "NchwcConv",
    "MatMulIntegerToFloat",
    "MatMulInteger",
    "QLinearMatMul",
    "QLinearConv",
    "ConvInteger",
    "DynamicQuantizeMatMul",
)


def profile_package(package: Path, threads: int = 2, batch: int = 1, runs: int = 20) -> dict[str, dict[str, float]]:
    """op type → {"ms": mean ms per run, "nodes": kernels per run} for the package's model.onnx on real-sized input."""
    spec = read_package(package)
    with tempfile.TemporaryDirectory(prefix="swinpose-profile-") as tmp:
        session = ort_session(spec.onnx_path, threads=threads, profile_prefix=str(Path(tmp) / "ort"))
        h, w = spec.input_size
        x = np.random.default_rng(0).standard_normal((batch, 3, h, w), dtype=np.float32)
        warmup = 3
        for _ in range(warmup + runs):
            session.run(None, {spec.input_name: x})
        trace = session.end_profiling()
        events = json.loads(Path(trace).read_text())
        os.remove(trace)
    per_run: dict[str, list[float]] = collections.defaultdict(lambda: [0.0, 0])
    for event in events:
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            entry = per_run[event["args"]["op_name"]]
            entry[0] += event["dur"]
            entry[1] += 1
    total_runs = warmup + runs
    return {op: {"ms": us / total_runs / 1e3, "nodes": n / total_runs} for op, (us, n) in per_run.items()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--package", type=Path, required=True)
    p.add_argument("--threads", type=nonnegative_int, default=2)
    p.add_argument("--batch", type=positive_int, default=1)
    p.add_argument("--runs", type=positive_int, default=20)
    p.add_argument("--top", type=positive_int, default=15)
    p.add_argument("--out", type=Path, help="write the markdown table here too")
    args = p.parse_args(argv)
    ops = profile_package(args.package, args.threads, args.batch, args.runs)
    spec = read_package(args.package)
    head = f"`{spec.model.name}` {spec.precision}, batch {args.batch}, {args.threads} threads"
    emit(kernel_table(head, ops, GEMM_KERNELS, args.top), args.out)
    return 0


def kernel_table(head: str, ops: dict[str, dict[str, float]], gemm_kernels: tuple[str, ...], top: int) -> list[str]:
    """A profile (op type → {"ms", "nodes"} per run) as Markdown: the GEMM-like kernels' share, then the ``top``
    op types by time. ``head`` starts the first line (what ran, where)."""
    total = sum(v["ms"] for v in ops.values())
    gemm = sum(v["ms"] for op, v in ops.items() if op in gemm_kernels)
    lines = [
        f"{head}: {total:.1f} ms of kernels per run, {gemm:.1f} ms ({100 * gemm / total:.0f} %) in GEMM-like "
        f"kernels, {total - gemm:.1f} ms in the rest.",
        "",
        "| kernel | ms per run | share | kernels per run |",
        "|---|---|---|---|",
    ]
    for op, v in sorted(ops.items(), key=lambda kv: -kv[1]["ms"])[:top]:
        lines.append(f"| {op} | {v['ms']:.2f} | {100 * v['ms'] / total:.1f} % | {v['nodes']:.0f} |")
    return lines


if __name__ == "__main__":
    raise SystemExit(main())
