"""``swinpose-export --weights x.pth --fp16``: build a model package (ONNX, TensorRT engine, model.json).

``swinpose-export --detector yolo11n.onnx --out det``: package a person detector file (detector.onnx, its TensorRT
engine where TensorRT is here, detector.json), for ``--detector det`` of swinpose-infer and PosePipeline."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from export.precision import CALIBRATION_METHODS, DEFAULT_INT8_WEIGHT_BITS, INT8_WEIGHT_BITS
from export.trt import TRT_MODES
from runtime.backends import TENSORRT_FLAVORS
from runtime.cli import input_size
from runtime.exitcodes import nonnegative_int, positive_float, positive_int, run_guarded
from runtime.int8_cpu import int8_speed_note
from swinpose.cli.model_args import add_model_arguments

PROG = "swinpose-export"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG,
        description="Export a swinpose checkpoint to a model package: model.onnx (fp32, fp16 or int8 Q/DQ), "
        "model.json (everything a runtime needs) and model.engine when TensorRT is installed.",
    )
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument(
        "--weights",
        help="model file (.safetensors / training .pth), 'bundled', or 'random' with "
        "--model (seeded random weights: a package to time, not to use)",
    )
    what.add_argument(
        "--detector",
        type=Path,
        help="a person detector's .onnx file (Ultralytics, YOLOv5, YOLOX, "
        "MMDeploy end2end ...), swinpose detector weights (.safetensors), or 'bundled' (the detector "
        "trained on synthetic figures) to package instead of a pose model",
    )
    det = p.add_argument_group("detector packages (--detector)")
    det.add_argument("--det-format", help="the detector's output layout, where the file does not tell")
    det.add_argument(
        "--person-class",
        type=nonnegative_int,
        help="the class index of people (default: the class named 'person', else 0)",
    )
    det.add_argument("--det-input-size", type=input_size, help="HxW, for a dynamic input the file does not size")
    add_model_arguments(p)
    prec = p.add_mutually_exclusive_group()
    prec.add_argument("--fp16", action="store_true", help="fp16 graph (LayerNorm and Softmax stay fp32)")
    prec.add_argument("--int8", action="store_true", help="int8 Q/DQ graph, calibrated on --calib-data")
    p.add_argument("--calib-data", type=Path, help="folder of images, or a COCO person_keypoints .json")
    p.add_argument("--calib-size", type=positive_int, default=256, help="calibration crops to use (default 256)")
    p.add_argument(
        "--calib-method",
        choices=sorted(CALIBRATION_METHODS),
        default="minmax",
        help="int8 range calibration (default minmax; export/README.md gives the AP of each)",
    )
    p.add_argument("--calib-cache", type=Path, help="reuse the calibration of an earlier int8 package folder")
    p.add_argument(
        "--int8-weight-bits",
        type=int,
        choices=INT8_WEIGHT_BITS,
        default=DEFAULT_INT8_WEIGHT_BITS,
        help="int8 weight range: 7 (default; exact on every CPU) or 8 (exact on TensorRT and VNNI or "
        "dot-product CPUs only: AVX2 CPUs without VNNI saturate, and PoseEngine refuses it there)",
    )
    p.add_argument(
        "--no-gate",
        action="store_true",
        help="write an fp16/int8 package even if its parity against "
        "PyTorch misses the gate (median confident keypoint shift; ΔAP on 200+ labelled --parity-data crops)",
    )
    p.add_argument("--parity-crops", type=positive_int, default=32, help="crops for the parity check (default 32)")
    p.add_argument(
        "--parity-data",
        type=Path,
        help="images for the parity check (default: calibration data, else rendered synthetic figures)",
    )
    p.add_argument("--batch", default="1,8,32", help="the batch range MIN,OPT,MAX: TensorRT's profile (default 1,8,32)")
    p.add_argument("--out", type=Path, help="package folder (default: <weights stem>_<precision>/)")
    eng = p.add_mutually_exclusive_group()
    eng.add_argument("--onnx-only", action="store_true", help="skip the TensorRT engine")
    eng.add_argument("--engine", action="store_true", help="fail unless a TensorRT engine is built")
    p.add_argument("--workspace", type=positive_float, default=4.0, metavar="GB", help="TensorRT workspace limit (4)")
    p.add_argument("--dla-core", type=nonnegative_int, help="build for this DLA core, with GPU fallback (Jetson)")
    p.add_argument("--timing-cache", type=Path, help="TensorRT timing cache file to load and update")
    p.add_argument(
        "--trt-mode",
        choices=TRT_MODES,
        default="auto",
        help="TensorRT precision API: typed (strong typing) or legacy (builder flags + calibrator)",
    )
    p.add_argument(
        "--trt-flavor",
        choices=("auto", *TENSORRT_FLAVORS),
        default="auto",
        help="standard TensorRT (datacenter GPUs, Jetson) or TensorRT-RTX (RTX GPUs); auto: standard where it imports",
    )
    p.add_argument(
        "--compute-capability",
        default="",
        help="TensorRT-RTX: GPUs to build the engine for ahead of "
        "time, e.g. sm86,sm89 (no GPU needed here); default: this machine's GPU",
    )
    p.add_argument(
        "--opencv",
        action="store_true",
        help="also write model.opencv.onnx (with --detector: detector.opencv.onnx), the fp32 graph for "
        "OpenCV DNN >= 4.6 (the C++ runtime's CPU backend); fp32 packages only",
    )
    p.add_argument(
        "--triton",
        type=Path,
        metavar="DIR",
        help="also write a Triton Inference Server model repository "
        "of the package to DIR (swinpose-serve serves it; runtime/triton/deploy/ for clusters)",
    )
    p.add_argument(
        "--triton-detector",
        type=Path,
        metavar="DET",
        help="with --triton: serve this detector package (swinpose-export --detector FILE --out DET) in the "
        "repository too, so that requests without boxes get the people it finds",
    )
    p.add_argument("--quiet", action="store_true", help="only the summary line, no progress bars")
    return p


def _run_detector(args: argparse.Namespace) -> int:
    from export.detector import DetectorExportOptions, export_detector
    from runtime.errors import InputError

    pose_only = {
        "--calib-data": args.calib_data,
        "--calib-cache": args.calib_cache,
        "--parity-data": args.parity_data,
        "--triton": args.triton,
        "--triton-detector": args.triton_detector,
        "--mmpose-config": args.mmpose_config,
    }
    given = [flag for flag, value in pose_only.items() if value]
    if given:
        raise InputError(f"{', '.join(given)}: for pose models (--weights), not --detector; drop them")
    options = DetectorExportOptions(
        layout=args.det_format,
        person_class=args.person_class,
        input_size=args.det_input_size,
        precision="fp16" if args.fp16 else "int8" if args.int8 else "fp32",
        engine=False if args.onnx_only else True if args.engine else None,
        trt_flavor=args.trt_flavor,
        compute_capabilities=tuple(c.strip() for c in args.compute_capability.split(",") if c.strip()),
        workspace_gb=args.workspace,
        opencv=args.opencv,
        progress=not args.quiet,
    )
    result = export_detector(args.detector, args.out or Path(f"{args.detector.stem}_detector"), options)
    print(f"{PROG}: {result.summary()}")
    return 0


def _run(args: argparse.Namespace) -> int:
    from export.package import ExportOptions, export_package, parse_batch
    from runtime.errors import InputError

    if args.detector is not None:
        return _run_detector(args)

    precision = "fp16" if args.fp16 else "int8" if args.int8 else "fp32"
    weights = str(args.weights)
    out = args.out or Path(f"{Path(weights).stem}_{precision}")
    options = ExportOptions(
        precision=precision,
        model=args.model,
        input_size=args.input_size,
        mmpose_config=args.mmpose_config,
        calib_data=args.calib_data,
        calib_size=args.calib_size,
        calib_method=args.calib_method,
        calib_cache=args.calib_cache,
        parity_data=args.parity_data,
        parity_crops=args.parity_crops,
        int8_weight_bits=args.int8_weight_bits,
        gate=not args.no_gate,
        batch=parse_batch(args.batch),
        engine=False if args.onnx_only else True if args.engine else None,
        workspace_gb=args.workspace,
        dla_core=args.dla_core,
        timing_cache=args.timing_cache,
        trt_mode=args.trt_mode,
        opencv=args.opencv,
        trt_flavor=args.trt_flavor,
        compute_capabilities=tuple(c.strip() for c in args.compute_capability.split(",") if c.strip()),
        progress=not args.quiet,
    )
    if args.triton_detector is not None and args.triton is None:
        raise InputError("--triton-detector puts a detector in the Triton repository: add --triton DIR")
    if args.triton is not None:  # before the export's slow work, not after it
        from runtime.triton.config import ServingOptions
        from runtime.triton.repository import check_repository_folder, open_detector

        check_repository_folder(args.triton)
        if args.triton_detector is not None:
            open_detector(args.triton_detector, ServingOptions())
    if precision == "int8":
        note = int8_speed_note()
        if note:
            print(f"{PROG}: {note}")
    result = export_package(weights, out, options)
    print(f"{PROG}: {result.summary()}")
    if args.triton is not None:
        from runtime.triton.repository import write_repository

        write_repository(out, args.triton, detector=args.triton_detector)
        print(
            f"{PROG}: Triton model repository {args.triton}/ (serve it with: swinpose-serve --package {out} "
            f"--repository {args.triton})"
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")  # other libraries: warnings only
    for name in ("export", "swinpose", "runtime"):
        logging.getLogger(name).setLevel(logging.WARNING if args.quiet else logging.INFO)
    return run_guarded(PROG, _run, args)


if __name__ == "__main__":
    raise SystemExit(main())
