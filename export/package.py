"""``export_package``: checkpoint → ONNX (fp32 / fp16 / int8) → TensorRT engine, written as a model package.

Every file is made in a staging folder beside ``out``, and the complete folder replaces ``out`` in one atomic
exchange (:func:`runtime.files.replace_folder`): a kill at any moment leaves the old package or the new one, whole;
the next export removes what a killed one left. ``out`` must be empty or a package: the export replaces the whole
folder, so it refuses one that holds other files.
"""

from __future__ import annotations

import logging
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch

from export.calibration import CalibrationSet, load_calibration_set, synthetic_set
from export.int8_check import max_weight_pair, quantized_ops, saturating_ops
from export.onnx_export import INPUT_NAME, OPSET, OUTPUT_NAME, export_onnx, op_counts, ort_session
from export.opencv_dnn import OPENCV_TOLERANCE, to_opencv_dnn
from export.parity import AP_THRESHOLDS, Parity, compare_heatmaps, parity_ap, shift_limit
from export.precision import (
    CALIBRATION_METHODS,
    DEFAULT_INT8_WEIGHT_BITS,
    INT8_KEEP_FP32,
    INT8_OP_TYPES,
    INT8_WEIGHT_BITS,
    int8_excluded_nodes,
    quantize_int8,
    to_fp16,
)
from export.provenance import POSE_TOOLS, tool_versions, utc_now
from export.trt import TRT_FLAVORS, TRT_MODES, EngineOptions, build_engine, engine_builder
from runtime.codec import HeatmapCodec
from runtime.errors import ExportError, InputError, InputShapeError, MissingDependencyError
from runtime.files import check_replaceable_folder, fault_point, replace_folder, staging_folder
from runtime.int8_cpu import KERNELS
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
from runtime.transforms import Preprocess
from swinpose.defaults import inference_from_meta, inference_spec
from swinpose.models.pose import SwinPose
from swinpose.models.pose_io import load_pose_file, resolve_weights
from swinpose.models.registry import create_model

__all__ = ["ExportOptions", "ExportResult", "export_package", "parse_batch", "FP32_GATE"]

logger = logging.getLogger(__name__)

#: the export fails if fp32 ONNX Runtime heatmaps differ from PyTorch's by more than this
FP32_GATE = 1e-3
ONNX_FILE = "model.onnx"
ENGINE_FILE = "model.engine"
OPENCV_FILE = "model.opencv.onnx"  # the fp32 graph rewritten for OpenCV DNN (export.opencv_dnn), batch 1
ORT_CALIB_FILE = "calibration.json"  # ONNX Runtime's calibrated tensor ranges (int8 graph)
TRT_CALIB_FILE = "calibration.trt.cache"  # TensorRT's legacy calibration table (int8 engine, weak typing)


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


def _run(session: Any, inputs: np.ndarray, batch: int = 8) -> np.ndarray:
    return np.concatenate(
        [session.run(None, {INPUT_NAME: inputs[i : i + batch]})[0] for i in range(0, len(inputs), batch)]
    )


@torch.inference_mode()
def _reference(model: SwinPose, inputs: np.ndarray, batch: int = 8) -> np.ndarray:
    return np.concatenate(
        [model(torch.from_numpy(inputs[i : i + batch])).numpy() for i in range(0, len(inputs), batch)]
    )


def _check_options(o: ExportOptions) -> None:
    """Refuse a bad combination before any slow work starts."""
    if o.precision not in PRECISIONS:
        raise InputError(f"precision {o.precision!r} is not one of {PRECISIONS}")
    if o.calib_method not in CALIBRATION_METHODS:
        raise InputError(f"calibration method {o.calib_method!r} is not one of {sorted(CALIBRATION_METHODS)}")
    if o.trt_flavor != "auto" and o.trt_flavor not in TRT_FLAVORS:
        raise InputError(f"TensorRT flavour {o.trt_flavor!r} is not one of auto, {', '.join(TRT_FLAVORS)}")
    if o.compute_capabilities and (o.engine is False or o.trt_flavor == "standard"):
        raise InputError("--compute-capability names TensorRT-RTX's targets: drop it, or build an RTX engine")
    if o.trt_mode not in TRT_MODES:
        raise InputError(f"TensorRT mode {o.trt_mode!r} is not one of {TRT_MODES}")
    parse_batch(",".join(str(b) for b in o.batch))
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


def _calib_cache_files(source: Path | None, staging: Path) -> None:
    """Copy an earlier export's calibration files into the staging folder, where the quantizer reuses them."""
    if source is None:
        return
    folder = source if source.is_dir() else source.parent
    ort_file = source if source.is_file() else folder / ORT_CALIB_FILE
    if not ort_file.is_file():
        raise InputError(f"--calib-cache {source} has no {ORT_CALIB_FILE}; pass an earlier int8 package folder")
    shutil.copy(ort_file, staging / ORT_CALIB_FILE)
    if (folder / TRT_CALIB_FILE).is_file():
        shutil.copy(folder / TRT_CALIB_FILE, staging / TRT_CALIB_FILE)


def _opencv_graph(fp32: onnx.ModelProto, inputs: np.ndarray, expected: np.ndarray, path: Path) -> dict[str, Any]:
    """Write the OpenCV DNN rewrite of ``fp32`` to ``path`` after checking that ONNX Runtime gives the fp32 graph's
    heatmaps ``expected`` on ``inputs`` with it."""
    graph = to_opencv_dnn(fp32, batch=1)
    max_abs = float(np.abs(_run(ort_session(graph), inputs, batch=1) - expected).max())
    if max_abs > OPENCV_TOLERANCE:
        raise ExportError(
            f"the OpenCV DNN graph differs from model.onnx by {max_abs:.3g} (> {OPENCV_TOLERANCE}) in ONNX Runtime; "
            "report it with the model's config, and export without --opencv meanwhile"
        )
    onnx.save(graph, path)
    return {"batch": 1, "nodes": len(graph.graph.node), "max_abs_vs_onnx": max_abs, **file_record(path)}


def _int8_accumulation(graph: onnx.ModelProto, weight_bits: int) -> dict[str, Any]:
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
            "ONNX Runtime on such CPUs will refuse this package, TensorRT and VNNI/dot-product CPUs run it exactly",
            weight_bits, pair, ", ".join(unsafe), len(worst),
        )  # fmt: skip
    return {"weight_bits": weight_bits, "max_weight_pair": pair, "saturates_on": unsafe}


def _parity_aps(
    parity_set: CalibrationSet, reference: np.ndarray, heatmaps: np.ndarray, inference: InferenceSpec
) -> tuple[float, float] | None:
    """(PyTorch's AP, the graph's AP) on a labelled COCO parity set, with the model's OKS sigmas, else None (also
    without pycocotools, which the export extra does not pull, or for a keypoint set without OKS sigmas)."""
    if not parity_set.labelled or not inference.keypoints.oks_sigmas:
        return None
    keypoints, areas, codec = parity_set.keypoints, parity_set.areas, inference.codec
    sigmas = inference.keypoints.sigmas()
    try:
        return (parity_ap(reference, codec, keypoints, areas, sigmas),
                parity_ap(heatmaps, codec, keypoints, areas, sigmas))  # fmt: skip
    except (MissingDependencyError, InputShapeError) as e:
        logger.info("parity: no ΔAP on the labelled parity crops (%s)", e)
        return None


#: the ΔAP gate needs this many labelled parity crops: one person crossing one of COCO's 10 OKS thresholds moves
#: AP by about 10/N points, 0.05 at N = 200, a tenth of the int8 limit
MIN_AP_CROPS = 200


def parity_gate(
    precision: str, parity: Parity, codec: HeatmapCodec, aps: tuple[float, float] | None, weights: str, enforce: bool
) -> dict[str, Any]:
    """Judge an fp16/int8 graph's parity against PyTorch: the median shift of the confident keypoints within
    :func:`export.parity.shift_limit`, and, on a labelled parity set (``aps`` = PyTorch's and the graph's AP),
    |ΔAP| within :data:`export.parity.AP_THRESHOLDS` (judged from :data:`MIN_AP_CROPS` crops on). A miss raises
    :class:`ExportError` unless ``enforce`` is False; random weights (no model to keep) are never judged. Returns
    the verdict for model.json."""
    limit = shift_limit(precision, codec)
    verdict: dict[str, Any] = {"median_confident_shift_limit_px": limit, "delta_ap_limit": AP_THRESHOLDS[precision]}
    if aps is not None:
        verdict.update(ap_pytorch=aps[0], ap=aps[1], delta_ap=aps[0] - aps[1])
    if weights == RANDOM_WEIGHTS_NAME:
        return {**verdict, "passed": None, "why": "random weights: a package to time, not to use"}
    misses = []
    if parity.median_kpt_px is None:
        logger.warning("parity: no confident keypoint in the %d parity crops; the shift gate cannot judge them, pass "
                       "--parity-data with person images", parity.crops)  # fmt: skip
    elif parity.median_kpt_px > limit:
        misses.append(
            f"the confident keypoints moved {parity.median_kpt_px:.3f} px (median) against PyTorch (limit "
            f"{limit:.3f} px, {parity.confident_keypoints} keypoints on {parity.crops} crops)"
        )
    if aps is not None and parity.crops < MIN_AP_CROPS:
        verdict["delta_ap_judged"] = False
        logger.info("parity: ΔAP %.2f on %d labelled crops is not judged (one person crossing one OKS threshold moves "
                    "AP by about %.1f points); --parity-crops %d or more gates on it", aps[0] - aps[1], parity.crops,
                    10 / parity.crops, MIN_AP_CROPS)  # fmt: skip
    elif aps is not None and abs(aps[0] - aps[1]) > AP_THRESHOLDS[precision]:
        misses.append(f"AP {aps[1]:.2f} against PyTorch's {aps[0]:.2f} on the {parity.crops} labelled parity crops "
                      f"(|ΔAP| {abs(aps[0] - aps[1]):.2f} > {AP_THRESHOLDS[precision]})")  # fmt: skip
    verdict["passed"] = not misses
    if misses and enforce:
        fix = (
            "recalibrate on more images like the deployment's (--calib-data, --calib-size), try --calib-method "
            "percentile, or keep more nodes in fp32; --no-gate writes the package anyway"
            if precision == "int8"
            else "report it with the model's config; --no-gate writes the package anyway"
        )
        raise ExportError(f"the {precision} graph misses its parity gate: {'; '.join(misses)}. Nothing was written: "
                          f"{fix}")  # fmt: skip
    if misses:
        logger.warning("parity gate missed (--no-gate, written anyway): %s", "; ".join(misses))
    return verdict


#: ``--weights random``: a registered model with seeded random weights, whose packages time like trained ones
RANDOM_WEIGHTS = "random"
RANDOM_WEIGHTS_NAME = "random init (seed 0)"


def _load_model(
    weights: str | Path,
    model_name: str | None,
    input_size: tuple[int, int] | None = None,
    mmpose_config: Path | None = None,
) -> tuple[SwinPose, InferenceSpec, str]:
    """The model to export, the inference settings its file records (our training's defaults for random weights
    and files from before they were recorded), and the weights' name for model.json."""
    if str(weights) == RANDOM_WEIGHTS:
        if model_name is None:
            raise InputError("--weights random needs --model NAME, e.g. --model swinpose_t_256x192")
        with torch.random.fork_rng(devices=[]):  # seeded, without touching the caller's random state
            torch.manual_seed(0)
            model = create_model(model_name).eval()
        return model, inference_spec(model.cfg), RANDOM_WEIGHTS_NAME
    path = resolve_weights(weights)
    model, meta = load_pose_file(path, model_name, input_size, mmpose_config)
    return model, inference_from_meta(meta, model.cfg, str(path)), path.name


def _data_sets(o: ExportOptions, preprocess: Preprocess) -> tuple[CalibrationSet | None, CalibrationSet]:
    """The calibration crops (int8) and the parity crops, made by the model's own pre-processing. Parity crops are
    held out of calibration when ``--calib-data`` has enough of them."""
    calib: CalibrationSet | None = None
    parity_set: CalibrationSet | None = None
    if o.calib_data is not None:
        both = load_calibration_set(o.calib_data, preprocess, o.calib_size + o.parity_crops, progress=o.progress)
        held_out = len(both) >= 2 * o.parity_crops
        calib = both.subset(slice(None, -o.parity_crops) if held_out else slice(None))
        parity_set = both.subset(slice(-o.parity_crops, None))
    if o.parity_data is not None:
        parity_set = load_calibration_set(o.parity_data, preprocess, o.parity_crops, progress=o.progress)
    elif parity_set is None:
        parity_set = synthetic_set(o.parity_crops, preprocess)
    return calib, parity_set


def _checked_fp32_graph(model: SwinPose, o: ExportOptions, inputs: np.ndarray, reference: np.ndarray,
                        codec: HeatmapCodec) -> tuple[onnx.ModelProto, np.ndarray, Parity]:  # fmt: skip
    """The fp32 ONNX graph, its heatmaps on the parity inputs, and its parity; raises when it misses
    :data:`FP32_GATE` (then the export itself is wrong)."""
    t0 = time.perf_counter()
    fp32 = export_onnx(model, max_batch=o.batch[2])
    logger.info("ONNX export: %d nodes in %.1f s", len(fp32.graph.node), time.perf_counter() - t0)
    heatmaps = _run(ort_session(fp32), inputs)
    parity = compare_heatmaps(reference, heatmaps, codec)
    if parity.max_abs > FP32_GATE:
        raise ExportError(
            f"ONNX Runtime's fp32 heatmaps differ from PyTorch's by {parity.max_abs:.3g} (> {FP32_GATE}) on "
            f"{len(inputs)} crops; the export is wrong: report it with the checkpoint's config"
        )
    return fp32, heatmaps, parity


def _precision_graph(
    fp32: onnx.ModelProto, o: ExportOptions, calib: CalibrationSet | None, staging: Path
) -> tuple[onnx.ModelProto, dict[str, Any] | None]:
    """The graph in ``o.precision`` and, for int8, what model.json records of its calibration."""
    if o.precision == "fp32":
        return fp32, None
    if o.precision == "fp16":
        return to_fp16(fp32), None
    _calib_cache_files(o.calib_cache, staging)
    excluded = int8_excluded_nodes(fp32, o.int8_keep_fp32)
    batches = None if calib is None else calib.batches(8, progress="int8 calibration" if o.progress else None)
    graph = quantize_int8(fp32, batches, o.calib_method, staging / ORT_CALIB_FILE, excluded,
                          weight_bits=o.int8_weight_bits)  # fmt: skip
    meta = {
        "method": o.calib_method,
        "images": len(calib) if calib is not None else None,
        "source": calib.source if calib is not None else f"cache {o.calib_cache}",
        "quantized_op_types": sorted({n.op_type for n in fp32.graph.node} & set(INT8_OP_TYPES)),
        "keep_fp32": list(o.int8_keep_fp32),
        "excluded_nodes": excluded,
    }
    meta.update(_int8_accumulation(graph, o.int8_weight_bits))
    return graph, meta


def _engine(
    trt: Any, graph: onnx.ModelProto, fp32: onnx.ModelProto, o: ExportOptions, calib: CalibrationSet | None,
    input_chw: tuple[int, int, int], staging: Path,
) -> dict[str, Any]:  # fmt: skip
    """Build the TensorRT engine from the staged graph (the legacy path calibrates the fp32 graph) into staging."""
    fp32_path = staging / ONNX_FILE
    if graph is not fp32:
        fp32_path = staging / "model.fp32.onnx"
        onnx.save(fp32, fp32_path)
    options = EngineOptions(o.precision, o.batch, o.workspace_gb, o.dla_core, o.timing_cache, o.trt_mode,
                            o.calib_method, tuple(o.compute_capabilities), o.progress)  # fmt: skip
    return build_engine(staging / ONNX_FILE, fp32_path, staging / ENGINE_FILE, INPUT_NAME, input_chw, options,
                        calibration=calib, calib_cache=staging / TRT_CALIB_FILE, trt=trt)  # fmt: skip


_OPTIONAL_FILES = (ENGINE_FILE, ORT_CALIB_FILE, TRT_CALIB_FILE, OPENCV_FILE)


def export_package(weights: str | Path, out: str | Path, options: ExportOptions = ExportOptions()) -> ExportResult:
    """Export ``weights`` (a swinpose ``.safetensors``/``.pth``, ``"bundled"``, or ``"random"`` with
    ``options.model``) to the package folder ``out``: the checkpoint's inference settings, the parity crops, the
    fp32 graph (gated), the graph in the asked precision (gated), the optional OpenCV graph and engine, then the
    package, built in a staging folder and moved into place."""
    o = options
    _check_options(o)
    out = Path(out)
    model, inference, weights_name = _load_model(weights, o.model, o.input_size, o.mmpose_config)
    cfg = model.cfg
    h, w = cfg.input_size
    codec = inference.codec
    trt, engine_skipped = engine_builder(o.engine, o.trt_flavor, o.compute_capabilities)
    calib, parity_set = _data_sets(o, inference.preprocess)
    inputs = parity_set.inputs()
    _writable_folder(out)
    reference = _reference(model, inputs)

    staging = staging_folder(out)
    try:
        fp32, fp32_heatmaps, fp32_parity = _checked_fp32_graph(model, o, inputs, reference, codec)
        parity = {"fp32": fp32_parity}
        graph, calibration_meta = _precision_graph(fp32, o, calib, staging)
        gate = None
        if graph is not fp32:
            heatmaps = _run(ort_session(graph), inputs)
            parity[o.precision] = compare_heatmaps(reference, heatmaps, codec)
            aps = _parity_aps(parity_set, reference, heatmaps, inference)
            gate = parity_gate(o.precision, parity[o.precision], codec, aps, weights_name, o.gate)
        onnx.save(graph, staging / ONNX_FILE)
        fault_point("staged-onnx")
        opencv_meta = _opencv_graph(fp32, inputs, fp32_heatmaps, staging / OPENCV_FILE) if o.opencv else None
        engine_meta = None if trt is None else _engine(trt, graph, fp32, o, calib, (3, h, w), staging)

        files = [ONNX_FILE] + [f for f in _OPTIONAL_FILES if (staging / f).is_file()]
        spec = PackageSpec(
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
            codec=codec,
            keypoints=inference.keypoints,
            onnx={
                "opset": OPSET,
                "nodes": len(graph.graph.node),
                "op_counts": op_counts(graph),
                **file_record(staging / ONNX_FILE),
            },  # fmt: skip
            engine=engine_meta,
            opencv=opencv_meta,
            calibration=calibration_meta,
            parity={
                "reference": "pytorch-fp32",
                "images": len(inputs),
                "source": parity_set.source,
                "fp32_gate": FP32_GATE,
                "gate": gate,
                **{k: v.to_dict() for k, v in parity.items()},
            },
            tools=tool_versions(POSE_TOOLS, engine_meta is not None),
            created=utc_now(),
        )
        PackageSpec.from_dict(spec.to_dict(), out)  # what we write must read back as itself
        for leftover in set(p.name for p in staging.iterdir()) - set(files):  # e.g. the legacy path's fp32 graph
            (staging / leftover).unlink()
        spec.write(staging)
        fault_point("staged-json")
        replace_folder(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return ExportResult(out, spec, parity, engine_skipped, files + [PACKAGE_JSON])
