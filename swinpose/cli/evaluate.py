"""``swinpose-eval --weights ... --data ...``: COCO keypoint AP through pycocotools."""

from __future__ import annotations

from runtime._cli import planned_tool


def main(argv: list[str] | None = None) -> int:
    return planned_tool("swinpose-eval", "evaluate a checkpoint with COCO OKS AP", argv)
