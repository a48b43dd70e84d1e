"""PyTorch → ONNX: opset 17, dynamic batch, static H×W, constants folded, checked, simplified where that is exact.

Shape legend: B batch, K keypoints, H×W input, h×w heatmaps (H/4 × W/4).
"""

from __future__ import annotations

import collections
import contextlib
import io
import logging
import warnings

import numpy as np
import onnx
import torch
from onnx import numpy_helper

from runtime.backends.onnxruntime import ort_session
from runtime.errors import ExportError
from swinpose.models.pose import SwinPose

__all__ = [
    "INPUT_NAME",
    "OUTPUT_NAME",
    "OPSET",
    "FORBIDDEN_OPS",
    "export_onnx",
    "op_counts",
    "ort_session",
    "reorder_gelu",
]

logger = logging.getLogger(__name__)

INPUT_NAME = "input"
OUTPUT_NAME = "heatmaps"
OPSET = 17  # the first opset with a native LayerNormalization, which TensorRT keeps in fp32 under fp16
#: ops that mean shape arithmetic or parameter gathers at run time; the model is written so that none appear
FORBIDDEN_OPS = ("Shape", "Mod", "Gather", "Range", "ScatterND", "ConstantOfShape", "NonZero", "Pad")
#: simplification must not move any heatmap value by more than this
_SLIM_TOLERANCE = 1e-5


def op_counts(model: onnx.ModelProto) -> dict[str, int]:
    """op type → number of nodes in the main graph, most common first."""
    return dict(collections.Counter(n.op_type for n in model.graph.node).most_common())


def export_onnx(model: SwinPose, max_batch: int = 64, simplify: bool = True) -> onnx.ModelProto:
    """Export ``model`` (eval mode, float32) with torch's dynamo exporter and return the checked ONNX model.

    The graph takes ``input`` B×3×H×W float32 and returns ``heatmaps`` B×K×h×w float32; B is dynamic in
    [1, ``max_batch``], H×W are constants. Raises :class:`ExportError` if the exporter fails, the checker rejects the
    graph, or a :data:`FORBIDDEN_OPS` node appears.
    """
    model = model.eval().float()
    h, w = model.cfg.input_size
    # a batch-1 example would make the dynamo exporter fix the batch at 1
    example = torch.zeros(2, 3, h, w)
    batch = torch.export.Dim("batch", min=1, max=max(2, max_batch))
    chatter = io.StringIO()
    # the exporter's "opset 17 → 18 → 17" notices: check_graph verifies the opset itself
    loggers = [logging.getLogger(n) for n in ("torch.onnx", "onnxscript", "onnx_ir")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(chatter), warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            program = torch.onnx.export(
                model,
                (example,),
                dynamo=True,
                opset_version=OPSET,
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_shapes=({0: batch},),
                verbose=False,
            )
    except Exception as e:
        raise ExportError(
            f"torch.onnx.export failed for {model.cfg.name} ({type(e).__name__}: {str(e)[:500]}); "
            "the model code must stay export-clean (see README 'Written to export cleanly')"
        ) from e
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)
    if chatter.getvalue().strip():
        logger.debug("torch.onnx.export: %s", chatter.getvalue().strip())
    onnx_model = program.model_proto
    onnx_model.doc_string = f"swinpose {model.cfg.name}"
    check_graph(onnx_model)
    if simplify:
        onnx_model = _simplify_if_exact(onnx_model, example.shape)
    reorder_gelu(onnx_model)
    return onnx_model


def reorder_gelu(model: onnx.ModelProto) -> int:
    """Rewrite, in place, every Mul(a, Mul(0.5, b)) whose inner Mul feeds only the outer one as Mul(Mul(a, b), 0.5);
    returns how many. torch writes GELU as x·(0.5·(1 + erf(x/√2))); in the other order ONNX Runtime fuses it into
    one Gelu kernel and OpenCV 5.0 can load it. Multiplying by 0.5 is exact, so the values do not change."""
    nodes = list(model.graph.node)
    constants = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer if not t.dims}
    producer = {o: n for n in nodes for o in n.output}
    consumers = collections.Counter(name for n in nodes for name in n.input)
    moved: dict[int, onnx.NodeProto] = {}  # id(outer) → the inner node, to be placed right before it
    for outer in nodes:
        inner = producer.get(outer.input[1]) if outer.op_type == "Mul" else None
        if inner is None or inner.op_type != "Mul" or consumers[inner.output[0]] != 1:
            continue
        half = next((i for i, name in enumerate(inner.input) if constants.get(name, np.zeros(2)).size == 1), None)
        if half is None or float(constants[inner.input[half]]) != 0.5:
            continue
        half_name, b = inner.input[half], inner.input[1 - half]
        inner.input[0], inner.input[1] = outer.input[0], b
        outer.input[0], outer.input[1] = inner.output[0], half_name
        moved[id(outer)] = inner
    inners = {id(n) for n in moved.values()}
    ordered = []
    for n in nodes:  # the inner Mul now reads a, which may come after it: put it right before its outer Mul
        if id(n) in inners:
            continue
        if id(n) in moved:
            ordered.append(moved[id(n)])
        ordered.append(n)
    del model.graph.node[:]
    model.graph.node.extend(ordered)
    return len(moved)


def check_graph(model: onnx.ModelProto) -> None:
    """``onnx.checker`` full check (with strict shape inference), opset 17, and no :data:`FORBIDDEN_OPS` node."""
    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as e:  # onnx raises ValidationError / InferenceError
        raise ExportError(f"the exported ONNX fails onnx.checker ({str(e)[:500]})") from e
    opsets = [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")]
    if opsets != [OPSET]:
        raise ExportError(f"the exported ONNX has opset {opsets}, not {OPSET}; TensorRT's fp16 LayerNorm needs {OPSET}")
    counts = op_counts(model)
    bad = {op: counts[op] for op in FORBIDDEN_OPS if op in counts}
    if bad:
        raise ExportError(
            f"the exported ONNX has run-time shape or gather nodes {bad}; the model code must compute shapes in "
            "Python at build time (no x.shape arithmetic in forward), as swinpose.models.swin does"
        )


def _simplify_if_exact(model: onnx.ModelProto, example_shape: torch.Size) -> onnx.ModelProto:
    """onnxslim's result if ONNX Runtime gives the same heatmaps (≤ 1e-5) on a random batch, else ``model``."""
    try:
        import onnxslim
    except ImportError:
        logger.info("onnxslim is not installed; the ONNX is not simplified (pip install 'swinpose[export]')")
        return model
    try:
        slim = onnxslim.slim(model)
        check_graph(slim)
    except Exception as e:  # a simplifier bug must not fail the export: keep the checked original
        logger.warning("onnxslim failed (%s); keeping the unsimplified ONNX", e)
        return model
    x = np.random.default_rng(0).standard_normal(tuple(example_shape), dtype=np.float32)
    a = ort_session(model).run(None, {INPUT_NAME: x})[0]
    b = ort_session(slim).run(None, {INPUT_NAME: x})[0]
    diff = float(np.abs(a - b).max())
    if diff > _SLIM_TOLERANCE:
        logger.warning("onnxslim changed the heatmaps by %.2g; keeping the unsimplified ONNX", diff)
        return model
    logger.info("onnxslim: %d → %d nodes (max heatmap change %.1g)", len(model.graph.node), len(slim.graph.node), diff)
    return slim
