"""``swinpose-demo --out demo_out``: the whole pipeline in one command, run as the nine commands a user would type.

    swinpose-demo --out demo_out                                  # the shipped COCO photos (from a checkout)
    swinpose-demo --out demo_out --image photo.jpg --photos DIR   # your own photos (--boxes: their person boxes)

1. ``python -m swinpose.cli.demo``: Swin-T 256×192's size, compute, output shape and CPU latency on a photo, then
   the bundled model's COCO AP on its synthetic val set and an image of its keypoints;
2. ``swinpose-export``: the bundled model as a model package, with its parity line;
3. and 4. ``swinpose-infer``: PoseEngine on the photos and on the synthetic val images, with their boxes;
5. ``swinpose-export --detector bundled``: the bundled person detector as a detector package;
6. ``swinpose-infer --detector``: from pixels, the detector then the pose model, on the synthetic val images;
7. ``swinpose-eval --detector``: the detector's person bbox AP, and the keypoint AP with its boxes and with GT boxes;
8. and 9. ``swinpose-bench latency`` and ``parity``: the package against PyTorch eager and the machine's floor.

Each step runs as its own process (``python -m`` the module behind the console script, which keeps this module
free of imports from ``export`` and ``benchmarks``), after its command is printed. The first step that fails stops
the demo with that step's exit code.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
from pathlib import Path

from runtime.errors import InputError
from runtime.exitcodes import positive_int, run_guarded

__all__ = ["main", "demo_steps", "shipped_inputs", "MODULES"]

PROG = "swinpose-demo"
ROOT = Path(__file__).resolve().parents[2]  # the checkout (the shipped photos are test data, not package data)
SHIPPED = ROOT / "tests" / "data" / "coco-val2017-sample"
DEMO = ("python", "-m", "swinpose.cli.demo")
PARITY = ("--precisions", "fp32", "--quiet")

#: console command -> the module behind it (each ends in ``if __name__ == "__main__"``)
MODULES = {
    "swinpose-export": "export.cli",
    "swinpose-infer": "runtime.cli",
    "swinpose-eval": "swinpose.cli.evaluate",
    "swinpose-bench": "benchmarks.cli",
}


def shipped_inputs() -> tuple[Path, Path, Path]:
    """(the demo photo, the folder of COCO val2017 photos, their COCO annotation file) of a checkout's test data."""
    return SHIPPED / "000000196141.jpg", SHIPPED, SHIPPED / "test_coco.json"


def demo_steps(
    out: Path, image: Path, photos: Path, boxes: Path | None, threads: int = 2, iters: int = 20
) -> list[list[str]]:
    """The demo's commands, in order, as a user would type them (``swinpose-...`` or ``python -m ...``).

    ``out`` is the output folder, ``image`` the photo of the first step, ``photos`` a photo or folder that PoseEngine
    runs on with the person boxes of ``boxes`` (None: each whole photo); ``threads`` and ``iters`` are the latency
    benchmark's CPU threads and timed runs.
    """
    package, detector, synthetic = out / "package", out / "detector", out / "synthetic"
    val, val_ann = synthetic / "val", synthetic / "annotations" / "person_keypoints_val.json"
    photo_boxes = [] if boxes is None else ["--boxes", boxes]
    latency = ["--backends", "torch,onnxruntime", "--precisions", "fp32", "--batch", "1,8", "--iters", iters]
    steps = [
        [*DEMO, "--model", "swinpose_t_256x192", "--image", image, "--bundled", "--out", out],
        ["swinpose-export", "--weights", "bundled", "--out", package, "--quiet"],
        ["swinpose-infer", "--package", package, photos, *photo_boxes, "--out", out / "photos"],
        ["swinpose-infer", "--package", package, val, "--boxes", val_ann, "--out", out / "synthetic_poses"],
        ["swinpose-export", "--detector", "bundled", "--out", detector, "--quiet"],
        ["swinpose-infer", "--package", package, "--detector", detector, val, "--out", out / "synthetic_detected"],
        ["swinpose-eval", "--weights", "bundled", "--data", synthetic, "--detector", detector],
        ["swinpose-bench", "latency", "--package", package, *latency, "--threads", threads, "--quiet"],
        ["swinpose-bench", "parity", "--package", package, "--data", val_ann, "--images", val, *PARITY],
    ]
    return [[str(a) for a in step] for step in steps]


def _module_argv(step: list[str]) -> list[str]:
    """The step as this interpreter runs it: ``python -m <module> args...``."""
    if tuple(step[:3]) == DEMO:
        return [sys.executable, *step[1:]]
    return [sys.executable, "-m", MODULES[step[0]], *step[1:]]


def _step_name(step: list[str]) -> str:
    """``python -m swinpose.cli.demo``, ``swinpose-export``, ``swinpose-bench latency``: what a failure names."""
    if tuple(step[:3]) == DEMO:
        return " ".join(DEMO)
    return " ".join(step[:2]) if step[0] == "swinpose-bench" else step[0]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, required=True, help="output folder (created; e.g. demo_out)")
    p.add_argument("--image", type=Path, help="the photo of the first step (default: a shipped COCO photo)")
    p.add_argument("--photos", type=Path, help="a photo or folder PoseEngine runs on (default: the shipped photos)")
    boxes = "person boxes of --photos, as swinpose-infer --boxes reads them (default: each whole photo)"
    p.add_argument("--boxes", type=Path, help=boxes)
    p.add_argument("--threads", type=positive_int, default=2, help="CPU threads of the latency benchmark (default 2)")
    p.add_argument("--iters", type=positive_int, default=20, help="timed runs per latency row (default 20)")
    return p


def _inputs(args: argparse.Namespace) -> tuple[Path, Path, Path | None]:
    """(image, photos, boxes): the user's, else the shipped ones; InputError where the shipped ones are absent."""
    image, photos, boxes = shipped_inputs()
    if args.boxes is not None and args.photos is None:
        raise InputError("--boxes needs --photos: it gives the person boxes of your own photos")
    shipped = {"--image": image, "--photos": photos}
    missing = [flag for flag, path in shipped.items() if getattr(args, flag[2:]) is None and not path.exists()]
    if missing:
        raise InputError(
            f"the shipped COCO photos are not here ({SHIPPED} is missing: they come with a checkout of swinpose, not "
            f"with an installed wheel); pass {' and '.join(missing)} with your own, or run from a checkout"
        )
    if args.photos is not None:
        photos, boxes = args.photos, args.boxes
    return args.image or image, photos, boxes


def _run(args: argparse.Namespace) -> int:
    image, photos, boxes = _inputs(args)
    steps = demo_steps(args.out, image, photos, boxes, args.threads, args.iters)
    for number, step in enumerate(steps, 1):
        print(f"\n$ {shlex.join(step)}", flush=True)
        code = subprocess.run(_module_argv(step)).returncode
        if code:
            failed = f"step {number} of {len(steps)} ({_step_name(step)}) failed with exit code {code}"
            print(f"{PROG}: error: {failed}; its output is above", file=sys.stderr, flush=True)
            return code
    print(f"\n{PROG}: all {len(steps)} steps done; everything they wrote is in {args.out}/")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_guarded(PROG, _run, _parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
