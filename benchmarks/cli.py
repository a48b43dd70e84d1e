"""``swinpose-bench``: latency/FPS, AP parity and the machine's floor, as tables, JSON, CSV, Markdown and a plot.

    swinpose-bench latency --package DIR [--backends torch,onnxruntime,tensorrt] [--precisions fp32,fp16,int8]
                           [--batch 1,8,32] [--warmup N] [--iters N] [--threads N] [--people N] [--json out.json]
    swinpose-bench parity  --package DIR --data COCO.json --images DIR [--weights W] [--detections dets.json]
    swinpose-bench floor   [--package DIR | --model NAME]
    swinpose-bench video   --package DIR --detector DET [--people 1,4,16] [--intervals 1,5,10] [--frames N]

``--package`` is one package or a folder of them (one per precision). Exit codes: 0 done (parity: PASS), 1 error
(one line), 2 usage, 3 parity FAIL (a ΔAP beyond its threshold).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from runtime.exitcodes import nonnegative_float, nonnegative_int, positive_int, run_guarded, unit_interval
from runtime.files import check_output_file

PROG = "swinpose-bench"
PARITY_FAILED = 3

__all__ = ["main", "build_parser", "PARITY_FAILED"]


def _outputs(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", type=Path, help="write the report as JSON")
    p.add_argument("--csv", type=Path, help="write its rows as CSV")
    p.add_argument("--markdown", type=Path, help="write it as a Markdown report")
    p.add_argument("--plot", type=Path, help="write a PNG plot (needs matplotlib: pip install 'swinpose[bench]')")
    p.add_argument("--out", type=Path, help="write all four as OUT/<command>.{json,csv,md,png}")
    p.add_argument(
        "--threads", type=nonnegative_int, default=0, help="intra-op threads for every library (0: its default)"
    )
    p.add_argument("--device", default="cpu", help="cpu or cuda:N (default cpu)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG,
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="command", required=True)

    lat = sub.add_parser("latency", help="latency and images/s per backend, precision and batch")
    lat.add_argument("--package", type=Path, required=True, help="a package folder, or a folder of packages")
    lat.add_argument(
        "--backends",
        default="torch,onnxruntime,tensorrt",
        help="any of torch, torch-compile, onnxruntime, openvino, tensorrt (default torch,onnxruntime,tensorrt)",
    )
    lat.add_argument(
        "--precisions",
        default="fp32,fp16,int8",
        help="any of fp32, fp16, bf16 (OpenVINO's bf16 hint on the fp32 package), int8, int8+bf16 (that hint on the "
        "int8 package) (default fp32,fp16,int8)",
    )
    lat.add_argument("--batch", default="1,8,32", help="batch sizes (default 1,8,32)")
    lat.add_argument("--warmup", type=nonnegative_int, default=5)
    lat.add_argument("--iters", type=positive_int, default=30, help="timed calls per row, spread over --rounds")
    lat.add_argument(
        "--rounds", type=positive_int, default=5, help="interleaved rounds: each row runs once per round (default 5)"
    )
    lat.add_argument("--people", type=positive_int, default=4, help="people in the end-to-end frame (default 4)")
    lat.add_argument("--flip-test", action="store_true", help="time the flip test too (two runs per crop)")
    lat.add_argument(
        "--detector",
        help="a detector package or file (swinpose-export --detector): adds rows from "
        "pixels, the detector's pre-processing, inference and post-processing and the pose engine on "
        "--frame-people people",
    )
    lat.add_argument("--frame-people", default="1,4,16", help="people in the --detector rows (default 1,4,16)")
    lat.add_argument(
        "--weights",
        help="the PyTorch rows' weights (default: bundled if the package came from it, "
        "else random weights, which time the same)",
    )
    _outputs(lat)

    par = sub.add_parser("parity", help="COCO AP, ΔAP and agreement AP of every backend/precision vs PyTorch")
    par.add_argument("--package", type=Path, required=True, help="a package folder, or a folder of packages")
    par.add_argument("--data", type=Path, required=True, help="COCO person_keypoints JSON (its GT boxes are used)")
    par.add_argument("--images", type=Path, required=True, help="the folder of its images")
    par.add_argument("--weights", help="the weights the packages were exported from (default: bundled, if so)")
    par.add_argument("--detections", type=Path, help="COCO detection results to use instead of GT boxes")
    par.add_argument("--det-score-thr", type=unit_interval, default=0.0)
    par.add_argument("--backends", default="onnxruntime,tensorrt")
    par.add_argument("--precisions", default="fp32,fp16,int8", help="any of fp32, fp16, bf16, int8, int8+bf16")
    par.add_argument("--no-flip-test", action="store_true", help="compare without the flip test")
    par.add_argument("--fp32-max-delta", type=nonnegative_float, help="ΔAP limit for fp32 (AP points, default 0)")
    par.add_argument("--fp16-max-delta", type=nonnegative_float, help="ΔAP limit for fp16 (default 0.1)")
    par.add_argument("--bf16-max-delta", type=nonnegative_float, help="ΔAP limit for bf16 (default 0.3)")
    par.add_argument("--int8-max-delta", type=nonnegative_float, help="ΔAP limit for int8 (default 0.5)")
    _outputs(par)

    flo = sub.add_parser("floor", help="GEMM ceilings, bandwidth and the model's latency floor per precision")
    src = flo.add_mutually_exclusive_group()
    src.add_argument("--package", type=Path, help="the model of this package (or folder of packages)")
    src.add_argument("--model", default="swinpose_t_256x192", help="a registered model (default swinpose_t_256x192)")
    _outputs(flo)

    vid = sub.add_parser("video", help="ms per frame and frames/s of tracking, beside no detector and no tracker")
    vid.add_argument("--package", type=Path, required=True, help="a pose package folder")
    vid.add_argument("--detector", type=Path, required=True, help="a detector package or file")
    vid.add_argument("--people", default="1,4,16", help="walkers per video (default 1,4,16)")
    vid.add_argument("--intervals", default="1,5,10", help="det_interval values of the tracked rows (default 1,5,10)")
    vid.add_argument("--frames", type=positive_int, default=60, help="frames per video (default 60)")
    vid.add_argument("--rounds", type=positive_int, default=3, help="interleaved passes over each video (default 3)")
    _outputs(vid)
    return p


def _latency(args: argparse.Namespace) -> dict[str, Any]:
    from benchmarks.latency import LatencySettings, run_latency
    from benchmarks.runners import BACKENDS, PRECISIONS, parse_list

    batches = _counts(args.batch, "--batch", "1,8,32")
    settings = LatencySettings(
        backends=parse_list(args.backends, BACKENDS, "--backends"),
        precisions=parse_list(args.precisions, PRECISIONS, "--precisions"),
        batches=batches,
        warmup=args.warmup,
        iters=args.iters,
        rounds=args.rounds,
        threads=args.threads,
        device=args.device,
        people=args.people,
        flip_test=args.flip_test,
        detector=args.detector,
        frame_people=_counts(args.frame_people, "--frame-people", "1,4,16"),
    )
    if "onnxruntime" in settings.backends and "int8" in settings.precisions and args.device == "cpu":
        from runtime.int8_cpu import int8_speed_note

        note = int8_speed_note()
        if note:
            print(f"{PROG}: {note}")
    return run_latency(args.package, settings, args.weights, progress=not args.quiet)


def _counts(text: str, flag: str, example: str) -> list[int]:
    from runtime.errors import ConfigError

    try:
        counts = [int(b) for b in text.split(",")]
    except ValueError:
        counts = []
    if not counts or min(counts) < 1:
        raise ConfigError(f"{flag} {text!r} must be positive integers, e.g. {example}")
    return counts


def _parity(args: argparse.Namespace) -> dict[str, Any]:
    from benchmarks.parity import run_parity
    from benchmarks.runners import BACKENDS, PRECISIONS, parse_list
    from export.parity import AP_THRESHOLDS

    limits = {p: getattr(args, f"{p}_max_delta") for p in AP_THRESHOLDS}
    thresholds = {p: AP_THRESHOLDS[p] if v is None else v for p, v in limits.items()}
    return run_parity(
        args.package,
        args.data,
        args.images,
        weights=args.weights,
        backends=tuple(parse_list(args.backends, BACKENDS, "--backends")),
        precisions=tuple(parse_list(args.precisions, PRECISIONS, "--precisions")),
        device=args.device,
        flip_test=not args.no_flip_test,
        threads=args.threads,
        thresholds=thresholds,
        detections=args.detections,
        det_score_thr=args.det_score_thr,
        progress=not args.quiet,
    )


def _video(args: argparse.Namespace) -> dict[str, Any]:
    from benchmarks.video import VideoSettings, run_video

    settings = VideoSettings(
        people=_counts(args.people, "--people", "1,4,16"),
        intervals=_counts(args.intervals, "--intervals", "1,5,10"),
        frames=args.frames,
        rounds=args.rounds,
        threads=args.threads,
    )
    return run_video(args.package, args.detector, settings, progress=not args.quiet)


def _floor(args: argparse.Namespace) -> dict[str, Any]:
    from benchmarks.floor import floor_report
    from swinpose.models.config import PoseModelConfig
    from swinpose.models.registry import get_config

    if args.package:
        from benchmarks.runners import find_packages

        spec = next(iter(find_packages(args.package).values()))
        cfg = PoseModelConfig.from_dict(spec.model.config)
    else:
        cfg = get_config(args.model)
    return floor_report(cfg, args.device, args.threads)


def _run(args: argparse.Namespace) -> int:
    from benchmarks.report import console, require_plotting, write_outputs

    paths = {k: getattr(args, k) for k in ("json", "csv", "markdown", "plot")}
    if args.out:
        names = {"json": "json", "csv": "csv", "markdown": "md", "plot": "png"}
        paths = {k: v or args.out / f"{args.command}.{names[k]}" for k, v in paths.items()}
    for key, path in paths.items():  # before the measurements, not after them
        if path is not None:
            check_output_file(path, f"--{key}" if not args.out else f"--{key} (or --out)")
    if paths["plot"]:
        require_plotting()
    report = {"latency": _latency, "parity": _parity, "floor": _floor, "video": _video}[args.command](args)
    written = write_outputs(report, paths["json"], paths["csv"], paths["markdown"], paths["plot"])
    print(console(report))
    if written:
        print(f"{PROG}: wrote {', '.join(str(p) for p in written)}")
    if args.command == "parity" and report["verdict"] != "PASS":
        return PARITY_FAILED
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    return run_guarded(PROG, _run, args)


if __name__ == "__main__":
    raise SystemExit(main())
