"""``swinpose-eval --weights ... --data ...``: COCO keypoint AP of a trained model, computed by pycocotools.

    swinpose-eval --weights bundled --data data/synthetic            # GT boxes of the val split
    swinpose-eval --weights best.pth --ann person_keypoints_val2017.json --images val2017 \\
                  --detections person_detection_results.json        # detector boxes: rescoring + OKS-NMS
    swinpose-eval --results results.json --ann person_keypoints_val2017.json   # score a results file, no model

Flip test is on by default. Results are written in COCO format with --out; the stats table is printed.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from runtime.exitcodes import positive_float, positive_int, run_guarded, unit_interval
from runtime.results import OKS_NMS_THR
from swinpose.cli.model_args import add_model_arguments

PROG = "swinpose-eval"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--weights", help="model .safetensors / training .pth, MMPose .pth, or 'bundled'")
    what.add_argument(
        "--results",
        type=Path,
        help="score this COCO keypoint-results JSON (e.g. swinpose-infer's "
        "results.json) against --ann; no model needed",
    )
    add_model_arguments(p)
    p.add_argument("--data", type=Path, help="COCO-layout root (annotations/person_keypoints_{split}.json)")
    p.add_argument("--split", default="val")
    p.add_argument("--ann", type=Path, help="a person_keypoints JSON (instead of --data)")
    p.add_argument("--images", type=Path, help="the image folder of --ann")
    boxes = p.add_mutually_exclusive_group()
    boxes.add_argument("--detections", type=Path, help="COCO results JSON of person boxes (default: GT boxes)")
    boxes.add_argument(
        "--detector",
        help="find the people with this detector (a detector package, an .onnx file "
        "in a layout swinpose reads, swinpose detector weights, or 'bundled') and print its person "
        "bbox AP beside the keypoint AP with its boxes and with ground-truth boxes",
    )
    p.add_argument("--det-format", help="--detector's output layout, where the file does not tell")
    p.add_argument(
        "--det-score-thr",
        type=unit_interval,
        default=0.0,
        help="drop detector boxes scoring below this (with --detector, 0 means the evaluation floor of 0.1)",
    )
    p.add_argument("--nms-thr", type=unit_interval, default=OKS_NMS_THR, help="OKS-NMS threshold for detector boxes")
    p.add_argument("--no-flip", action="store_true", help="turn the flip test off")
    p.add_argument("--sigma", type=positive_float, help="codec sigma (default: the one the model was trained with)")
    p.add_argument("--batch-size", type=positive_int, default=32)
    p.add_argument(
        "--package",
        type=Path,
        help="with --results: the package whose keypoints' OKS sigmas to score with (default COCO's 17)",
    )
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda if available)")
    p.add_argument("--out", type=Path, help="write the COCO-format results JSON here")
    return p


def _score_results(args: argparse.Namespace) -> int:
    from runtime.errors import InputError
    from swinpose.evaluation import coco_keypoint_eval, format_table

    if args.ann is None:
        raise InputError("--results needs --ann, the COCO annotation file to score it against")
    sigmas = None
    if args.package is not None:
        from runtime.package import read_package

        sigmas = read_package(args.package).keypoints.sigmas()
    stats = coco_keypoint_eval(args.ann, args.results, sigmas)
    print(f"{args.results.name} against {args.ann.name}")
    print(format_table(stats))
    return 0


def _run(args: argparse.Namespace) -> int:
    from runtime.errors import InputError
    from runtime.files import check_output_file, write_json_atomic
    from swinpose.data.coco import find_split
    from swinpose.evaluation import evaluate_weights, format_table
    from swinpose.models.pose_io import resolve_weights

    if args.out is not None:
        check_output_file(args.out)
    if args.results is not None:
        return _score_results(args)
    if (args.data is None) == (args.ann is None):
        raise InputError("pass either --data ROOT or --ann FILE --images DIR")
    if args.ann is not None:
        if args.images is None:
            raise InputError("--ann needs --images, the folder its file_names are relative to")
        ann, images = args.ann, args.images
    else:
        ann, images = find_split(args.data, args.split)
    pose = dict(
        weights=resolve_weights(args.weights),
        ann_file=ann,
        image_dir=images,
        flip_test=not args.no_flip,
        sigma=args.sigma,
        batch_size=args.batch_size,
        device=args.device,
        model_name=args.model,
        input_size=args.input_size,
        mmpose_config=args.mmpose_config,
    )
    flip = "off" if args.no_flip else "on"
    if args.detector is not None:
        return _with_detector(args, pose, flip)
    run = evaluate_weights(**pose, detections=args.detections, det_score_thr=args.det_score_thr, nms_thr=args.nms_thr)
    if args.out:
        write_json_atomic(args.out, run.results)
    boxes = f"detector boxes from {args.detections.name}" if args.detections else "ground-truth boxes"
    print(f"{Path(args.weights).name} on {ann.name}: {run.num_instances} {boxes}, flip test {flip}")
    print(format_table(run.stats))
    if args.out:
        print(f"results: {args.out} ({len(run.results)} people)")
    return 0


def _with_detector(args: argparse.Namespace, pose: dict, flip: str) -> int:
    """Person bbox AP of ``args.detector``, then keypoint AP with its boxes (MMPose's protocol: every box the detector
    keeps, rescoring, OKS-NMS) and with ground-truth boxes."""
    import tempfile

    from runtime.files import write_json_atomic
    from swinpose.detection.onnx import open_detector
    from swinpose.evaluation import EVAL_BOX_SCORE_THR, evaluate_with_detector, format_table

    floor = args.det_score_thr if args.det_score_thr > 0 else EVAL_BOX_SCORE_THR
    with tempfile.TemporaryDirectory(prefix="swinpose-eval-") as tmp:
        with open_detector(args.detector, Path(tmp), layout=args.det_format, score_thr=floor) as detector:
            run = evaluate_with_detector(**pose, detector=detector, nms_thr=args.nms_thr)
    if args.out:
        write_json_atomic(args.out, run.detected.results)
    name, ann = Path(args.weights).name, Path(pose["ann_file"]).name
    print(f"person boxes of {args.detector} on {ann} ({len(run.boxes)} boxes above {floor:g}, pycocotools bbox):")
    print(format_table(run.box_stats))
    print(
        f"{name}, keypoints with the detector's boxes ({run.detected.num_instances}; rescored, OKS-NMS "
        f"{args.nms_thr}), flip test {flip}:"
    )
    print(format_table(run.detected.stats))
    print(f"{name}, keypoints with ground-truth boxes ({run.ground_truth.num_instances}), flip test {flip}:")
    print(format_table(run.ground_truth.stats))
    print(
        f"bbox AP {run.box_stats['AP']:.4f} (AP50 {run.box_stats['AP50']:.4f}) | keypoint AP, detected boxes "
        f"{run.detected.stats['AP']:.4f} | keypoint AP, ground-truth boxes {run.ground_truth.stats['AP']:.4f}"
    )
    if args.out:
        print(f"results: {args.out} ({len(run.detected.results)} people)")
    return 0


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    logging.getLogger("swinpose.evaluation").setLevel(logging.INFO)  # what it repaired in the ground truth
    return run_guarded(PROG, _run, _parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
