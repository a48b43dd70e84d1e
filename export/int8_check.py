"""The int8 graph, walked: the largest int16 pair sum each quantized MatMul/Conv can form, for any input.

A CPU kernel that adds two 8-bit products in int16 (:mod:`runtime.int8_cpu`: AVX2 without VNNI, arm64 without dot
products) forms ``a₁w₁ + a₂w₂`` from two weights of one output channel. Every activation reaches such a kernel
through a ``QuantizeLinear`` that clips it to 8 bits, so whatever the input, ``|a| ≤ pair_activation_max``; the
pair sum is then bounded by ``pair_activation_max × (|w₁| + |w₂|)``, and the worst case of a channel is its two
largest |w|. The bound holds whichever two elements of a channel's reduction the kernel pairs.

Shape legend for weights: MatMul ``K×N`` (reduction K, channel N), Conv ``Cout×Cin×kh×kw`` (channel Cout).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
from onnx import numpy_helper

from runtime.int8_cpu import Int8Kernel

__all__ = ["QuantizedOp", "quantized_ops", "max_weight_pair", "weight_pair", "saturating_ops", "isolate_quantized_ops"]

#: ops whose second input is the weight operand of an integer GEMM or convolution
_GEMM_LIKE = ("MatMul", "Conv", "Gemm")
#: an activation used as the second operand (q·kᵀ, attn·v when quantized): 8-bit on both sides, no weight to bound
_ACTIVATION_PAIR = 2 * 128


@dataclass(frozen=True)
class QuantizedOp:
    """A MatMul/Conv/Gemm whose inputs are both dequantized 8-bit tensors. ``weight``: the initializer's name, or
    None when the second operand is an activation. ``max_pair``: the largest |w₁| + |w₂| within one output channel
    (for an activation operand, the 8-bit worst case 256; for uint8 weights 0: ONNX Runtime runs u8×u8 on kernels
    that widen both operands to 16 bits, on x86 and arm64 alike, with no int16 pair sum). ``max_abs``: the largest
    |w| (the raw byte for uint8 weights). ``min_weight``: the most negative int8 weight (-128 is the one value that
    lets a pair wrap on arm64 NEON, :mod:`runtime.int8_cpu`; -128 for an activation operand, 0 for uint8)."""

    node: str
    op_type: str
    weight: str | None
    max_pair: int
    max_abs: int
    min_weight: int = 0

    def pair_bound(self, kernel: Int8Kernel) -> int | None:
        """The largest |a₁w₁ + a₂w₂| this op can form on ``kernel`` (None: the kernel has no int16 step)."""
        if kernel.pair_activation_max is None:
            return None
        return kernel.pair_activation_max * self.max_pair


def weight_pair(weights: np.ndarray, channel_axis: int) -> tuple[int, int]:
    """(largest |w₁| + |w₂| of any channel, largest |w|) of an integer weight tensor; each channel is the slice at
    one index of ``channel_axis`` and pairs may be any two of its elements."""
    w = np.abs(np.moveaxis(np.asarray(weights, np.int32), channel_axis, 0).reshape(weights.shape[channel_axis], -1))
    if w.shape[1] == 1:
        return int(w.max()), int(w.max())
    top2 = -np.partition(-w, 1, axis=1)[:, :2]
    return int(top2.sum(1).max()), int(w.max())


def _channel_axis(node: onnx.NodeProto, rank: int) -> int:
    if node.op_type == "Conv":
        return 0
    if node.op_type == "Gemm" and any(a.name == "transB" and a.i for a in node.attribute):
        return 0
    return rank - 1  # MatMul K×N (or …×K×N), Gemm without transB


def quantized_ops(model: onnx.ModelProto) -> list[QuantizedOp]:
    """Every GEMM-like node of ``model`` whose two operands come out of ``DequantizeLinear`` nodes of 8-bit
    tensors, with its weight pair bound."""
    inits = {i.name: i for i in model.graph.initializer}
    producer = {o: n for n in model.graph.node for o in n.output}
    eight_bit = (onnx.TensorProto.INT8, onnx.TensorProto.UINT8)

    def dequantized(name: str) -> onnx.NodeProto | None:
        node = producer.get(name)
        return node if node is not None and node.op_type == "DequantizeLinear" else None

    ops = []
    for node in model.graph.node:
        if node.op_type not in _GEMM_LIKE or len(node.input) < 2:
            continue
        a, b = dequantized(node.input[0]), dequantized(node.input[1])
        if a is None or b is None:
            continue  # a float operand: ONNX Runtime runs this op in fp32
        if b.input[0] in inits:
            init = inits[b.input[0]]
            if init.data_type not in eight_bit:
                continue
            w = numpy_helper.to_array(init).astype(np.int32)
            if init.data_type == onnx.TensorProto.UINT8:  # u8×u8 runs on kernels that widen to 16 bits first
                ops.append(QuantizedOp(node.name, node.op_type, init.name, 0, int(w.max()), 0))
                continue
            pair, biggest = weight_pair(w, _channel_axis(node, w.ndim))
            ops.append(QuantizedOp(node.name, node.op_type, init.name, pair, biggest, int(w.min())))
        else:
            ops.append(QuantizedOp(node.name, node.op_type, None, _ACTIVATION_PAIR, 128, -128))
    return ops


def max_weight_pair(model: onnx.ModelProto, ops: list[QuantizedOp] | None = None) -> int:
    """The largest weight pair over every quantized op of ``model`` (or of its already walked ``ops``; 0 when
    nothing is quantized)."""
    ops = quantized_ops(model) if ops is None else ops
    return max((op.max_pair for op in ops), default=0)


def saturating_ops(
    model: onnx.ModelProto, kernel: Int8Kernel, ops: list[QuantizedOp] | None = None
) -> list[tuple[QuantizedOp, int]]:
    """The quantized ops of ``model`` (or ``ops``) that can leave int16 on ``kernel`` for some input, with their
    bound."""
    ops = quantized_ops(model) if ops is None else ops
    return [(op, op.pair_bound(kernel)) for op in ops if kernel.saturates(op.max_pair)]


def isolate_quantized_ops(model: onnx.ModelProto) -> tuple[onnx.ModelProto, dict[str, str], dict[str, float]]:
    """A copy of ``model`` in which every quantized op reads its activation from a graph input and writes a graph
    output, so that two runtimes can be fed the same bytes and compared op by op.

    Returns the copy, its new inputs (name → the float tensor of ``model`` whose value to feed: the input of the
    activation's ``QuantizeLinear``) and its new outputs (name → the step between representable values: the scale
    of a Conv's output quantizer, which ONNX Runtime fuses into ``QLinearConv``, or 0 for a MatMul's float
    output).
    """
    forced = onnx.ModelProto()
    forced.CopyFrom(model)
    graph = forced.graph
    inits = {i.name: i for i in graph.initializer}
    producer = {o: n for n in graph.node for o in n.output}
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    by_name = {n.name: n for n in graph.node}
    feeds: dict[str, str] = {}
    outputs: dict[str, float] = {}
    for op in quantized_ops(model):
        node = by_name[op.node]
        q = producer[producer[node.input[0]].input[0]]  # op ← DequantizeLinear ← QuantizeLinear
        if not q.input[0].endswith("__forced"):
            feeds[f"{q.input[0]}__forced"] = q.input[0]
            q.input[0] = f"{q.input[0]}__forced"
        out, step = node.output[0], 0.0
        after = consumers.get(out, [])
        if len(after) == 1 and after[0].op_type == "QuantizeLinear":  # DQ(Q(conv)): read what QLinearConv writes
            dq = consumers.get(after[0].output[0], [])
            if dq and dq[0].op_type == "DequantizeLinear":
                out, step = dq[0].output[0], float(numpy_helper.to_array(inits[after[0].input[1]]))
        outputs[out] = step
    graph.input.extend(onnx.helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, None) for n in feeds)
    del graph.output[:]
    graph.output.extend(onnx.helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, None) for n in outputs)
    return forced, feeds, outputs
