"""``swinpose-train-detector --data data/synthetic --out runs/detector``: train the bundled person detector
(torchvision FCOS, :mod:`swinpose.detection`) on a COCO-layout keypoint dataset's person boxes, then score it on the
val split with pycocotools (person bbox AP) through the runtime's own detector path (ONNX Runtime).

A second call with the same --out resumes from its last.pth.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
from pathlib import Path

from runtime.exitcodes import nonnegative_int, positive_float, positive_int, run_guarded

PROG = "swinpose-train-detector"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, required=True, help="COCO-layout root with train and val splits")
    p.add_argument("--out", type=Path, required=True, help="run folder: last.pth, detector.safetensors, record.json")
    p.add_argument("--epochs", type=positive_int, default=8)
    p.add_argument("--batch-size", type=positive_int, default=16)
    p.add_argument("--lr", type=positive_float, default=2e-3)
    p.add_argument("--seed", type=nonnegative_int, default=0)
    p.add_argument("--threads", type=positive_int, default=2)
    p.add_argument(
        "--pose",
        default="bundled",
        help="pose weights whose keypoint AP with the detector's boxes is recorded beside the box AP (default bundled)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p


def _run(args: argparse.Namespace) -> int:
    from swinpose.data.coco import find_split
    from swinpose.detection.onnx import open_detector
    from swinpose.detection.train import DetectorTrainConfig, train_detector
    from swinpose.detection.weights import load_detector, save_detector
    from swinpose.evaluation import EVAL_BOX_SCORE_THR, evaluate_with_detector, format_table
    from swinpose.models.pose_io import resolve_weights

    cfg = DetectorTrainConfig(
        epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed, threads=args.threads
    )
    weights = train_detector(args.data, args.out, cfg, progress=not args.quiet)
    ann, images = find_split(args.data, "val")
    with tempfile.TemporaryDirectory(prefix="swinpose-detector-") as tmp:
        with open_detector(weights, Path(tmp), score_thr=EVAL_BOX_SCORE_THR) as detector:
            run = evaluate_with_detector(resolve_weights(args.pose), ann, images, detector, progress=not args.quiet)
    val = json.loads(ann.read_text())
    evaluation = {
        "split": "val",
        "seed": int(val.get("info", {}).get("seed", 0)),
        "val_images": len(val["images"]),
        "people": run.ground_truth.num_instances,
        "box_score_floor": EVAL_BOX_SCORE_THR,
        "boxes": len(run.boxes),
        "pose_weights": Path(resolve_weights(args.pose)).name,
        "bbox": run.box_stats,
        "keypoints_detected": run.detected.stats,
        "keypoints_gt": run.ground_truth.stats,
    }
    model, model_cfg, record = load_detector(weights)  # float16 as stored: re-saving it changes no weight
    save_detector(model, model_cfg, weights, {**record, "evaluation": evaluation})
    (args.out / "eval_val.json").write_text(json.dumps(evaluation, indent=2))
    print(f"person boxes, {args.data} val (pycocotools bbox):")
    print(format_table(run.box_stats))
    print(
        f"keypoints of {args.pose} with these boxes / with ground-truth boxes: AP {run.detected.stats['AP']:.4f} / "
        f"{run.ground_truth.stats['AP']:.4f}"
    )
    print(f"weights: {weights}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(message)s")
    return run_guarded(PROG, _run, args)


if __name__ == "__main__":
    sys.exit(main())
