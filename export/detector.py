"""``export_detector``: a person detector file users hold → a detector package (``runtime.detection.package``).

The file is opened first as the runtime will open it (:class:`runtime.detection.Detector` on ONNX Runtime: its layout,
person class and input size, run once on a blank image), so a file the runtime cannot serve is refused before anything
is written. The package holds the file's own bytes as ``detector.onnx`` and, where TensorRT is here, a TensorRT engine
built from it, fp32 or fp16 (fp16 for layouts whose graph ends before NMS: an NMS inside the graph decides on scores,
and TensorRT does not build ONNX's NMS ops), and with ``opencv`` the graph rewritten for OpenCV DNN
(:func:`export.opencv_dnn.to_opencv_dnn`, batch 1) for the C++ runtime's CPU backend, checked on ONNX Runtime against
the file's own outputs first. Like the pose export, it is made in a staging folder and replaces
``out`` in one exchange.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from export.opencv_dnn import OPENCV_TOLERANCE, to_opencv_dnn
from export.precision import to_fp16
from export.provenance import tool_versions, utc_now
from export.trt import EngineOptions, build_engine, engine_builder
from runtime.backends import TENSORRT_FLAVORS
from runtime.detection import DETECTOR_JSON, Detector, DetectorSpec
from runtime.errors import EngineBuildError, ExportError, InputError
from runtime.files import check_replaceable_folder, fault_point, replace_folder, staging_folder
from runtime.package import file_record

__all__ = ["DetectorExportOptions", "DetectorExportResult", "export_detector", "DETECTOR_PRECISIONS"]

logger = logging.getLogger(__name__)

ONNX_FILE, ENGINE_FILE, OPENCV_FILE = "detector.onnx", "detector.engine", "detector.opencv.onnx"
_FP16_FILE = "detector.fp16.onnx"  # staged for the fp16 engine build only
DETECTOR_PRECISIONS = ("fp32", "fp16")
DETECTOR_TOOLS = ("swinpose", "onnx", "onnxruntime", "onnxconverter-common")
#: ONNX ops of an NMS inside a detector graph (and of the selection around it), named when TensorRT cannot build them
_NMS_OPS = ("NonMaxSuppression", "EfficientNMS_TRT", "BatchedNMSDynamic_TRT", "BatchedNMS_TRT", "NonZero")


@dataclass(frozen=True)
class DetectorExportOptions:
    """How to package a detector file.

    ``layout``, ``person_class``, ``input_size``: as :class:`runtime.detection.Detector` takes them (None: from the
    file). ``precision``: the engine's (fp32 or fp16; the ONNX is kept as given). ``engine``: True must build one,
    False must not, None builds one where TensorRT can; ``trt_flavor``, ``compute_capabilities``, ``workspace_gb`` as
    for the pose export."""

    layout: str | None = None
    person_class: int | None = None
    input_size: tuple[int, int] | None = None
    precision: str = "fp32"
    engine: bool | None = None
    trt_flavor: str = "auto"
    compute_capabilities: tuple[str, ...] = ()
    workspace_gb: float = 4.0
    opencv: bool = False
    progress: bool = True


@dataclass
class DetectorExportResult:
    """The written detector package, and why its engine was skipped (None: it was built, or not asked for)."""

    out: Path
    spec: DetectorSpec
    engine_skipped: str | None = None

    def summary(self) -> str:
        extra = [f for f in (self.spec.engine_file, self.spec.opencv_file) if f]
        files = [self.spec.onnx_file, *extra, DETECTOR_JSON]
        sizes = ", ".join(f"{f} {(self.out / f).stat().st_size / 1e6:.1f} MB" for f in files)
        engine = f"; engine skipped: {self.engine_skipped}" if self.engine_skipped else ""
        h, w = self.spec.input_size
        return (
            f"detector package {self.out}/: {sizes}{engine}. Layout {self.spec.layout}, person class "
            f"{self.spec.person_class}, input {h}x{w}"
        )


def _weights_onnx(source: Path, folder: Path) -> Path:
    """The ONNX of swinpose detector weights (``bundled`` or a ``swinpose-train-detector`` .safetensors), written
    into ``folder``; any other ``source`` as it is."""
    from swinpose.detection.onnx import detector_onnx
    from swinpose.detection.weights import load_detector, resolve_detector

    weights = resolve_detector(source)
    if weights.suffix.lower() != ".safetensors":
        return source
    model, cfg, _ = load_detector(weights)
    logger.info("detector weights %s: %s, exported to ONNX", source, cfg.name)
    return detector_onnx(model, cfg, folder / f"{cfg.name}.onnx")


def _check_options(o: DetectorExportOptions, source: Path) -> None:
    if o.precision not in DETECTOR_PRECISIONS:
        raise InputError(f"a detector package's engine is fp32 or fp16, not {o.precision}; drop --int8")
    if o.trt_flavor not in ("auto", *TENSORRT_FLAVORS):
        raise InputError(f"--trt-flavor must be auto or one of {TENSORRT_FLAVORS}, got {o.trt_flavor!r}")
    from swinpose.detection.weights import BUNDLED_DETECTOR, resolve_detector

    if resolve_detector(source) == BUNDLED_DETECTOR:
        return
    if source.is_dir():
        raise InputError(f"{source} is a folder; --detector takes the detector's .onnx file")
    if not source.is_file():
        raise InputError(f"no detector file at {source}; pass the detector's .onnx file, or 'bundled'")
    if source.suffix.lower() not in (".onnx", ".safetensors"):
        raise InputError(
            f"{source.name}: --detector takes an ONNX file (.onnx), swinpose detector weights "
            "(.safetensors) or 'bundled'; an engine is built from it here"
        )


def _nms_nodes(graph: onnx.ModelProto) -> list[str]:
    """The graph's NMS nodes, the NMS ops first (in :data:`_NMS_OPS` order), as ``'name' (op)``."""
    nodes = sorted((n for n in graph.graph.node if n.op_type in _NMS_OPS), key=lambda n: _NMS_OPS.index(n.op_type))
    return [f"'{n.name}' ({n.op_type})" for n in nodes]


def _build(trt: Any, graph: onnx.ModelProto, detector: Detector, o: DetectorExportOptions, staging: Path):
    """The engine, built from the staged graph (fp16: from its fp16 conversion) into ``staging``."""
    source = staging / ONNX_FILE
    if o.precision == "fp16":
        onnx.save(to_fp16(graph, check=onnx.checker.check_model), staging / _FP16_FILE)
        source = staging / _FP16_FILE
    h, w = detector.input_size
    options = EngineOptions(
        o.precision, (1, 1, 1), o.workspace_gb, compute_capabilities=o.compute_capabilities, progress=o.progress
    )
    try:
        meta = build_engine(source, source, staging / ENGINE_FILE, detector.input_name, (3, h, w), options, trt=trt)
    except EngineBuildError as e:
        nms = _nms_nodes(graph)
        if not nms:
            raise
        raise EngineBuildError(
            f"{str(e).rstrip('.')}. The detector's graph holds its NMS ({', '.join(nms[:3])}): export it without "
            "NMS and let swinpose run NMS (Ultralytics: nms=False, the default, layout ultralytics; YOLOv7/v6/v9: "
            "without --end2end; YOLOX: its own export_onnx.py, layout yolox), or keep this file on ONNX Runtime: "
            "--onnx-only"
        ) from e
    finally:
        (staging / _FP16_FILE).unlink(missing_ok=True)
    return {"precision": o.precision, **meta}


def export_detector(
    source: str | Path, out: str | Path, options: DetectorExportOptions = DetectorExportOptions()
) -> DetectorExportResult:
    """Package the detector file ``source`` (ONNX, any layout of :data:`runtime.detection.LAYOUTS`; or swinpose
    detector weights, ``"bundled"`` for the shipped ones, exported to ONNX first) into ``out``."""
    o, source, out = options, Path(source), Path(out)
    _check_options(o, source)
    check_replaceable_folder(
        out,
        lambda name: name in (ONNX_FILE, ENGINE_FILE, OPENCV_FILE, DETECTOR_JSON) or name.startswith(".staging-"),
        "--out",
        "a detector package",
    )
    with tempfile.TemporaryDirectory(prefix="swinpose-detector-") as tmp:
        return _export(_weights_onnx(source, Path(tmp)), source.name, out, o)


def _export(source: Path, source_name: str, out: Path, o: DetectorExportOptions) -> DetectorExportResult:
    try:
        graph = onnx.load(str(source))
    except Exception as e:  # onnx raises DecodeError, ValueError, OSError ...
        raise InputError(f"{source} is not an ONNX model ({str(e)[:200]}); pass the detector's .onnx file") from e
    trt, engine_skipped = engine_builder(o.engine, o.trt_flavor, o.compute_capabilities)
    with Detector(
        source, layout=o.layout, person_class=o.person_class, input_size=o.input_size, backend="onnxruntime"
    ) as detector:
        found = detector(np.full((*detector.input_size, 3), 114, np.uint8))  # it runs and decodes, or it says why
        logger.info(
            "detector %s: layout %s, person class %d, input %s, %d people on a blank image",
            source.name,
            detector.layout.name,
            detector.person_class,
            detector.input_size,
            len(found),
        )
        if o.precision == "fp16" and detector.layout.nms_in_graph:
            raise InputError(
                f"the {detector.layout.name} layout has its NMS in the graph, which decides on the "
                "scores: its engine stays fp32 (drop --fp16), or export the detector without NMS"
            )
        staging = staging_folder(out)
        try:
            shutil.copyfile(source, staging / ONNX_FILE)  # the user's bytes, as given
            fault_point("staged-detector-onnx")
            engine = None if trt is None else _build(trt, graph, detector, o, staging)
            opencv = _opencv_graph(graph, detector, staging / OPENCV_FILE) if o.opencv else None
            spec = DetectorSpec(
                folder=out,
                layout=detector.layout.name,
                person_class=detector.person_class,
                input_name=detector.input_name,
                input_dtype=str(detector.input_dtype),
                input_size=detector.input_size,
                onnx_file=ONNX_FILE,
                onnx={
                    "source": source_name,
                    "opset": _opset(graph),
                    "nodes": len(graph.graph.node),
                    **file_record(staging / ONNX_FILE),
                },
                engine_file=ENGINE_FILE if engine is not None else None,
                engine=engine,
                opencv_file=OPENCV_FILE if opencv is not None else None,
                opencv=opencv,
                class_names=detector.class_names,
                tools=tool_versions(DETECTOR_TOOLS, engine is not None),
                created=utc_now(),
            )
            DetectorSpec.from_dict(spec.to_dict(), out)  # what we write must read back as itself
            spec.write(staging)
            fault_point("staged-detector-json")
            replace_folder(staging, out)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return DetectorExportResult(out, spec, engine_skipped)


def _opencv_graph(graph: onnx.ModelProto, detector: Detector, path: Path) -> dict[str, Any]:
    """Write the OpenCV DNN rewrite of the detector ``graph`` (batch 1) to ``path`` after checking that ONNX Runtime
    gives the file's own outputs with it, on a letterboxed noise image, within :data:`OPENCV_TOLERANCE` of each
    output's largest value (box coordinates reach the input size); returns what detector.json records of it."""
    import onnxruntime as ort

    if detector.input_dtype != np.float32:
        raise InputError(f"--opencv rewrites float32 detector graphs; this one takes {detector.input_dtype}")
    rewritten = to_opencv_dnn(graph, batch=1)
    image = np.random.default_rng(0).integers(0, 256, (*detector.input_size, 3), np.uint8)
    feeds = {detector.input_name: detector.preprocess(image)[0]}
    want = ort.InferenceSession(graph.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)
    got = ort.InferenceSession(rewritten.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)
    worst = max(float(np.abs(a - b).max() / max(1.0, np.abs(a).max())) for a, b in zip(want, got))
    if worst > OPENCV_TOLERANCE:
        raise ExportError(
            f"the OpenCV DNN graph of the detector differs from detector.onnx by {worst:.3g} of its outputs' range "
            f"(> {OPENCV_TOLERANCE}) in ONNX Runtime; export without --opencv and report it with the detector file"
        )
    onnx.save(rewritten, path)
    return {"batch": 1, "nodes": len(rewritten.graph.node), "max_abs_vs_onnx": worst, **file_record(path)}


def _opset(graph: onnx.ModelProto) -> int | None:
    return next((o.version for o in graph.opset_import if o.domain in ("", "ai.onnx")), None)
