"""The fp32 graph rewritten for OpenCV's DNN module (``cv::dnn::readNetFromONNX``), OpenCV 4.6 to 5.0.

OpenCV 4.6 (Debian 12's ``libopencv-dev``, the only OpenCV with C++ headers on our CI machines) cannot load the plain
export, and pip's OpenCV 5.0 crashes on it. Each rewrite below fixes one failure, found by loading the graph in that
OpenCV and bisecting the node where it broke. None changes what the graph computes: LayerNorm is spelled out in the
ops that define it, and rewrite 5 moves an exact multiplication by 0.5.

1. **Static batch.** The input and output get batch ``batch`` (1 by default); OpenCV infers layer shapes once.
2. **LayerNormalization** (opset 17) has no OpenCV 4.6 layer ("Can't create layer ... of type LayerNormalization"):
   it becomes ReduceMean → Sub → Mul → ReduceMean → Add(eps) → Sqrt → Div → Mul(scale) → Add(bias).
3. **Squeeze/Unsqueeze with an ``axes`` input** (opset ≥ 13) fail OpenCV 4.6's ``parseSqueeze``
   (``node_proto.input_size() == 1``): they become a Reshape to their (static) output shape.
4. **Constants broadcast into a 4-D/5-D Add/Sub/Mul/Div** (a LayerNorm scale over the channel axis of a B×H×W×C
   window tensor, the shifted-window mask) fail OpenCV 4.6's shape code (``shape_utils.hpp: start <= shape.size()``):
   they are stored at the full output shape.
5. **GELU as x·(0.5·(1 + erf(x/√2)))**, the order torch's exporter writes, crashes OpenCV 5.0's importer
   (a segmentation fault inside ``readNetFromONNX``, with either of its engines); (x·(1 + erf(x/√2)))·0.5 loads.
   :func:`export.onnx_export.reorder_gelu` does it, and the export already applies it to every graph (ONNX Runtime
   fuses only this order into its Gelu kernel).
6. **Opset 18 and later** give the Reduce ops their ``axes`` as an input, which OpenCV 4.6's importer ignores (the
   bundled detector's squeeze-excitation ReduceMean then keeps all channels: "Number of input channels should be
   multiple of 16 but got 1"): such graphs are rewritten in opset 17's terms, where ``axes`` is an attribute
   (:func:`_to_opset_17`; ``onnx.version_converter`` has no adapter for opset 18's Split, which Ultralytics' exports
   hold).

The result has no other OpenCV-specific change and runs in ONNX Runtime too, where ``export_package`` checks it
against the graph it came from (:data:`OPENCV_TOLERANCE`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

from export.onnx_export import reorder_gelu
from runtime.errors import ExportError

__all__ = ["to_opencv_dnn", "OPENCV_TOLERANCE"]

#: the rewritten graph must give the original graph's heatmaps within this (ONNX Runtime, both graphs)
OPENCV_TOLERANCE = 1e-5
_ELEMENTWISE = ("Add", "Sub", "Mul", "Div")
#: the newest opset whose Reduce ops take ``axes`` as an attribute (rewrite 6)
_OPENCV_OPSET = 17


#: the ops whose ``axes`` became an input in opset 18 (ReduceSum's did in 13, which OpenCV 4.6 reads)
_REDUCE_18 = (
    "ReduceMean",
    "ReduceMax",
    "ReduceMin",
    "ReduceProd",
    "ReduceL1",
    "ReduceL2",
    "ReduceLogSum",
    "ReduceLogSumExp",
    "ReduceSumSquare",
)
#: opset 18 attributes that opset 17 lacks, with the value that means opset 17's behaviour
_NEW_IN_18 = {"Resize": {"antialias": 0, "keep_aspect_ratio_policy": b"stretch"}}


def _attribute(node: onnx.NodeProto, name: str) -> Any:
    return next((helper.get_attribute_value(a) for a in node.attribute if a.name == name), None)


def _drop_attributes(node: onnx.NodeProto, names: set[str]) -> None:
    kept = [a for a in node.attribute if a.name not in names]
    del node.attribute[:]
    node.attribute.extend(kept)


def _to_opset_17(model: onnx.ModelProto) -> onnx.ModelProto:
    """Rewrite 6: an opset-18+ graph in opset 17's terms. Only what changed meaning is rewritten (the Reduce ops'
    ``axes`` input becomes the attribute, Split's ``num_outputs`` the sizes of its outputs, Resize's new
    attributes go where they hold their default); later opsets' other changes add types, which a float graph does
    not use. The checker and ONNX Runtime's comparison after the rewrite catch anything else."""
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), _OPENCV_OPSET)
    if opset <= _OPENCV_OPSET:
        return model
    shapes = _shapes(model)
    constants = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    for node in model.graph.node:
        where = f"{node.op_type} node {node.name!r}"
        if node.op_type in _REDUCE_18 and len(node.input) > 1 and node.input[1]:
            if node.input[1] not in constants:
                raise ExportError(f"{where} takes computed axes, which OpenCV DNN cannot read; export with opset 17")
            axes = [int(a) for a in np.asarray(constants[node.input[1]]).ravel()]
            del node.input[1:]
            if _attribute(node, "noop_with_empty_axes"):
                raise ExportError(f"{where} uses noop_with_empty_axes, which opset 17 lacks; export with opset 17")
            _drop_attributes(node, {"noop_with_empty_axes"})
            node.attribute.append(helper.make_attribute("axes", axes))
        elif node.op_type in _REDUCE_18:
            _drop_attributes(node, {"noop_with_empty_axes"} if not _attribute(node, "noop_with_empty_axes") else set())
        elif node.op_type == "Split" and _attribute(node, "num_outputs") is not None:
            axis = int(_attribute(node, "axis") or 0)
            sizes = [shapes.get(out, [0] * (axis + 1))[axis] for out in node.output]
            if min(sizes) <= 0:
                raise ExportError(f"{where}'s output sizes are not static ({sizes}); export with opset 17")
            _drop_attributes(node, {"num_outputs"})
            name = f"{node.name}/split"
            model.graph.initializer.append(numpy_helper.from_array(np.array(sizes, np.int64), name))
            del node.input[1:]
            node.input.append(name)
        for attr, default in _NEW_IN_18.get(node.op_type, {}).items():
            value = _attribute(node, attr)
            if value is not None and value != default:
                raise ExportError(f"{where} sets {attr}={value!r}, which opset 17 lacks; export with opset 17")
            _drop_attributes(node, {attr})
    for o in model.opset_import:
        if o.domain in ("", "ai.onnx"):
            o.version = _OPENCV_OPSET
    return model


def _static_batch(model: onnx.ModelProto, batch: int) -> None:
    for value in (*model.graph.input, *model.graph.output):
        dim = value.type.tensor_type.shape.dim[0]
        dim.ClearField("dim_param")
        dim.dim_value = batch
    del model.graph.value_info[:]


def _shapes(model: onnx.ModelProto) -> dict[str, list[int]]:
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    g = inferred.graph
    return {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim] for v in (*g.value_info, *g.input, *g.output)}


def _decompose_layernorm(node: onnx.NodeProto, initializers: list[onnx.TensorProto]) -> list[onnx.NodeProto]:
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    axis, eps = int(attrs.get("axis", -1)), float(attrs.get("epsilon", 1e-5))
    if axis != -1:
        raise ExportError(f"{node.name}: LayerNormalization over axis {axis}; the OpenCV rewrite handles axis -1 only")
    x, scale = node.input[0], node.input[1]
    bias = node.input[2] if len(node.input) > 2 and node.input[2] else None
    p = f"{node.name}/ln"
    initializers.append(numpy_helper.from_array(np.array(eps, np.float32), f"{p}/eps"))
    scaled = f"{p}/scaled" if bias else node.output[0]
    nodes = [
        helper.make_node("ReduceMean", [x], [f"{p}/mean"], name=f"{p}/mean", axes=[-1], keepdims=1),
        helper.make_node("Sub", [x, f"{p}/mean"], [f"{p}/centred"], name=f"{p}/centred"),
        helper.make_node("Mul", [f"{p}/centred", f"{p}/centred"], [f"{p}/square"], name=f"{p}/square"),
        helper.make_node("ReduceMean", [f"{p}/square"], [f"{p}/var"], name=f"{p}/var", axes=[-1], keepdims=1),
        helper.make_node("Add", [f"{p}/var", f"{p}/eps"], [f"{p}/var_eps"], name=f"{p}/var_eps"),
        helper.make_node("Sqrt", [f"{p}/var_eps"], [f"{p}/std"], name=f"{p}/std"),
        helper.make_node("Div", [f"{p}/centred", f"{p}/std"], [f"{p}/normed"], name=f"{p}/normed"),
        helper.make_node("Mul", [f"{p}/normed", scale], [scaled], name=f"{p}/scale"),
    ]
    if bias:
        nodes.append(helper.make_node("Add", [scaled, bias], [node.output[0]], name=f"{p}/bias"))
    return nodes


def _replace_nodes(model: onnx.ModelProto, nodes: list[onnx.NodeProto]) -> None:
    del model.graph.node[:]
    model.graph.node.extend(nodes)


def _drop_unused_initializers(model: onnx.ModelProto) -> None:
    used = {name for n in model.graph.node for name in n.input}
    keep = [t for t in model.graph.initializer if t.name in used]
    del model.graph.initializer[:]
    model.graph.initializer.extend(keep)


def to_opencv_dnn(model: onnx.ModelProto, batch: int = 1) -> onnx.ModelProto:
    """A copy of the fp32 graph ``model`` (B×3×H×W → its outputs; a pose model's B×K×h×w heatmaps or a detector's
    raw outputs) that OpenCV DNN (4.6 to 5.0) runs, with the batch fixed at ``batch``. Raises :class:`ExportError` if
    the graph is not fp32 or has a form the rewrites above do not cover."""
    low = {onnx.TensorProto.FLOAT16, onnx.TensorProto.INT8, onnx.TensorProto.UINT8}
    if any(t.data_type in low for t in model.graph.initializer):
        raise ExportError("the OpenCV DNN graph is made from the fp32 graph; export an fp32 package with --opencv")
    out = onnx.ModelProto()
    out.CopyFrom(model)
    out = _to_opset_17(out)
    _static_batch(out, batch)
    inits = out.graph.initializer

    nodes: list[onnx.NodeProto] = []
    for node in out.graph.node:
        nodes += _decompose_layernorm(node, inits) if node.op_type == "LayerNormalization" else [node]
    _replace_nodes(out, nodes)

    shapes = _shapes(out)
    nodes = []
    for node in out.graph.node:
        if node.op_type in ("Squeeze", "Unsqueeze"):
            target = f"{node.name}/shape"
            inits.append(numpy_helper.from_array(np.array(shapes[node.output[0]], np.int64), target))
            node = helper.make_node("Reshape", [node.input[0], target], list(node.output), name=node.name)
        nodes.append(node)
    _replace_nodes(out, nodes)

    constants = {t.name: t for t in inits}
    for node in out.graph.node:
        shape = shapes.get(node.output[0], [])
        if node.op_type not in _ELEMENTWISE or len(shape) < 4:
            continue
        for i, name in enumerate(node.input):
            if name in constants and list(constants[name].dims) != shape and np.prod(constants[name].dims) > 1:
                full = np.ascontiguousarray(np.broadcast_to(numpy_helper.to_array(constants[name]), shape))
                node.input[i] = f"{name}/full/{node.name}"
                inits.append(numpy_helper.from_array(full, node.input[i]))
    reorder_gelu(out)  # rewrite 5 (a no-op on graphs from this swinpose's export, which already did it)
    _drop_unused_initializers(out)
    try:
        out = onnx.shape_inference.infer_shapes(out, strict_mode=True)
        onnx.checker.check_model(out, full_check=True)
    except Exception as e:  # onnx raises several checker/inference error types
        raise ExportError(f"the OpenCV DNN rewrite made an invalid graph ({e}); report it with the model config") from e
    left = sorted({n.op_type for n in out.graph.node} & {"LayerNormalization", "Squeeze", "Unsqueeze"})
    if left:
        raise ExportError(f"the OpenCV DNN graph still has {left} nodes, which OpenCV 4.6 cannot load")
    return out
