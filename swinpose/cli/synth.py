"""``swinpose-synth --out DIR``: write a synthetic COCO-format keypoint dataset (deterministic from --seed).

``--videos N`` also writes N synthetic videos with ground-truth tracks (``DIR/videos/NNN.avi`` and PoseTrack18-style
``DIR/annotations/video_NNN.json``): figures that walk, cross, pass behind a pillar and leave the frame.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from runtime.exitcodes import nonnegative_int, positive_float, positive_int, run_guarded

PROG = "swinpose-synth"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0].split(":", 1)[1].strip())
    p.add_argument("--out", required=True, type=Path, help="root folder (train/, val/, annotations/)")
    p.add_argument("--train", type=nonnegative_int, default=4000, help="training images")
    p.add_argument("--val", type=nonnegative_int, default=200, help="validation images")
    p.add_argument("--seed", type=nonnegative_int, default=0)
    p.add_argument("--videos", type=nonnegative_int, default=0, help="synthetic videos with ground-truth tracks")
    p.add_argument("--frames", type=positive_int, default=60, help="frames per video")
    p.add_argument("--people", type=nonnegative_int, default=3, help="walkers per video")
    p.add_argument("--fps", type=positive_float, default=25.0, help="the videos' frame rate")
    return p


def _run(args: argparse.Namespace) -> int:
    from runtime.errors import ConfigError
    from swinpose.data.synthetic import write_dataset

    if args.train < 0 or args.val < 0:
        raise ConfigError("--train and --val must be >= 0")
    for split, ann in write_dataset(args.out, args.train, args.val, args.seed).items():
        print(f"{split}: {ann}")
    if args.videos:
        from swinpose.data.synthetic_video import VideoConfig, write_videos

        cfg = VideoConfig(frames=args.frames, fps=args.fps, people=args.people)
        for video, ann in write_videos(args.out, args.videos, args.seed, cfg):
            print(f"video: {video} ({ann})")
    return 0


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    return run_guarded(PROG, _run, _parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
