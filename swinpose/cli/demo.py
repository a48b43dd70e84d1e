"""Build a named Swin-Pose model, run it on an image, and print its size, compute and output shape.

    python -m swinpose.cli.demo --model swinpose_t_256x192 --image photo.jpg
    python -m swinpose.cli.demo --list

The weights are random until a trained checkpoint is bundled, so the heatmaps carry no meaning yet. The whole image
is resized to the network input here; box → affine crops come with the data pipeline.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from runtime._cli import run_guarded
from runtime.errors import InputError
from runtime.transforms import normalize_batch
from swinpose.models import create_model, get_config, list_models, measure_complexity
from swinpose.models.neck import FUSIONS

PROG = "python -m swinpose.cli.demo"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="swinpose_t_256x192", help="a name from --list")
    p.add_argument("--fusion", choices=sorted(FUSIONS), default="sum", help="sum = method A, concat = method B")
    p.add_argument("--image", type=Path, help="image to run on (any format OpenCV reads)")
    p.add_argument("--runs", type=int, default=5, help="timed forward passes (median is printed)")
    p.add_argument("--threads", type=int, default=torch.get_num_threads(), help="CPU threads for torch")
    p.add_argument("--list", action="store_true", help="print params and compute of every named model and exit")
    return p


def _list_models() -> int:
    print(f"{'model':<24}{'input':>9}{'window':>8}{'params M':>10}{'backbone M':>12}{'GMACs':>8}{'GFLOPs':>8}")
    for name in list_models():
        cfg = get_config(name)
        c = measure_complexity(cfg)
        h, w = cfg.input_size
        print(
            f"{name:<24}{f'{h}x{w}':>9}{cfg.backbone.window_size:>8}{c.params / 1e6:>10.2f}"
            f"{c.backbone_params / 1e6:>12.2f}{c.gmacs:>8.2f}{c.gflops:>8.2f}"
        )
    return 0


def _run(args: argparse.Namespace) -> int:
    if args.list:
        return _list_models()
    if args.image is None:
        raise InputError("no --image given; pass a photo, e.g. --image tests/data/coco-val2017-sample/000000196141.jpg")
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
    x = torch.from_numpy(normalize_batch(crop[np.newaxis]))
    times = []
    with torch.inference_mode():
        heatmaps = model(x)  # warm-up
        for _ in range(max(args.runs, 1)):
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
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_guarded(PROG, _run, _parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
