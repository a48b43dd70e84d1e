"""The detector files users hold: one table of output layouts, how each is decoded to person boxes, and how a file's
layout is recognised from its outputs and metadata.

============================  ===============================================  ============  ===================
layout (``--det-format``)     outputs                                          NMS in graph  pre-processing
============================  ===============================================  ============  ===================
``ultralytics``               ``[1, 4+nc(+extra), A]``: cx cy w h, class       no            ``ultralytics``
                              scores (YOLOv8/11/26 default export, YOLOv5u)
``ultralytics-e2e``           ``[1, K, 6]``: x1 y1 x2 y2 score class, zero     yes           ``ultralytics``
                              rows (``nms=True``; YOLOv10/26 end-to-end)
``yolov5``                    ``[1, A, 5+nc]``: cx cy w h, objectness, class   no            ``ultralytics``
                              scores; A = 3 anchors × cells
``yolox``                     ``[1, A, 5+nc]`` raw: grid offsets, log sizes    no            ``yolox``
                              (strides 8/16/32), objectness, class scores;
                              A = cells
``mmdeploy-yolox``,           ``dets [1, N, 5]`` (x1 y1 x2 y2 score) +         yes           ``yolox`` / ``rtmdet``
``mmdeploy-rtmdet``           ``labels [1, N]`` (MMDeploy end2end, rtmlib)
``efficientnms``              ``num_dets [1, 1]``, ``det_boxes [1, K, 4]``,    yes           ``ultralytics``
                              ``det_scores``, ``det_classes`` (TensorRT's
                              EfficientNMS plugin: YOLOv6/7/9 ``--end2end``)
============================  ===============================================  ============  ===================

Every decoder returns the person class only: boxes in network-input pixels (corner coordinates, x1 y1 x2 y2) whose
score is *above* the threshold. Scores are as the family defines them: the class score (Ultralytics), objectness ×
class score (YOLOv5, YOLOX), the graph's own (NMS layouts). A box is a person by its column (its class), not by being
its best class, so a person also scored as another class is kept (Ultralytics' ``multi_label``, MMDetection's
multi-class NMS).

Shape legend: A anchors (candidate boxes), K or N kept rows, nc classes.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from runtime.backends.base import TensorSpec
from runtime.errors import ConfigError

__all__ = [
    "DetLayout",
    "Candidates",
    "LAYOUTS",
    "STRIDES",
    "detector_layout",
    "guess_layout",
    "class_names",
    "grid_cells",
]

#: the output strides of YOLOX and YOLOv5 heads
STRIDES = (8, 16, 32)


@dataclass(frozen=True)
class Candidates:
    """Person boxes a decoder found: N×4 (x1, y1, x2, y2) in network-input pixels and N scores."""

    boxes: np.ndarray
    scores: np.ndarray

    @classmethod
    def empty(cls) -> Candidates:
        return cls(np.zeros((0, 4)), np.zeros(0))


def _xywh_to_xyxy(b: np.ndarray) -> np.ndarray:
    b = np.asarray(b, np.float64)
    half = b[:, 2:4] / 2
    return np.concatenate([b[:, :2] - half, b[:, :2] + half], 1)


def _one(outputs: dict[str, np.ndarray], specs: Sequence[TensorSpec], ndim: int = 3) -> np.ndarray:
    y = outputs[specs[0].name]
    if y.ndim != ndim or y.shape[0] != 1:
        raise ConfigError(f"the detector's output {specs[0].name!r} has shape {y.shape}, not this layout's")
    return y[0].astype(np.float64)


def _check_class(person: int, nc: int) -> None:
    if not 0 <= person < nc:
        raise ConfigError(f"person class {person} is outside the detector's {nc} classes; pass --person-class")


def _ultralytics(outputs, specs, person, thr, input_size) -> Candidates:
    p = _one(outputs, specs)  # (4 + nc + extra) × A
    _check_class(person, p.shape[0] - 4)
    score = p[4 + person]
    keep = score > thr
    return Candidates(_xywh_to_xyxy(p[:4, keep].T), score[keep])


def _rows(boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray, person: int, thr: float) -> Candidates:
    keep = (scores > thr) & (np.rint(classes) == person)
    return Candidates(np.asarray(boxes, np.float64)[keep], np.asarray(scores, np.float64)[keep])


def _ultralytics_e2e(outputs, specs, person, thr, input_size) -> Candidates:
    p = _one(outputs, specs)  # K × 6
    return _rows(p[:, :4], p[:, 4], p[:, 5], person, thr)


def grid_cells(input_size: tuple[int, int], strides: Sequence[int] = STRIDES) -> int:
    """The number of grid cells over all ``strides`` of an (H, W) input (YOLOX's A; YOLOv5's A is three times it)."""
    h, w = input_size
    return sum((h // s) * (w // s) for s in strides)


def _objectness(outputs, specs, person) -> tuple[np.ndarray, np.ndarray]:
    p = _one(outputs, specs)  # A × (5 + nc)
    _check_class(person, p.shape[1] - 5)
    return p, p[:, 4] * p[:, 5 + person]


def _yolov5(outputs, specs, person, thr, input_size) -> Candidates:
    p, score = _objectness(outputs, specs, person)
    keep = score > thr
    return Candidates(_xywh_to_xyxy(p[keep, :4]), score[keep])


def _yolox(outputs, specs, person, thr, input_size) -> Candidates:
    p, score = _objectness(outputs, specs, person)
    h, w = input_size
    if len(p) != grid_cells(input_size):
        raise ConfigError(
            f"a raw YOLOX output for a {h}x{w} input has {grid_cells(input_size)} rows, this one "
            f"{len(p)}: pass the size it was exported for, or another --det-format"
        )
    keep = np.flatnonzero(score > thr)
    grids, strides = [], []
    for s in STRIDES:  # YOLOX's demo_postprocess: x varies fastest within each stride's grid
        ys, xs = np.meshgrid(np.arange(h // s), np.arange(w // s), indexing="ij")
        grids.append(np.stack([xs.ravel(), ys.ravel()], 1))
        strides.append(np.full(xs.size, s))
    grid, stride = np.concatenate(grids)[keep], np.concatenate(strides)[keep, None]
    xy = (p[keep, :2] + grid) * stride
    wh = np.exp(p[keep, 2:4]) * stride
    return Candidates(_xywh_to_xyxy(np.concatenate([xy, wh], 1)), score[keep])


def _named(outputs, specs, names: Sequence[str]) -> list[np.ndarray]:
    by_name = {s.name: outputs[s.name] for s in specs}
    out = []
    for n in names:
        y = by_name[n]
        if y.shape[0] != 1:
            raise ConfigError(f"the detector's output {n!r} has batch {y.shape[0]}; give it one image at a time")
        out.append(y[0])
    return out


def _mmdeploy(outputs, specs, person, thr, input_size) -> Candidates:
    dets, labels = _named(outputs, specs, ("dets", "labels"))
    return _rows(dets[:, :4], dets[:, 4], labels, person, thr)


def _efficientnms(outputs, specs, person, thr, input_size) -> Candidates:
    num, boxes, scores, classes = _named(outputs, specs, ("num_dets", "det_boxes", "det_scores", "det_classes"))
    n = int(np.asarray(num).reshape(-1)[0])
    return _rows(boxes[:n], scores[:n], classes[:n], person, thr)


Decoder = Callable[[dict, Sequence[TensorSpec], int, float, tuple[int, int]], Candidates]


@dataclass(frozen=True)
class DetLayout:
    """One layout of the table: its ``name`` (``--det-format``), the ``family`` that writes it, its letterbox
    ``preset`` (:data:`runtime.detection.letterbox.PRESETS`), whether NMS is in the graph, and its decoder."""

    name: str
    family: str
    preset: str
    nms_in_graph: bool
    decode: Decoder


LAYOUTS = {
    layout.name: layout
    for layout in (
        DetLayout("ultralytics", "Ultralytics YOLOv8/11/26 default export", "ultralytics", False, _ultralytics),
        DetLayout(
            "ultralytics-e2e", "Ultralytics nms=True, YOLOv10/26 end-to-end", "ultralytics", True, _ultralytics_e2e
        ),
        DetLayout("yolov5", "YOLOv5 (objectness, anchors)", "ultralytics", False, _yolov5),
        DetLayout("yolox", "YOLOX official export (raw grid outputs)", "yolox", False, _yolox),
        DetLayout("mmdeploy-yolox", "MMDeploy end2end YOLOX (rtmlib)", "yolox", True, _mmdeploy),
        DetLayout("mmdeploy-rtmdet", "MMDeploy end2end RTMDet (rtmlib)", "rtmdet", True, _mmdeploy),
        DetLayout("efficientnms", "TensorRT EfficientNMS end2end (YOLOv6/7/9)", "ultralytics", True, _efficientnms),
    )
}


def _choices() -> str:
    return "; ".join(f"{n} ({layout.family})" for n, layout in LAYOUTS.items())


def detector_layout(name: str) -> DetLayout:
    """The layout ``name`` (:class:`ConfigError` listing the layouts otherwise)."""
    if name not in LAYOUTS:
        raise ConfigError(f"no detector layout {name!r}; the layouts are: {_choices()}")
    return LAYOUTS[name]


def class_names(metadata: dict[str, str]) -> dict[int, str] | None:
    """Class index → name from an Ultralytics file's ``names`` metadata (a Python dict literal), or None."""
    text = metadata.get("names")
    if not text:
        return None
    try:
        names = ast.literal_eval(text)
    except (ValueError, SyntaxError) as e:
        raise ConfigError(f"the detector's 'names' metadata is not a dict of class names: {text[:80]!r}") from e
    if isinstance(names, (list, tuple)):
        names = dict(enumerate(names))
    if not isinstance(names, dict) or not all(isinstance(k, int) for k in names):
        raise ConfigError(f"the detector's 'names' metadata is not a dict of class names: {text[:80]!r}")
    return {int(k): str(v) for k, v in names.items()}


def _ambiguous(what: str, candidates: Sequence[str]) -> ConfigError:
    return ConfigError(
        f"the detector's layout is ambiguous ({what}): it could be {', '.join(candidates)}; pass "
        f"--det-format (the layouts are: {_choices()})"
    )


def guess_layout(
    outputs: Sequence[TensorSpec],
    metadata: dict[str, str],
    input_size: tuple[int, int] | None,
) -> DetLayout:
    """The layout of a detector with these ``outputs`` (dynamic axes -1), ``metadata`` (the ONNX file's
    ``metadata_props``) and (H, W) ``input_size`` (None when unknown); :class:`ConfigError` naming the layouts and
    ``--det-format`` when the outputs fit none, or more than one."""
    names = {s.name for s in outputs}
    if {"num_dets", "det_boxes", "det_scores", "det_classes"} <= names:
        return LAYOUTS["efficientnms"]
    if {"dets", "labels"} <= names:
        raise _ambiguous(
            "MMDeploy's dets + labels: the graph does not say whether it normalises as YOLOX or RTMDet",
            ["mmdeploy-yolox", "mmdeploy-rtmdet"],
        )
    shapes = [s.shape for s in outputs]
    if len(outputs) != 1 or len(shapes[0]) != 3:
        raise ConfigError(
            f"no known detector layout has the outputs {[(s.name, s.shape) for s in outputs]}; pass "
            f"--det-format (the layouts are: {_choices()})"
        )
    _, rows, cols = shapes[0]
    ultralytics = metadata.get("author", "").startswith("Ultralytics") or "stride" in metadata
    if cols == 6 and (ultralytics or rows != 6):
        return LAYOUTS["ultralytics-e2e"]
    if ultralytics:
        return LAYOUTS["ultralytics"]
    if rows > 0 and cols > 0 and rows < cols:  # channels first: [1, 4 + nc, A]
        return LAYOUTS["ultralytics"]
    if input_size is None or rows <= 0:
        raise _ambiguous(
            "one [1, A, 5+nc] output whose A cannot be checked against the input size", ["yolov5", "yolox"]
        )
    cells = grid_cells(input_size)
    if rows == cells:
        return LAYOUTS["yolox"]
    if rows == 3 * cells:
        return LAYOUTS["yolov5"]
    raise ConfigError(
        f"the output [1, {rows}, {cols}] fits neither YOLOX ({cells} rows at {input_size[0]}x"
        f"{input_size[1]}) nor YOLOv5 ({3 * cells}); pass --det-format (the layouts are: {_choices()})"
    )
