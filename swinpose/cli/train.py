"""``swinpose-train --config ... --data ... --out ...``: train a Swin-Pose model on COCO-format keypoints.

    swinpose-train --config nano_synthetic --data data/synthetic --out runs/nano
    torchrun --nproc-per-node 8 -m swinpose.cli.train --config cfg.json --data coco --out runs/t   # multi-GPU

``--config`` is a JSON file of :class:`swinpose.train.TrainConfig` fields, or the name of one in swinpose/configs/.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from runtime.exitcodes import positive_int, run_guarded

PROG = "swinpose-train"
CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"


def resolve_config(value: str) -> Path:
    """A config path, or a bundled config's name (``nano_synthetic`` → swinpose/configs/nano_synthetic.json)."""
    path = Path(value)
    if path.is_file():
        return path
    bundled = CONFIG_DIR / f"{value.removesuffix('.json')}.json"
    return bundled if bundled.is_file() else path


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    names = sorted(f.stem for f in CONFIG_DIR.glob("*.json"))
    p.add_argument("--config", required=True, help=f"JSON file or bundled name ({', '.join(names)})")
    p.add_argument("--data", required=True, type=Path, help="COCO-layout root with train and val splits")
    p.add_argument("--out", required=True, type=Path, help="folder for checkpoints, config.json and log.jsonl")
    p.add_argument("--resume", type=Path, help="a checkpoint (or an --out folder: its last.pth) to continue from")
    p.add_argument("--device", help="cpu, cuda, cuda:1 (default: cuda if available)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=JSON", help="override a config field")
    p.add_argument("--max-iters", type=positive_int, help="stop after this many iterations (smoke tests)")
    return p


def _run(args: argparse.Namespace) -> int:
    from runtime.errors import ConfigError
    from swinpose.train import TrainConfig, train

    path = resolve_config(args.config)
    d = json.loads(path.read_text()) if path.is_file() else None
    if d is None:
        raise ConfigError(f"config {args.config} is neither a file nor a bundled config; see --help for the names")
    for item in args.set:
        key, _, value = item.partition("=")
        try:
            d[key] = json.loads(value)
        except json.JSONDecodeError:
            d[key] = value
    cfg = TrainConfig.from_dict(d)
    summary = train(cfg, args.data, args.out, resume=args.resume, device=args.device, max_iters=args.max_iters)
    summary.pop("losses")
    if int(os.environ.get("RANK", "0")) == 0:  # under torchrun only the first process reports
        print(json.dumps({k: round(v, 5) if isinstance(v, float) else v for k, v in summary.items()}))
    return 0


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    return run_guarded(PROG, _run, _parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
