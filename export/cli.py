"""``swinpose-export --weights x.pth --fp16``: build a model package (ONNX, TensorRT engine, model.json)."""

from __future__ import annotations

from runtime._cli import planned_tool


def main(argv: list[str] | None = None) -> int:
    return planned_tool("swinpose-export", "export a checkpoint to an ONNX/TensorRT model package", argv)
