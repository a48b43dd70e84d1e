"""Show what swinpose does: a named model's size, compute and latency, and the bundled trained model at work.

    python -m swinpose.cli.demo --model swinpose_t_256x192 --image photo.jpg   # random weights: size and speed
    python -m swinpose.cli.demo --bundled --out demo_out                         # trained model: keypoints and AP
    python -m swinpose.cli.demo --list

With ``--image`` the whole image is resized to the input of a randomly initialised model (its heatmaps mean
nothing; it shows shapes and speed). ``--bundled`` renders the bundled model's synthetic validation set (as its
model card defines it), evaluates the model on it with pycocotools, and writes one annotated image.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from runtime.errors import InputError
from runtime.exitcodes import positive_int, run_guarded
from runtime.files import atomic_path
from swinpose.defaults import inference_spec
from swinpose.models import create_model, get_config, list_models, measure_complexity
from swinpose.models.neck import FUSIONS

PROG = "python -m swinpose.cli.demo"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="swinpose_t_256x192", help="a name from --list")
    p.add_argument("--fusion", choices=sorted(FUSIONS), default="sum", help="sum = method A, concat = method B")
    p.add_argument("--image", type=Path, help="image to run on (any format OpenCV reads)")
    p.add_argument("--runs", type=positive_int, default=5, help="timed forward passes (median is printed)")
    p.add_argument("--threads", type=positive_int, default=torch.get_num_threads(), help="CPU threads for torch")
    p.add_argument("--list", action="store_true", help="print params and compute of every named model and exit")
    p.add_argument("--bundled", action="store_true", help="run the bundled synthetic-data model: keypoints and AP")
    p.add_argument("--out", type=Path, default=Path("demo_out"), help="folder for --bundled's data and image")
    return p


def _list_models() -> int:
    print(f"{'model':<27}{'input':>9}{'window':>8}{'params M':>10}{'backbone M':>12}{'GMACs':>8}{'GFLOPs':>8}")
    for name in list_models():
        cfg = get_config(name)
        c = measure_complexity(cfg)
        h, w = cfg.input_size
        print(
            f"{name:<27}{f'{h}x{w}':>9}{cfg.backbone.window_size:>8}{c.params / 1e6:>10.2f}"
            f"{c.backbone_params / 1e6:>12.2f}{c.gmacs:>8.2f}{c.gflops:>8.2f}"
        )
    return 0


def _bundled(out: Path) -> None:
    """Evaluate the bundled model on its synthetic val set and draw its keypoints on the first image."""
    from runtime.draw import draw_poses
    from swinpose.data.coco import find_split
    from swinpose.data.synthetic import write_dataset
    from swinpose.evaluation import evaluate_weights, format_table
    from swinpose.models.pose_io import BUNDLED_WEIGHTS, read_pose_file

    _, cfg, meta = read_pose_file(BUNDLED_WEIGHTS)
    card = json.loads(meta["evaluation"])
    data = out / "synthetic"
    write_dataset(data, 0, card["val_images"], seed=card["seed"], progress=False)
    ann, images = find_split(data, "val")
    run = evaluate_weights(BUNDLED_WEIGHTS, ann, images, progress=False)
    pred = run.predictions
    ids, counts = np.unique(pred.image_ids, return_counts=True)
    shown = int(ids[counts.argmax()])  # the first image with the most people
    first = pred.image_ids == shown
    image = cv2.imread(str(images / f"{shown:012d}.jpg"))
    drawn = draw_poses(image, pred.keypoints[first], pred.scores[first])
    png = out / "bundled_keypoints.png"
    with atomic_path(png) as tmp:
        if not cv2.imwrite(str(tmp), np.concatenate([image, drawn], 1)):
            raise InputError(f"cannot write {tmp}; check that {out} is writable")
    print(f"bundled    {BUNDLED_WEIGHTS.name} ({cfg['name']}, trained on synthetic figures, not real people)")
    print(
        f"val set    {card['val_images']} synthetic images (seed {card['seed']}), {run.num_instances} people, GT boxes"
    )
    for line in format_table(run.stats).splitlines():
        print(f"           {line}")
    print(f"card AP    {card['AP']:.4f} (model card); measured here {run.stats['AP']:.4f}")
    n = int(first.sum())
    print(f"keypoints  {png} (val image {shown}; left: input, right: predicted keypoints of {n} people)")


def _run(args: argparse.Namespace) -> int:
    if args.list:
        return _list_models()
    if args.image is None and not args.bundled:
        raise InputError("no --image given; pass a photo, e.g. --image tests/data/coco-val2017-sample/000000196141.jpg")
    if args.image is not None:
        _random_weights(args)
    if args.bundled:
        _bundled(args.out)
    return 0


def _random_weights(args: argparse.Namespace) -> None:
    if not args.image.is_file():
        raise InputError(f"image {args.image} does not exist; check the path")
    image = cv2.imread(str(args.image), cv2.IMREAD_COLOR)
    if image is None:
        raise InputError(f"cannot read {args.image} as an image; check the path and that it is a JPEG/PNG")
    torch.set_num_threads(args.threads)
    model = create_model(args.model, fusion=args.fusion).eval()
    cfg = model.cfg
    c = measure_complexity(cfg)
    h, w = cfg.input_size
    crop = cv2.resize(image, (w, h), interpolation=cv2.INTER_LINEAR)
    x = torch.from_numpy(inference_spec(cfg).preprocess.normalize(crop[np.newaxis]))
    times = []
    with torch.inference_mode():
        heatmaps = model(x)  # warm-up
        for _ in range(args.runs):
            start = time.perf_counter()
            heatmaps = model(x)
            times.append(time.perf_counter() - start)
    print(f"model      {cfg.name} (fusion {cfg.fusion} = method {FUSIONS[cfg.fusion]}, random weights)")
    print(f"params     {c.params / 1e6:.2f} M (backbone {c.backbone_params / 1e6:.2f} M)")
    backbone = f"backbone {c.backbone_flops / 2e9:.2f} GMACs"
    print(f"compute    {c.gmacs:.2f} GMACs = {c.gflops:.2f} GFLOPs per {h}x{w} crop ({backbone})")
    print(f"image      {args.image} {image.shape[1]}x{image.shape[0]} -> input {'x'.join(map(str, x.shape))}")
    print(f"output     heatmaps {'x'.join(map(str, heatmaps.shape))} (B x K x H/4 x W/4)")
    print(f"forward    {statistics.median(times) * 1e3:.1f} ms median of {len(times)} on CPU, {args.threads} threads")


def main(argv: list[str] | None = None) -> int:
    return run_guarded(PROG, _run, _parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
