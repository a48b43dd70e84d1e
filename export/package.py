"""``export_package``: checkpoint → ONNX (fp32 / fp16 / int8) → TensorRT engine, written as a model package.

The export is a short sequence of named steps, each owned by the module whose idea it is: load the model
(:func:`swinpose.models.pose_io.load_weights`), make the crops (:func:`export.calibration.export_crops`), make
and check the graphs (:mod:`export.graphs`), judge them (:func:`export.parity.parity_gate`), build the engine
(:mod:`export.trt`) and write the package (:class:`runtime.package.PackageSpec`).

Every file is made in a staging folder beside ``out``, and the complete folder replaces ``out`` in one atomic
exchange (:func:`runtime.files.replace_folder`): a kill at any moment leaves the old package or the new one, whole;
the next export removes what a killed one left. ``out`` must be empty or a package: the export replaces the whole
folder, so it refuses one that holds other files.
"""

from __future__ import annotations

import logging
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from export.calibration import CalibrationSet, export_crops
from export.graphs import copy_calib_cache, fp32_graph, opencv_graph, precision_graph, reference_heatmaps, run_graph
from export.onnx_export import INPUT_NAME, OPSET, OUTPUT_NAME, op_counts
from export.parity import FP32_GATE, Parity, compare_heatmaps, enforce_gate, labelled_aps, parity_gate
from export.precision import (
    CALIBRATION_METHODS,
    DEFAULT_INT8_WEIGHT_BITS,
    INT8_KEEP_FP32,
    INT8_WEIGHT_BITS,
)
from export.provenance import POSE_TOOLS, tool_versions, utc_now
from export.trt import TRT_MODES, EngineOptions, build_engine, engine_builder
from runtime.backends import TENSORRT_FLAVORS
from runtime.errors import InputError
from runtime.files import check_replaceable_folder, fault_point, replace_folder, staging_folder
from runtime.package import (
    PACKAGE_JSON,
    PRECISIONS,
    BatchRange,
    Files,
    InferenceSpec,
    ModelInfo,
    PackageSpec,
    TensorSpec,
    file_record,
)
from swinpose.defaults import inference_from_meta, inference_spec
from swinpose.models.pose import SwinPose
from swinpose.models.pose_io import RANDOM_WEIGHTS_NAME, load_weights, resolve_weights

__all__ = ["ExportOptions", "ExportResult", "export_package", "parse_batch"]

logger = logging.getLogger(__name__)

ONNX_FILE = "model.onnx"
ENGINE_FILE = "model.engine"
OPENCV_FILE = "model.opencv.onnx"  # the fp32 graph rewritten for OpenCV DNN (export.opencv_dnn), batch 1
ORT_CALIB_FILE = "calibration.json"  # ONNX Runtime's calibrated tensor ranges (int8 graph)
TRT_CALIB_FILE = "calibration.trt.cache"  # TensorRT's legacy calibration table (int8 engine, weak typing)
_OPTIONAL_FILES = (ENGINE_FILE, ORT_CALIB_FILE, TRT_CALIB_FILE, OPENCV_FILE)


def parse_batch(text: str) -> tuple[int, int, int]:
    """``"1,8,32"`` → (1, 8, 32) (min, opt, max; commas as every swinpose ``--batch`` takes, ``1:8:32`` too);
    ``"8"`` → (8, 8, 8)."""
    parts = re.split(r"[,:]", str(text))
    try:
        values = tuple(int(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) == 1:
        values = values * 3
    if len(values) != 3 or not 1 <= values[0] <= values[1] <= values[2]:
        raise InputError(f"--batch {text!r} must be MIN,OPT,MAX with 1 <= MIN <= OPT <= MAX, e.g. 1,8,32")
    return values


@dataclass(frozen=True)
class ExportOptions:
    """What to export. ``engine``: None builds one when TensorRT imports, True requires it, False skips it.
    ``calib_cache``: an earlier int8 package folder (or its calibration.json) whose ranges to reuse.
    ``int8_keep_fp32``: node groups left un-quantized (see :func:`export.precision.int8_excluded_nodes`).
    ``opencv``: also write ``model.opencv.onnx`` for OpenCV DNN (fp32 packages; the C++ runtime's CPU backend).
    ``int8_weight_bits``: 7 (safe on every CPU) or 8 (exact only on VNNI/dot-product CPUs and TensorRT).
    ``gate``: refuse to write an fp16/int8 package whose parity misses its limit (:func:`parity_gate`).
    ``trt_flavor``: ``auto``, ``standard`` or ``rtx`` (:mod:`export.trt`); ``compute_capabilities``: TensorRT-RTX's
    ahead-of-time targets, e.g. ``("sm86", "sm89")``."""

    precision: str = "fp32"
    model: str | None = None
    calib_data: Path | None = None
    calib_size: int = 256
    calib_method: str = "minmax"
    calib_cache: Path | None = None
    parity_data: Path | None = None
    parity_crops: int = 32
    batch: tuple[int, int, int] = (1, 8, 32)
    engine: bool | None = None
    workspace_gb: float = 4.0
    dla_core: int | None = None
    timing_cache: Path | None = None
    trt_mode: str = "auto"
    int8_keep_fp32: tuple[str, ...] = INT8_KEEP_FP32
    opencv: bool = False
    int8_weight_bits: int = DEFAULT_INT8_WEIGHT_BITS
    gate: bool = True
    trt_flavor: str = "auto"
    compute_capabilities: tuple[str, ...] = ()
    progress: bool = True
    input_size: tuple[int, int] | None = None  # (H, W) of files that do not record it (MMPose checkpoints)
    mmpose_config: Path | None = None  # an MMPose checkpoint's .py config: input size, pre-processing, flip shift


@dataclass
class ExportResult:
    """The written package: its folder, its model.json, the parity of each graph, and why the engine was skipped."""

    out: Path
    spec: PackageSpec
    parity: dict[str, Parity]
    engine_skipped: str | None = None
    files: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line: precision, files written, parity figures."""
        sizes = ", ".join(f"{f} {_size((self.out / f).stat().st_size)}" for f in self.files)
        par = "; ".join(f"{k} {v}" for k, v in self.parity.items())
        engine = f"; engine skipped: {self.engine_skipped}" if self.engine_skipped else ""
        return f"{self.spec.precision} package {self.out}/: {sizes}{engine}. Parity vs PyTorch fp32: {par}"


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.1f} kB"


def _writable_folder(out: Path) -> None:
    """``out`` can be replaced by a new package: absent, empty or a package (the files a package has, and the
    staging folders exports left inside it before the folder was replaced whole)."""
    ours = {PACKAGE_JSON, ONNX_FILE, *_OPTIONAL_FILES}
    check_replaceable_folder(out, lambda name: name in ours or name.startswith(".staging-"), "--out", "a package")


def _check_options(o: ExportOptions) -> None:
    """Refuse a bad combination before any slow work starts."""
    if o.precision not in PRECISIONS:
        raise InputError(f"precision {o.precision!r} is not one of {PRECISIONS}")
    if o.calib_method not in CALIBRATION_METHODS:
        raise InputError(f"calibration method {o.calib_method!r} is not one of {sorted(CALIBRATION_METHODS)}")
    if o.trt_flavor != "auto" and o.trt_flavor not in TENSORRT_FLAVORS:
        raise InputError(f"TensorRT flavour {o.trt_flavor!r} is not one of auto, {', '.join(TENSORRT_FLAVORS)}")
    if o.compute_capabilities and (o.engine is False or o.trt_flavor == "standard"):
        raise InputError("--compute-capability names TensorRT-RTX's targets: drop it, or build an RTX engine")
    if o.trt_mode not in TRT_MODES:
        raise InputError(f"TensorRT mode {o.trt_mode!r} is not one of {TRT_MODES}")
    parse_batch(",".join(str(b) for b in o.batch))
    for name in ("calib_size", "parity_crops"):
        value = getattr(o, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InputError(f"--{name.replace('_', '-')} must be a positive integer, got {value!r}")
    if o.precision == "int8" and o.calib_data is None and o.calib_cache is None:
        raise InputError("--int8 needs calibration images: add --calib-data DIR|COCO.json (a few hundred person crops)")
    if o.precision != "int8" and o.calib_cache is not None:
        raise InputError("--calib-cache is for --int8 exports only")
    if o.calib_cache is not None and o.calib_data is not None:
        raise InputError("--calib-cache reuses earlier ranges and --calib-data makes new ones: pass one of them")
    if o.engine is False and (o.dla_core is not None or o.timing_cache is not None):
        raise InputError("--dla-core and --timing-cache configure the TensorRT engine; drop them or drop --onnx-only")
    if o.int8_weight_bits not in INT8_WEIGHT_BITS:
        raise InputError(f"--int8-weight-bits {o.int8_weight_bits} must be one of {INT8_WEIGHT_BITS}")
    if o.int8_weight_bits != DEFAULT_INT8_WEIGHT_BITS and o.precision != "int8":
        raise InputError("--int8-weight-bits is for --int8 exports only")
    if o.opencv and o.precision != "fp32":
        raise InputError("--opencv writes the fp32 graph for OpenCV DNN: export an fp32 package (no --fp16/--int8)")


def _load_model(weights: str | Path, o: ExportOptions) -> tuple[SwinPose, InferenceSpec, str]:
    """The model to export, the inference settings its file records (our training's defaults for random weights
    and files from before they were recorded), and the weights' name for model.json."""
    model, meta, name = load_weights(weights, o.model, o.input_size, o.mmpose_config)
    if meta is None:
        return model, inference_spec(model.cfg), name
    return model, inference_from_meta(meta, model.cfg, str(resolve_weights(weights))), name  # errors name the file


@dataclass
class _Graphs:
    """The graphs of one export and what they were judged on: the fp32 graph, the package's graph (``graph``, the
    fp32 one for fp32 packages), the parity of each against PyTorch, and the parity set's heatmaps."""

    fp32: onnx.ModelProto
    graph: onnx.ModelProto
    parity: dict[str, Parity]
    fp32_heatmaps: np.ndarray
    calibration: dict[str, Any] | None
    gate: dict[str, Any] | None = None


def _graphs(
    model: SwinPose,
    o: ExportOptions,
    inference: InferenceSpec,
    calib: CalibrationSet | None,
    parity_set: CalibrationSet,
    inputs: np.ndarray,
    reference: np.ndarray,
    staging: Path,
    weights_name: str,
) -> _Graphs:
    """The fp32 graph (gated), the graph in ``o.precision``, and that graph's verdict (:func:`_gate`)."""
    fp32, fp32_heatmaps, fp32_parity = fp32_graph(model, o.batch[2], inputs, reference, inference.codec)
    if o.calib_cache is not None:
        copy_calib_cache(o.calib_cache, staging / ORT_CALIB_FILE, staging / TRT_CALIB_FILE)
    graph, calibration = precision_graph(
        fp32,
        o.precision,
        calib,
        staging / ORT_CALIB_FILE,
        o.calib_method,
        o.int8_keep_fp32,
        o.int8_weight_bits,
        o.progress,
        o.calib_cache,
    )
    graphs = _Graphs(fp32, graph, {"fp32": fp32_parity}, fp32_heatmaps, calibration)
    if graph is not fp32:
        heatmaps = run_graph(graph, inputs)
        graphs.parity[o.precision] = parity = compare_heatmaps(reference, heatmaps, inference.codec)
        aps = labelled_aps(parity_set, reference, heatmaps, inference)
        graphs.gate = _gate(o, parity, inference, aps, weights_name)
    return graphs


def _gate(
    o: ExportOptions, parity: Parity, inference: InferenceSpec, aps: tuple[float, float] | None, weights_name: str
) -> dict[str, Any]:
    """The parity verdict of the fp16/int8 graph (:func:`export.parity.parity_gate`), enforced unless
    ``--no-gate``: random weights are never judged."""
    verdict = parity_gate(o.precision, parity, inference.codec, aps, judged=weights_name != RANDOM_WEIGHTS_NAME)
    return enforce_gate(verdict, o.gate)


def _engine(
    trt: Any,
    graph: onnx.ModelProto,
    fp32: onnx.ModelProto,
    o: ExportOptions,
    calib: CalibrationSet | None,
    input_chw: tuple[int, int, int],
    staging: Path,
) -> dict[str, Any]:
    """Build the TensorRT engine from the staged graph (the legacy path calibrates the fp32 graph) into staging."""
    fp32_path = staging / ONNX_FILE
    if graph is not fp32:
        fp32_path = staging / "model.fp32.onnx"
        onnx.save(fp32, fp32_path)
    options = EngineOptions(
        o.precision,
        o.batch,
        o.workspace_gb,
        o.dla_core,
        o.timing_cache,
        o.trt_mode,
        o.calib_method,
        tuple(o.compute_capabilities),
        o.progress,
    )
    return build_engine(
        staging / ONNX_FILE,
        fp32_path,
        staging / ENGINE_FILE,
        INPUT_NAME,
        input_chw,
        options,
        calibration=calib,
        calib_cache=staging / TRT_CALIB_FILE,
        trt=trt,
    )


def _package_spec(
    out: Path,
    o: ExportOptions,
    model: SwinPose,
    inference: InferenceSpec,
    weights_name: str,
    graphs: _Graphs,
    parity_set: CalibrationSet,
    files: list[str],
    staging: Path,
    engine_meta: dict[str, Any] | None,
    opencv_meta: dict[str, Any] | None,
) -> PackageSpec:
    """The model.json of the package that ``staging`` holds."""
    cfg = model.cfg
    h, w = cfg.input_size
    return PackageSpec(
        folder=out,
        precision=o.precision,
        model=ModelInfo(cfg.name, cfg.to_dict(), weights_name),
        files=Files(
            onnx=ONNX_FILE,
            engine=ENGINE_FILE if ENGINE_FILE in files else None,
            calibration=ORT_CALIB_FILE if ORT_CALIB_FILE in files else None,
            opencv=OPENCV_FILE if OPENCV_FILE in files else None,
        ),
        input=TensorSpec(INPUT_NAME, (-1, 3, h, w), "float32", "NCHW"),
        output=TensorSpec(OUTPUT_NAME, (-1, cfg.num_keypoints, *cfg.heatmap_size), "float32", "NCHW"),
        batch=BatchRange(*o.batch),
        preprocess=inference.preprocess,
        codec=inference.codec,
        keypoints=inference.keypoints,
        onnx={
            "opset": OPSET,
            "nodes": len(graphs.graph.graph.node),
            "op_counts": op_counts(graphs.graph),
            **file_record(staging / ONNX_FILE),
        },
        engine=engine_meta,
        opencv=opencv_meta,
        calibration=graphs.calibration,
        parity={
            "reference": "pytorch-fp32",
            "images": len(parity_set),
            "source": parity_set.source,
            "fp32_gate": FP32_GATE,
            "gate": graphs.gate,
            **{k: v.to_dict() for k, v in graphs.parity.items()},
        },
        tools=tool_versions(POSE_TOOLS, engine_meta is not None),
        created=utc_now(),
    )


def export_package(weights: str | Path, out: str | Path, options: ExportOptions = ExportOptions()) -> ExportResult:
    """Export ``weights`` (a swinpose ``.safetensors``/``.pth``, ``"bundled"``, or ``"random"`` with
    ``options.model``) to the package folder ``out``: load the model and its inference settings, make the crops,
    the graphs (gated) and the optional OpenCV graph and engine, then write the package, built in a staging folder
    and moved into place."""
    o = options
    _check_options(o)
    out = Path(out)
    model, inference, weights_name = _load_model(weights, o)
    trt, engine_skipped = engine_builder(o.engine, o.trt_flavor, o.compute_capabilities)
    calib, parity_set = export_crops(
        o.calib_data, o.parity_data, o.calib_size, o.parity_crops, inference.preprocess, o.progress
    )
    inputs = parity_set.inputs()
    _writable_folder(out)
    reference = reference_heatmaps(model, inputs)

    staging = staging_folder(out)
    try:
        graphs = _graphs(model, o, inference, calib, parity_set, inputs, reference, staging, weights_name)
        onnx.save(graphs.graph, staging / ONNX_FILE)
        fault_point("staged-onnx")
        opencv_meta = None
        if o.opencv:
            opencv_meta = opencv_graph(graphs.fp32, inputs, graphs.fp32_heatmaps, staging / OPENCV_FILE)
        h, w = model.cfg.input_size
        engine_meta = None if trt is None else _engine(trt, graphs.graph, graphs.fp32, o, calib, (3, h, w), staging)

        files = [ONNX_FILE] + [f for f in _OPTIONAL_FILES if (staging / f).is_file()]
        spec = _package_spec(
            out, o, model, inference, weights_name, graphs, parity_set, files, staging, engine_meta, opencv_meta
        )
        PackageSpec.from_dict(spec.to_dict(), out)  # what we write must read back as itself
        for leftover in set(p.name for p in staging.iterdir()) - set(files):  # e.g. the legacy path's fp32 graph
            (staging / leftover).unlink()
        spec.write(staging)
        fault_point("staged-json")
        replace_folder(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return ExportResult(out, spec, graphs.parity, engine_skipped, files + [PACKAGE_JSON])
