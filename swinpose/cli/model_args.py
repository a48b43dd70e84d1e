"""The flags that say which model a weights file holds, shared by ``swinpose-export`` and ``swinpose-eval``."""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["parse_input_size", "add_model_arguments"]


def parse_input_size(text: str) -> tuple[int, int]:
    """``"256x192"`` → (256, 192), (H, W)."""
    parts = text.lower().replace("×", "x").split("x")
    if len(parts) != 2 or not all(p.strip().isdigit() and int(p) > 0 for p in parts):
        raise argparse.ArgumentTypeError(f"{text!r} is not HxW in pixels, e.g. 256x192")
    return int(parts[0]), int(parts[1])


def add_model_arguments(p: argparse.ArgumentParser) -> None:
    """``--model``, ``--input-size`` and ``--mmpose-config`` (see :func:`swinpose.models.pose_io.read_pose_file`)."""
    p.add_argument("--model", help="registered model name; required for a bare state dict, checked otherwise")
    p.add_argument(
        "--input-size",
        type=parse_input_size,
        metavar="HxW",
        help="input size of an MMPose checkpoint (its file does not record it), e.g. 256x192",
    )
    p.add_argument(
        "--mmpose-config",
        type=Path,
        metavar="CFG.py",
        help="the MMPose config an MMPose checkpoint was "
        "trained with: input size, pre-processing and flip settings (read, never run)",
    )
