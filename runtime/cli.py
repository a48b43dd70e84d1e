"""``swinpose-infer``: pose estimation on images and videos with :class:`runtime.PoseEngine` (numpy/OpenCV only)."""

from __future__ import annotations

from runtime._cli import planned_tool


def main(argv: list[str] | None = None) -> int:
    return planned_tool("swinpose-infer", "run a model package on images or video and draw keypoints", argv)
