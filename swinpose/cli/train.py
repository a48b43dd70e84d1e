"""``swinpose-train --config ... --data ... --out ...``: train a Swin-Pose model on COCO-format keypoints."""

from __future__ import annotations

from runtime._cli import planned_tool


def main(argv: list[str] | None = None) -> int:
    return planned_tool("swinpose-train", "train a Swin-Pose model on COCO-format keypoint data", argv)
