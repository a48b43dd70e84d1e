"""``python -m swinpose.cli.pack``: turn a training checkpoint into a shippable model file and its model card.

    python -m swinpose.cli.pack --checkpoint runs/nano_synthetic/last.pth --data data/synthetic \\
        --out swinpose/weights/swinpose_nano_128x96_synthetic.safetensors

Evaluates the checkpoint on the val split of --data (GT boxes, flip test) with the weights as stored (float16 with
--half), then writes the .safetensors file with its config, codec sigma, training record and evaluation in its
metadata, and MODEL_CARD.md beside it.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from runtime.exitcodes import run_guarded
from runtime.files import atomic_path
from swinpose.defaults import BOX_PADDING

PROG = "python -m swinpose.cli.pack"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", required=True, type=Path, help="a training checkpoint (.pth)")
    p.add_argument("--data", required=True, type=Path, help="the synthetic root it was trained on (val split used)")
    p.add_argument("--out", required=True, type=Path, help="the .safetensors model file to write")
    p.add_argument("--half", action=argparse.BooleanOptionalAction, default=True, help="store float16 weights")
    p.add_argument("--command", default="", help="the commands that produced the checkpoint (for the card)")
    p.add_argument("--hardware", help="what it trained on, for the card (default: CPU or CUDA as detected now)")
    return p


def _run(args: argparse.Namespace) -> int:
    import torch

    from swinpose.data.coco import find_split
    from swinpose.evaluation import evaluate_weights
    from swinpose.models.pose_io import INFERENCE_META_KEY, build_pose_model, save_pose_model

    ckpt = torch.load(args.checkpoint, map_location="cpu", weights_only=True)
    train_cfg = ckpt["train_config"]
    log_file = args.checkpoint.parent / "log.jsonl"
    log = [json.loads(line) for line in log_file.read_text().splitlines()] if log_file.is_file() else []
    seconds = _training_seconds(log)
    model = build_pose_model(ckpt["model"], ckpt["model_config"], args.checkpoint)
    meta = dict(sigma=str(train_cfg["sigma"]))
    if INFERENCE_META_KEY in ckpt:  # the pre-processing, codec and keypoints the package will carry
        meta[INFERENCE_META_KEY] = str(ckpt[INFERENCE_META_KEY])
    hardware = args.hardware or ("CUDA" if torch.cuda.is_available() else "CPU")
    training = dict(
        seed=train_cfg["seed"],
        epochs=ckpt["epoch"] + 1,
        iterations=ckpt["iteration"],
        seconds=seconds,
        command=args.command,
        config=train_cfg,
        device=hardware,
    )
    ann, images = find_split(args.data, "val")
    val = json.loads(ann.read_text())
    with tempfile.TemporaryDirectory() as tmp:  # evaluate exactly the weights that ship (float16 if --half)
        probe = save_pose_model(model, Path(tmp) / "probe.safetensors", half=args.half, metadata=meta)
        run = evaluate_weights(probe, ann, images)
    seed = int(val.get("info", {}).get("seed", 0))
    evaluation = dict(seed=seed, val_images=len(val["images"]), people=run.num_instances, **run.stats)
    meta.update(training=json.dumps(training), evaluation=json.dumps(evaluation))
    save_pose_model(model, args.out, half=args.half, metadata=meta)
    card = args.out.with_name("MODEL_CARD.md")
    with atomic_path(card) as tmp_card:
        tmp_card.write_text(_card(args.out, model.cfg.to_dict(), training, evaluation))
    print(json.dumps(evaluation))
    return 0


def _training_seconds(log: list[dict]) -> float | None:
    """Wall time over every stage of a run: ``seconds`` restarts from 0 in each ``--resume``d call."""
    total, previous = 0.0, 0.0
    for record in log:
        if record["seconds"] < previous:
            total += previous
        previous = record["seconds"]
    return total + previous if log else None


def _card(weights: Path, cfg: dict, training: dict, ev: dict) -> str:
    from swinpose.evaluation import STAT_NAMES

    minutes = f"{training['seconds'] / 60:.1f} min" if training["seconds"] else "unknown"
    rows = "\n".join(f"| {n} | {ev[n]:.4f} |" for n in STAT_NAMES)
    bb, tc = cfg["backbone"], training["config"]
    padding = tc.get("box_padding", BOX_PADDING)
    (h, w), win = bb["img_size"], bb["window_size"]
    arch = f"Swin (embed {bb['embed_dim']}, depths {bb['depths']}, heads {bb['num_heads']}, window {win})"
    recipe = f"batch {tc['batch_size']}, AdamW lr {tc['lr']} {tc['schedule']}"
    return f"""# Model card: {weights.name}

**This model knows synthetic figures, not real people.** It was trained only on images that
`swinpose-synth` renders (stick-and-blob figures with the 17 COCO keypoints). On real photos its keypoints are
not meaningful. It exists so that every stage of swinpose (export, runtime, benchmarks, AP parity) can be
demonstrated and tested with a model whose heatmaps mean something, without downloading anything.

| | |
|---|---|
| architecture | `{cfg["name"]}`: {arch} + FPN fusion `{cfg["fusion"]}` + heatmap head |
| input | {h}×{w} RGB crop ({padding} × box), heatmaps {h // 4}×{w // 4}, Gaussian sigma {tc["sigma"]} |
| weights | float16 safetensors; config, sigma, training record and evaluation in its metadata |
| training data | `swinpose-synth` train split, seed {training["seed"]} |
| training | {training["epochs"]} epochs, {training["iterations"]} iterations of {recipe}, seed {training["seed"]} |
| training time | {minutes} on {training["device"]} |

## Reproduce

```bash
{training["command"]}
```

## Evaluation

Synthetic val split: {ev["val_images"]} images (seed {ev["seed"]}), {ev["people"]} people, ground-truth boxes, flip
test, DARK decoding, COCO OKS metrics from pycocotools, computed on the weights as shipped (float16):

| metric | value |
|---|---|
{rows}

`tests/test_bundled_model.py` regenerates this split and checks that AP stays within 0.02 of the figure above.
"""


def main(argv: list[str] | None = None) -> int:
    return run_guarded(PROG, _run, _parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
