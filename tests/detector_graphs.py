"""ONNX detector graphs in a family's documented output layout that return known constants (tests only): for the
layouts whose exporters do not install here, and for pipeline tests that need a detector with known boxes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def constant_detector(outputs: dict[str, np.ndarray], size: tuple[int, int], extra_nodes=(), path: Path | None = None):
    """An ONNX graph taking a 1×3×H×W image and returning ``outputs`` (name → constant array, batch first)."""
    nodes, inits = list(extra_nodes), []
    nodes.append(helper.make_node("ReduceMax", ["images"], ["m"], keepdims=0))
    nodes.append(helper.make_node("Mul", ["m", "zero"], ["z"]))
    inits.append(numpy_helper.from_array(np.array(0, np.float32), "zero"))
    outs = []
    for name, value in outputs.items():
        inits.append(numpy_helper.from_array(value, f"{name}_value"))
        if value.dtype == np.float32:
            nodes.append(helper.make_node("Add", [f"{name}_value", "z"], [name]))
        else:
            nodes.append(helper.make_node("Identity", [f"{name}_value"], [name]))
        outs.append(helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(value.dtype), value.shape))
    image = helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, *size])
    graph = helper.make_graph(nodes, "detector", [image], outs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    if path is not None:
        onnx.save(model, path)
    return model


def cxcywh(b: np.ndarray) -> np.ndarray:
    """N×4 (x1, y1, x2, y2) → N×4 (cx, cy, w, h)."""
    return np.concatenate([(b[:, :2] + b[:, 2:]) / 2, b[:, 2:] - b[:, :2]], 1)


def yolov5_detector(boxes: np.ndarray, scores: np.ndarray, size: tuple[int, int], path: Path, nc: int = 80) -> Path:
    """A YOLOv5-layout file ([1, 3·cells, 5+nc]) whose rows are ``boxes`` (N×4 xyxy in network pixels) scored
    ``scores`` as people, at input ``size`` (H, W); the other rows score 0."""
    from runtime.detection.layouts import grid_cells

    rows = np.zeros((3 * grid_cells(size), 5 + nc), np.float32)
    rows[: len(boxes), :4], rows[: len(boxes), 4], rows[: len(boxes), 5] = cxcywh(np.asarray(boxes)), 1.0, scores
    constant_detector({"output0": rows[None]}, size, path=path)
    return path
