"""Reduced-precision ONNX graphs that TensorRT builds as typed and ONNX Runtime runs on CPU.

* fp16: onnxconverter-common's converter, with LayerNormalization, Softmax (and the converter's own block list,
  which holds Resize) kept in fp32; inputs and outputs stay float32, so feeding and decoding do not change.
* int8: ONNX Runtime's ``quantize_static`` in QDQ format, symmetric int8 activations and per-channel symmetric int8
  weights and float biases (what TensorRT's explicit quantization accepts). Q/DQ goes on the inputs of the quantized
  ops, and on the outputs of :data:`INT8_OUTPUT_OP_TYPES` (Conv: ONNX Runtime then runs them as QLinearConv; a
  MatMul's output is the residual stream and stays float). Which nodes get Q/DQ is :data:`INT8_OP_TYPES` minus the
  excluded nodes chosen by :func:`int8_excluded_nodes`; ``benchmarks/int8_sensitivity.py`` measured the choice
  (the table is in ``export/README.md``).
"""

from __future__ import annotations

import contextlib
import io
import logging
import tempfile
import warnings
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np
import onnx

from export.onnx_export import INPUT_NAME, OUTPUT_NAME, check_graph
from runtime.errors import ExportError, MissingDependencyError

__all__ = [
    "FP16_KEEP_FP32",
    "INT8_OP_TYPES",
    "INT8_OUTPUT_OP_TYPES",
    "INT8_KEEP_FP32",
    "CALIBRATION_METHODS",
    "INT8_WEIGHT_BITS",
    "DEFAULT_INT8_WEIGHT_BITS",
    "to_fp16",
    "quantize_int8",
    "int8_excluded_nodes",
    "attention_matmuls",
    "head_conv",
]

logger = logging.getLogger(__name__)

#: ops the fp16 graph keeps in fp32: the normalisations and their reductions, and the attention softmax
FP16_KEEP_FP32 = ("LayerNormalization", "Softmax")
#: ops that get Q/DQ on their inputs: every GEMM-like op (TensorRT fuses Q/DQ into int8 GEMM/conv kernels)
INT8_OP_TYPES = ("MatMul", "Conv")
#: of those, the ops whose outputs get Q/DQ too: without it ONNX Runtime folds a conv's DQ into fp32 weights and
#: runs it in fp32 (Swin-T's head 3×3 conv alone took 5.4 ms of 39); with it, QLinearConv
INT8_OUTPUT_OP_TYPES = ("Conv",)
#: node groups the int8 graph keeps in fp32 by default (see :func:`int8_excluded_nodes`): the heatmap conv, and the
#: attention MatMuls, which cost no measured time in fp32 and halve the p99 keypoint shift (export/README.md)
INT8_KEEP_FP32 = ("head", "attention")
#: int8 weight range: 7 bits (|w| <= 64, ONNX Runtime's reduce_range), so that no pair of u8×s8 products can leave
#: int16 in the AVX2 kernels of CPUs without VNNI (runtime/int8_cpu.py; the measurement is in export/README.md);
#: 8 is the full symmetric range (|w| <= 127), exact only on VNNI/dot-product CPUs and TensorRT
INT8_WEIGHT_BITS = (7, 8)
DEFAULT_INT8_WEIGHT_BITS = 7
#: --calib-method → (ONNX Runtime CalibrationMethod name, calibrator options). Entropy uses TensorRT's histogram
#: (2048 bins searched down to 128 quantized bins); with ONNX Runtime's defaults (128 and 128) there is nothing to
#: search and entropy returns the min-max range.
CALIBRATION_METHODS = {
    "entropy": ("Entropy", {"num_bins": 2048, "num_quantized_bins": 128, "symmetric": True}),
    "percentile": ("Percentile", {"num_bins": 2048, "percentile": 99.999, "symmetric": True}),
    "minmax": ("MinMax", {"symmetric": True}),
}


def to_fp16(model: onnx.ModelProto, check: Callable[[onnx.ModelProto], None] = check_graph) -> onnx.ModelProto:
    """The fp16 graph of an fp32 ``model``: fp16 weights and activations, :data:`FP16_KEEP_FP32` ops in fp32 behind
    Casts, float32 ``input``/``heatmaps`` (B×3×H×W → B×K×h×w, as the fp32 graph). ``check`` validates the result
    (by default as our exporter's graph; a detector file of another exporter has its own opset and ops)."""
    try:
        from onnxconverter_common import float16
    except ImportError as e:
        raise MissingDependencyError("onnxconverter-common", "export", "the fp16 graph") from e
    block = sorted(set(float16.DEFAULT_OP_BLOCK_LIST) | set(FP16_KEEP_FP32))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        converted = float16.convert_float_to_float16(model, keep_io_types=True, op_block_list=block)
    clipped = [w for w in caught if "truncated" in str(w.message) or "fp16" in str(w.message).lower()]
    if clipped:
        logger.info("fp16: the converter clamped values of %d weight tensors to fp16's range", len(clipped))
    converted.doc_string = model.doc_string + " fp16"
    check(converted)
    return converted


def attention_matmuls(model: onnx.ModelProto) -> list[str]:
    """Names of MatMul nodes whose inputs are both activations (q·kᵀ and attn·v in every window attention)."""
    weights = {i.name for i in model.graph.initializer}
    return [n.name for n in model.graph.node if n.op_type == "MatMul" and not set(n.input) & weights]


def head_conv(model: onnx.ModelProto) -> str:
    """Name of the Conv node that writes the heatmaps (the head's last 1×1 conv)."""
    producer = {o: n for n in model.graph.node for o in n.output}
    node = producer.get(OUTPUT_NAME)
    while node is not None and node.op_type != "Conv":  # walk back through Cast/Identity-like tails
        node = producer.get(node.input[0])
    if node is None:
        raise ExportError(f"no Conv node writes '{OUTPUT_NAME}'; is this a swinpose graph?")
    return node.name


def int8_excluded_nodes(model: onnx.ModelProto, keep_fp32: Iterable[str] = INT8_KEEP_FP32) -> list[str]:
    """Node names that stay fp32 in the int8 graph. ``keep_fp32`` holds groups: ``"head"`` (the last head conv,
    whose output *is* the heatmap) and ``"attention"`` (the activation×activation MatMuls)."""
    groups = {"head": lambda: [head_conv(model)], "attention": lambda: attention_matmuls(model)}
    unknown = set(keep_fp32) - set(groups)
    if unknown:
        raise ExportError(f"unknown int8 exclusion group(s) {sorted(unknown)}; choose from {sorted(groups)}")
    return [name for g in keep_fp32 for name in groups[g]()]


class _Reader:
    """ONNX Runtime ``CalibrationDataReader`` over B×3×H×W float32 batches."""

    def __init__(self, batches: Iterable[np.ndarray]) -> None:
        self._it: Iterator[np.ndarray] = iter(batches)

    def get_next(self) -> dict[str, np.ndarray] | None:
        batch = next(self._it, None)
        return None if batch is None else {INPUT_NAME: batch}


def calibrate_ranges(
    model_path: Path, batches: Iterable[np.ndarray], method: str, cache_path: Path, op_types: Iterable[str]
) -> None:
    """Run ONNX Runtime's calibrator over ``batches`` one batch at a time (its histogram calibrators otherwise hold
    every activation of every batch in memory) and save the tensor ranges to ``cache_path``."""
    from onnxruntime.quantization.calibrate import CalibrationMethod, create_calibrator, save_tensors_data

    name, calib_options = CALIBRATION_METHODS[method]
    with tempfile.TemporaryDirectory(prefix="swinpose-calib-") as tmp:  # ORT writes an augmented copy of the graph
        calibrator = create_calibrator(
            Path(model_path),
            list(op_types),
            augmented_model_path=str(Path(tmp) / "augmented.onnx"),
            calibrate_method=getattr(CalibrationMethod, name),
            extra_options=calib_options,
        )
        seen = 0
        for batch in batches:
            calibrator.collect_data(_Reader([batch]))
            seen += len(batch)
        if not seen:
            raise ExportError("the calibration data gave no images; pass a folder or COCO .json with person images")
        ranges = calibrator.compute_data()
        del calibrator  # its ONNX Runtime session holds the augmented file open
    save_tensors_data(ranges, cache_path)


def quantize_int8(
    model: onnx.ModelProto,
    batches: Iterable[np.ndarray] | None,
    method: str = "minmax",
    cache_path: str | Path | None = None,
    exclude_nodes: Iterable[str] = (),
    op_types: Iterable[str] = INT8_OP_TYPES,
    output_op_types: Iterable[str] = INT8_OUTPUT_OP_TYPES,
    weight_bits: int = DEFAULT_INT8_WEIGHT_BITS,
    unsigned: bool = False,
) -> onnx.ModelProto:
    """The QDQ int8 graph of an fp32 ``model``, calibrated on ``batches`` (B×3×H×W float32, already normalised).

    ``cache_path``: JSON of calibrated tensor ranges (ONNX Runtime's format). If it exists, calibration is skipped
    and its ranges are used (``batches`` may then be None); otherwise the ranges are written there for reuse.
    ``op_types`` get Q/DQ on their inputs, and those also in ``output_op_types`` on their outputs.
    ``weight_bits``: 7 (symmetric weights in [-64, 64], safe on every CPU) or 8 ([-127, 127]).
    ``unsigned``: asymmetric uint8 activations and weights instead (ONNX Runtime's U8U8; TensorRT cannot build
    it, so only benchmarks use it).
    """
    try:
        from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    except ImportError as e:
        raise MissingDependencyError("onnxruntime", "export", "int8 quantization") from e
    if weight_bits not in INT8_WEIGHT_BITS:
        raise ExportError(f"int8 weights have 7 or 8 bits, not {weight_bits}; pass --int8-weight-bits 7 or 8")
    if method not in CALIBRATION_METHODS:
        raise ExportError(f"unknown calibration method {method!r}; choose from {sorted(CALIBRATION_METHODS)}")
    op_types = list(op_types)
    cached = cache_path is not None and Path(cache_path).is_file()
    if batches is None and not cached:
        raise ExportError("int8 needs calibration data: pass --calib-data DIR|COCO.json (or a calibration cache)")
    if cached:
        _check_cache(model, Path(cache_path), CALIBRATION_METHODS[method][0])
    quiet = io.StringIO()  # ORT's calibrators print their progress; ours is the tqdm bar over the batches
    with tempfile.TemporaryDirectory(prefix="swinpose-int8-") as tmp, contextlib.redirect_stdout(quiet):
        src, dst = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
        ranges = Path(cache_path) if cache_path is not None else Path(tmp) / "ranges.json"
        onnx.save(model, src)
        root = logging.getLogger()
        level = root.level
        root.setLevel(logging.ERROR)  # ORT logs a "consider pre-processing" warning on the root logger
        try:
            if not cached:
                calibrate_ranges(src, batches, method, ranges, op_types)
            quantize_static(
                str(src),
                str(dst),
                None,
                quant_format=QuantFormat.QDQ,
                op_types_to_quantize=op_types,
                nodes_to_exclude=list(exclude_nodes),
                per_channel=True,
                reduce_range=weight_bits == 7,
                activation_type=QuantType.QUInt8 if unsigned else QuantType.QInt8,
                weight_type=QuantType.QUInt8 if unsigned else QuantType.QInt8,
                calibrate_method=getattr(CalibrationMethod, CALIBRATION_METHODS[method][0]),
                extra_options={
                    "ActivationSymmetric": not unsigned,
                    "WeightSymmetric": not unsigned,
                    # no Q/DQ on MatMul outputs: they feed the residual stream, GELU and softmax
                    "OpTypesToExcludeOutputQuantization": [t for t in op_types if t not in set(output_op_types)],
                    "QuantizeBias": False,  # TensorRT's Q/DQ is 8-bit: conv biases stay float
                },
                calibration_cache_path=str(ranges),
            )
        except ExportError:
            raise
        except Exception as e:
            raise ExportError(f"int8 quantization failed ({type(e).__name__}: {str(e)[:400]})") from e
        finally:
            root.setLevel(level)
        quantized = onnx.load(str(dst))
    quantized.doc_string = model.doc_string + " int8"
    check_graph(quantized)
    return quantized


def _check_cache(model: onnx.ModelProto, path: Path, method: str) -> None:
    """A range cache from another graph would quantize with wrong ranges: every name in it must be a tensor here."""
    import json

    try:
        cache = json.loads(path.read_text())
        names = set(cache["data"])
    except (ValueError, KeyError, TypeError) as e:
        raise ExportError(f"{path} is not an ONNX Runtime calibration cache ({e}); delete it to recalibrate") from e
    if method not in str(cache.get("calibration_method", method)):
        raise ExportError(
            f"{path} holds {cache.get('calibration_method')} ranges, not {method}; pass the same --calib-method "
            "or recalibrate with --calib-data"
        )
    tensors = {o for n in model.graph.node for o in n.output} | {i.name for i in model.graph.input}
    stray = sorted(names - tensors)
    if stray:
        raise ExportError(
            f"{path} was calibrated on a different graph ({len(stray)} unknown tensors, e.g. {stray[:3]}); "
            "delete it or pass --calib-data to recalibrate"
        )
