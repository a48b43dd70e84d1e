"""int8 arithmetic in numpy, exactly: the reference that ONNX Runtime's integer kernels are checked against.

* :func:`kernel_sum`: a quantized MatMul's integer sums as each kernel family of :mod:`runtime.int8_cpu` forms them
  (exact, int16 pairs with saturation, int16 pairs that wrap) from int8 or uint8 activations with any zero point, in
  int64, on the host, whatever CPU it is.
* :func:`exact_op_outputs`: every quantized op of an int8 graph isolated by
  :func:`export.int8_check.isolate_quantized_ops`, computed from its integer inputs and weights in int64 and scaled in
  float64, as the ONNX operators define them, with no kernel's shortcuts.

Shape legend: M rows × K reduction × N channels for a MatMul; Conv ``B×C×H×W`` activations, ``Cout×Cin×kh×kw``
weights.
"""

from __future__ import annotations

import numpy as np
import onnx
from numpy.lib.stride_tricks import sliding_window_view
from onnx import numpy_helper

from export.int8_check import quantized_ops
from runtime.errors import ConfigError
from runtime.int8_cpu import INT16_MAX, Int8Kernel

__all__ = ["quantize", "raw_activations", "kernel_sum", "exact_op_outputs", "agrees"]

_INT16 = 1 << 16


def quantize(x: np.ndarray, scale: float, zero_point: int = 0, dtype=np.int8) -> np.ndarray:
    """ONNX ``QuantizeLinear`` in numpy: ``x / scale`` in float32, rounded half to even, plus the zero point,
    saturated to ``dtype``; int64 out."""
    info = np.iinfo(dtype)
    q = np.round(np.asarray(x, np.float32) / np.float32(scale)).astype(np.int64) + int(zero_point)
    return np.clip(q, info.min, info.max)


def raw_activations(kernel: Int8Kernel, q: np.ndarray, dtype=np.int8) -> np.ndarray:
    """The bytes ``kernel`` multiplies for 8-bit activations ``q`` stored as ``dtype`` (int64 in and out): x86's
    ``VPMADDUBSW`` takes uint8, so int8 activations gain 128; arm64 NEON's ``SMULL`` takes int8, so uint8 ones have
    their top bit flipped (lose 128); kernels without an int16 pair step multiply them as they are."""
    q = np.asarray(q, np.int64)
    signed = np.issubdtype(dtype, np.signedinteger)
    if kernel.raw_activations == "u8" and signed:
        return q + 128
    if kernel.raw_activations == "s8" and not signed:
        return q - 128
    return q


def kernel_sum(kernel: Int8Kernel, q: np.ndarray, w: np.ndarray, zero_point: int = 0, dtype=np.int8) -> np.ndarray:
    """M×N integer sums ``Σ (q - zero_point)·w`` of M×K 8-bit activations ``q`` (as stored: int8 or uint8 ``dtype``,
    with their ``zero_point``) times K×N int8 weights ``w`` (zero points 0), as ``kernel`` forms them: exact, or
    neighbouring pairs along K of the raw bytes it multiplies (:func:`raw_activations`) added in int16, saturating
    or wrapping per ``kernel.overflow``, then summed exactly, with the raw bytes' offset from ``q - zero_point``
    taken off through the weights' column sums, as the kernels correct for zero points.

    Neighbours (k, k+1) are the pairs of x86's ``VPMADDUBSW`` (MLAS packs K contiguously; checked on a real AVX2
    CPU and under emulation). arm64 NEON's ``SMULL``/``SMLAL`` pair other elements of K, so there the result is
    the kernel's only where no pair can wrap or where a row is constant along K, which the MatMuls of
    :mod:`benchmarks.int8_saturation` keep to. The bound of :mod:`export.int8_check` holds for any pairing."""
    q, w = np.asarray(q, np.int64), np.asarray(w, np.int64)
    a = q - int(zero_point)
    if kernel.overflow is None:
        return a @ w
    if a.shape[1] % 2:
        raise ConfigError(f"pairs need an even reduction length, got K={a.shape[1]}")
    raw = raw_activations(kernel, q, dtype)
    offset = int((raw - a).flat[0])  # one constant: the zero point and the dtype's shift
    pairs = raw[:, 0::2, None] * w[None, 0::2] + raw[:, 1::2, None] * w[None, 1::2]
    if kernel.overflow == "saturate":
        pairs = np.clip(pairs, -INT16_MAX - 1, INT16_MAX)
    else:
        pairs = (pairs + _INT16 // 2) % _INT16 - _INT16 // 2
    return pairs.sum(1) - offset * w.sum(0)


def _init(graph: onnx.GraphProto, name: str) -> np.ndarray:
    for init in graph.initializer:
        if init.name == name:
            return numpy_helper.to_array(init)
    raise ConfigError(f"{name} is not an initializer of the graph")


def _attrs(node: onnx.NodeProto) -> dict:
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _per_channel(scale: np.ndarray, axis: int, ndim: int) -> np.ndarray:
    """A DequantizeLinear scale (or zero point) shaped to broadcast along ``axis`` of an ``ndim`` tensor."""
    scale = np.asarray(scale)
    if scale.ndim == 0:
        return scale
    shape = [1] * ndim
    shape[axis] = scale.size
    return scale.reshape(shape)


def _conv(a: np.ndarray, w: np.ndarray, attrs: dict) -> np.ndarray:
    """B×Cout×Ho×Wo int64 convolution of B×C×H×W ``a`` by Cout×C×kh×kw ``w`` (one group, zero padding)."""
    if attrs.get("group", 1) != 1 or attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET", 0):
        raise ConfigError("the integer reference covers Conv with group 1 and explicit pads only")
    kh, kw = w.shape[2:]
    top, left, bottom, right = attrs.get("pads", [0, 0, 0, 0])
    sh, sw = attrs.get("strides", [1, 1])
    dh, dw = attrs.get("dilations", [1, 1])
    a = np.pad(a, ((0, 0), (0, 0), (top, bottom), (left, right)))
    span_h, span_w = dh * (kh - 1) + 1, dw * (kw - 1) + 1
    windows = sliding_window_view(a, (span_h, span_w), axis=(2, 3))[:, :, ::sh, ::sw, ::dh, ::dw]
    return np.einsum("bchwij,ocij->bohw", windows, w, optimize=True)


def exact_op_outputs(
    model: onnx.ModelProto, forced: onnx.ModelProto, steps: dict[str, float], feeds: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """The exact value of each output of ``forced`` (from :func:`~export.int8_check.isolate_quantized_ops` on
    ``model``, with its ``steps``) on ``feeds``: the op's quantized input (``QuantizeLinear`` in numpy), times its
    integer weights in int64, scaled in float64; a MatMul's float output as it is, a Conv's requantized by its output
    quantizer (``steps`` > 0), with the float bias taken into int32 as ONNX Runtime's fusion does."""
    graph = forced.graph
    producer = {o: n for n in graph.node for o in n.output}
    by_name = {n.name: n for n in graph.node}
    outputs = list(steps)
    results = {}
    for op, out in zip(quantized_ops(model), outputs):
        node = by_name[op.node]
        dq_x = producer[node.input[0]]
        q = producer[dq_x.input[0]]
        x_scale = float(_init(graph, q.input[1]))
        x_zero = _init(graph, q.input[2]) if len(q.input) > 2 else np.array(0, np.uint8)
        a = quantize(feeds[q.input[0]], x_scale, int(x_zero), x_zero.dtype.type) - int(x_zero)
        dq_w = producer[node.input[1]]
        wq = _init(graph, dq_w.input[0]).astype(np.int64)
        axis = _attrs(dq_w).get("axis", 1)
        w_scale = _init(graph, dq_w.input[1]).astype(np.float64)
        w_zero = _init(graph, dq_w.input[2]).astype(np.int64) if len(dq_w.input) > 2 else np.int64(0)
        w = wq - _per_channel(w_zero, axis, wq.ndim)
        if node.op_type == "MatMul":
            acc = np.matmul(a, w)
            results[out] = acc * x_scale * _per_channel(w_scale, -1, acc.ndim)
            continue
        if node.op_type != "Conv":
            raise ConfigError(f"no integer reference for {node.op_type} ({node.name})")
        acc = _conv(a, w, _attrs(node))
        scale = x_scale * _per_channel(w_scale, 1, acc.ndim)
        if len(node.input) > 2 and node.input[2]:
            bias = _init(graph, node.input[2]).astype(np.float64)
            acc = acc + np.round(_per_channel(bias, 1, acc.ndim) / scale).astype(np.int64)
        value = acc * scale
        step = steps[out]
        if step > 0:  # DQ(Q(conv)): ONNX Runtime's QLinearConv writes the requantized value
            q_out = next(n for n in graph.node if n.op_type == "QuantizeLinear" and n.input[0] == node.output[0])
            zero = _init(graph, q_out.input[2]) if len(q_out.input) > 2 else np.array(0, np.uint8)
            info = np.iinfo(zero.dtype)
            value = (np.clip(np.round(value / step) + int(zero), info.min, info.max) - int(zero)) * step
        results[out] = value
    return results


def agrees(exact: np.ndarray, got: np.ndarray, step: float) -> bool:
    """``got`` (a kernel's float32 output) equals ``exact`` up to what an fp32 epilogue (int32 → float, scale, bias)
    can round differently: 4 float32 ulps of the largest output, or for a requantized output one step, where the
    value sits on a rounding boundary."""
    ulps = 4 * np.spacing(np.float32(np.abs(exact).max()))
    return bool(np.abs(np.asarray(got, np.float64) - exact).max() <= max(ulps, step * 1.001))
