"""Export a model in fp32, fp16 and int8 and tabulate each package: nodes, size, parity, ONNX Runtime CPU latency.

    python -m benchmarks.export_report --weights bundled --calib-data DATA/annotations/person_keypoints_train.json
    python -m benchmarks.export_report --random swinpose_t_256x192 --calib-data ...   # random weights: speed only

The parity figures are the ones ``swinpose-export`` measured and wrote into each ``model.json``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from benchmarks._markdown import emit
from benchmarks.timing import time_onnx_apart
from export.package import ExportOptions, export_package
from runtime.exitcodes import nonnegative_int, positive_int
from swinpose.models.pose_io import save_pose_model
from swinpose.models.registry import create_model


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--weights", help="model file or 'bundled'")
    src.add_argument("--random", metavar="MODEL", help="a registered model with random weights")
    p.add_argument("--calib-data", type=Path, required=True)
    p.add_argument("--calib-size", type=positive_int, default=256)
    p.add_argument("--threads", type=nonnegative_int, default=2)
    p.add_argument("--runs", type=positive_int, default=30)
    p.add_argument("--out", type=Path, help="write the markdown table here too")
    args = p.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="swinpose-report-") as tmp:
        weights = args.weights
        if args.random:
            weights = Path(tmp) / f"{args.random}_random.safetensors"
            save_pose_model(create_model(args.random), weights)
        rows, graphs = [], {}
        for precision in ("fp32", "fp16", "int8"):
            options = ExportOptions(
                precision,
                calib_data=args.calib_data if precision == "int8" else None,
                parity_data=args.calib_data if precision != "int8" else None,
                calib_size=args.calib_size,
                engine=False,
            )
            result = export_package(weights, Path(tmp) / precision, options)
            spec = result.spec
            par = spec.parity[precision]
            size_mb = (result.out / "model.onnx").stat().st_size / 1e6
            h, w = spec.input_size
            graphs[precision] = str(result.out / "model.onnx")
            rows.append([precision, spec.onnx["nodes"], size_mb, par])
            print(json.dumps({"precision": precision, "nodes": spec.onnx["nodes"]}), flush=True)
        timed = time_onnx_apart(graphs, (1, 3, h, w), args.threads, args.runs)  # interleaved, in a fresh process
        for row in rows:
            row += [timed[row[0]].median, timed[row[0]].min]
    name = spec.model.name + (" (random weights)" if args.random else f" ({Path(str(weights)).name})")
    lines = [
        f"{name}; parity vs PyTorch fp32 on {spec.parity['images']} crops of {args.calib_data}; "
        f"ONNX Runtime CPU, batch 1, {args.threads} threads: median and fastest of {args.runs} runs in 5 interleaved "
        "rounds, in a fresh process. (Small graphs' medians move most between runs on a shared VM.)",
        "",
        "| precision | nodes | model.onnx MB | max abs Δheatmap | kpt shift px, confident: max / mean (n) | "
        "kpt shift px, all: max / mean | ms (b1): median / fastest |",
        "|---|---|---|---|---|---|---|",
    ]
    for precision, nodes, mb, par, ms, fastest in rows:
        sure = (
            "none confident"
            if par["max_kpt_px"] is None
            else (f"{par['max_kpt_px']:.2f} / {par['mean_kpt_px']:.3f} ({par['confident_keypoints']})")
        )
        lines.append(
            f"| {precision} | {nodes} | {mb:.1f} | {par['max_abs']:.2g} | {sure} | "
            f"{par['max_kpt_px_all']:.2f} / {par['mean_kpt_px_all']:.3f} | {ms:.1f} / {fastest:.1f} |"
        )
    emit(lines, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
