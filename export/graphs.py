"""The graphs an export makes from a PyTorch model, each checked where it is made: the fp32 ONNX graph (against
PyTorch, :data:`export.parity.FP32_GATE`), the graph in the package's precision (fp16, or int8 calibrated on
:class:`export.calibration.CalibrationSet` crops) and the OpenCV DNN rewrite of the fp32 graph.

Shape legend: N crops, K keypoints, H×W input, h×w heatmaps.
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch

from export.calibration import CalibrationSet
from export.int8_check import max_weight_pair, quantized_ops, saturating_ops
from export.onnx_export import INPUT_NAME, export_onnx, ort_session
from export.opencv_dnn import OPENCV_TOLERANCE, to_opencv_dnn
from export.parity import Parity, check_fp32, compare_heatmaps
from export.precision import (
    DEFAULT_INT8_WEIGHT_BITS,
    INT8_KEEP_FP32,
    INT8_OP_TYPES,
    int8_excluded_nodes,
    quantize_int8,
    to_fp16,
)
from runtime.codec import HeatmapCodec
from runtime.errors import ExportError, InputError
from runtime.int8_cpu import KERNELS
from runtime.package import file_record
from swinpose.models.pose import SwinPose

__all__ = [
    "run_graph",
    "reference_heatmaps",
    "fp32_graph",
    "precision_graph",
    "opencv_graph",
    "copy_calib_cache",
    "int8_accumulation",
]

logger = logging.getLogger(__name__)


def run_graph(graph: onnx.ModelProto, inputs: np.ndarray, batch: int = 8) -> np.ndarray:
    """N×K×h×w heatmaps of ONNX Runtime on N×3×H×W ``inputs``, ``batch`` at a time."""
    session = ort_session(graph)
    return np.concatenate(
        [session.run(None, {INPUT_NAME: inputs[i : i + batch]})[0] for i in range(0, len(inputs), batch)]
    )


@torch.inference_mode()
def reference_heatmaps(model: SwinPose, inputs: np.ndarray, batch: int = 8) -> np.ndarray:
    """N×K×h×w heatmaps of PyTorch fp32 on N×3×H×W ``inputs``: the reference every graph is judged against."""
    return np.concatenate(
        [model(torch.from_numpy(inputs[i : i + batch])).numpy() for i in range(0, len(inputs), batch)]
    )


def fp32_graph(
    model: SwinPose, max_batch: int, inputs: np.ndarray, reference: np.ndarray, codec: HeatmapCodec
) -> tuple[onnx.ModelProto, np.ndarray, Parity]:
    """The fp32 ONNX graph (batches up to ``max_batch``), its heatmaps on the parity ``inputs`` and its parity with
    ``reference``; raises :class:`ExportError` where it misses :data:`export.parity.FP32_GATE`."""
    t0 = time.perf_counter()
    fp32 = export_onnx(model, max_batch=max_batch)
    logger.info("ONNX export: %d nodes in %.1f s", len(fp32.graph.node), time.perf_counter() - t0)
    heatmaps = run_graph(fp32, inputs)
    parity = compare_heatmaps(reference, heatmaps, codec)
    check_fp32(parity)
    return fp32, heatmaps, parity


def copy_calib_cache(source: Path, ort_file: Path, trt_file: Path) -> None:
    """Copy an earlier int8 export's calibration files (``source``: its package folder or its ONNX Runtime file) to
    ``ort_file`` and, where it has one, its TensorRT table to ``trt_file``: the quantizer and the builder reuse
    them instead of calibrating."""
    folder = source if source.is_dir() else source.parent
    ranges = source if source.is_file() else folder / ort_file.name
    if not ranges.is_file():
        raise InputError(f"--calib-cache {source} has no {ort_file.name}; pass an earlier int8 package folder")
    shutil.copy(ranges, ort_file)
    if (folder / trt_file.name).is_file():
        shutil.copy(folder / trt_file.name, trt_file)


def int8_accumulation(graph: onnx.ModelProto, weight_bits: int) -> dict[str, Any]:
    """What model.json says of the int8 graph's integer sums: the weight bits, the largest weight pair (the two
    largest |w| of an output channel, summed) and the CPU kernel families on which some pair can leave int16
    (:mod:`runtime.int8_cpu`; PoseEngine refuses the graph there)."""
    ops = quantized_ops(graph)
    pair = max_weight_pair(graph, ops)
    unsafe = [k.name for k in KERNELS.values() if k.saturates(pair)]
    if unsafe:
        worst = saturating_ops(graph, KERNELS[unsafe[0]], ops)
        logger.warning(
            "int8: %d-bit weights (largest pair %d) can saturate in the int16 sums of %s CPU kernels (%d ops); "
            "PoseEngine refuses this package on such kernels; TensorRT and VNNI/dot-product CPUs run it exactly",
            weight_bits,
            pair,
            ", ".join(unsafe),
            len(worst),
        )
    return {"weight_bits": weight_bits, "max_weight_pair": pair, "saturates_on": unsafe}


def precision_graph(
    fp32: onnx.ModelProto,
    precision: str,
    calib: CalibrationSet | None,
    ranges_file: Path,
    method: str = "minmax",
    keep_fp32: tuple[str, ...] = INT8_KEEP_FP32,
    weight_bits: int = DEFAULT_INT8_WEIGHT_BITS,
    progress: bool = True,
    cache_source: str | None = None,
) -> tuple[onnx.ModelProto, dict[str, Any] | None]:
    """``fp32`` in ``precision`` and, for int8, what model.json records of its calibration. int8 calibrates on
    ``calib`` (or reuses the ranges already in ``ranges_file``, from ``cache_source``, where it is None), with the
    ``keep_fp32`` node groups left un-quantized."""
    if precision == "fp32":
        return fp32, None
    if precision == "fp16":
        return to_fp16(fp32), None
    excluded = int8_excluded_nodes(fp32, keep_fp32)
    batches = None if calib is None else calib.batches(8, progress="int8 calibration" if progress else None)
    graph = quantize_int8(fp32, batches, method, ranges_file, excluded, weight_bits=weight_bits)
    meta = {
        "method": method,
        "images": len(calib) if calib is not None else None,
        "source": calib.source if calib is not None else f"cache {cache_source}",
        "quantized_op_types": sorted({n.op_type for n in fp32.graph.node} & set(INT8_OP_TYPES)),
        "keep_fp32": list(keep_fp32),
        "excluded_nodes": excluded,
    }
    meta.update(int8_accumulation(graph, weight_bits))
    return graph, meta


def opencv_graph(fp32: onnx.ModelProto, inputs: np.ndarray, expected: np.ndarray, path: Path) -> dict[str, Any]:
    """Write the OpenCV DNN rewrite of ``fp32`` (batch 1) to ``path`` after checking that ONNX Runtime gives the
    fp32 graph's heatmaps ``expected`` on ``inputs`` with it; returns what model.json records of it."""
    graph = to_opencv_dnn(fp32, batch=1)
    max_abs = float(np.abs(run_graph(graph, inputs, batch=1) - expected).max())
    if max_abs > OPENCV_TOLERANCE:
        raise ExportError(
            f"the OpenCV DNN graph differs from model.onnx by {max_abs:.3g} (> {OPENCV_TOLERANCE}) in ONNX Runtime; "
            "report it with the model's config, and export without --opencv meanwhile"
        )
    onnx.save(graph, path)
    return {"batch": 1, "nodes": len(graph.graph.node), "max_abs_vs_onnx": max_abs, **file_record(path)}
