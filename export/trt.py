"""ONNX → TensorRT engine, for both generations of TensorRT's precision API, chosen by feature detection.

* **typed** (strongly typed networks; the only kind in TensorRT 11, recommended from 10.12): the fp16 or int8 (Q/DQ)
  ONNX is parsed and every tensor keeps the type the graph gives it. No precision flags, no calibrator.
* **legacy** (weak typing; JetPack's TensorRT 8.6 and 10.3): the fp32 ONNX is parsed and ``BuilderFlag.FP16`` /
  ``BuilderFlag.INT8`` let TensorRT pick kernels; int8 ranges come from TensorRT's calibrator for the same
  ``--calib-method`` (``IInt8MinMaxCalibrator`` or ``IInt8EntropyCalibrator2``) fed with the same calibration crops,
  through a device buffer (cuda-python) that lives until the build is done.

Two flavours of TensorRT build engines: standard TensorRT (module ``tensorrt``: datacenter GPUs and Jetson) and
**TensorRT for RTX** (module ``tensorrt_rtx_bindings``, PyPI ``tensorrt-rtx-cu12-*``: GeForce/RTX PRO GPUs). RTX is
strongly typed only, so it always builds the typed graph, and it builds ahead of time for the compute
capabilities it is given (``ComputeCapability.SM86`` …), with no GPU needed on the build machine. ``auto`` takes
standard TensorRT where it imports and TensorRT-RTX where only that does.

Which API exists is asked of the module (``getattr``/``hasattr``), never read from its version string. Asking for
what the platform lacks raises :class:`EngineBuildError`; nothing is silently built in another precision.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from export.calibration import CalibrationSet
from runtime.backends import TENSORRT_FLAVORS
from runtime.backends.cuda import DeviceBuffer
from runtime.errors import EngineBuildError, MissingDependencyError
from runtime.files import atomic_path
from runtime.package import file_record

__all__ = [
    "TRT_MODES",
    "TrtFeatures",
    "EngineOptions",
    "import_tensorrt",
    "build_engine",
    "engine_builder",
    "layer_precisions",
]

logger = logging.getLogger(__name__)

TRT_MODES = ("auto", "typed", "legacy")
#: --calib-method → TensorRT's legacy calibrator class (TensorRT has no percentile calibrator)
LEGACY_CALIBRATORS = {"minmax": "IInt8MinMaxCalibrator", "entropy": "IInt8EntropyCalibrator2"}


def import_tensorrt(flavor: str = "auto") -> ModuleType:
    """The TensorRT module of ``flavor`` (``"auto"``: standard TensorRT, else TensorRT-RTX), or
    :class:`MissingDependencyError` (the bindings also fail to import without their libraries)."""
    if flavor != "auto" and flavor not in TENSORRT_FLAVORS:
        raise EngineBuildError(f"unknown TensorRT flavour {flavor!r}; choose from auto, {', '.join(TENSORRT_FLAVORS)}")
    names = list(TENSORRT_FLAVORS) if flavor == "auto" else [flavor]
    failures = []
    for name in names:
        try:
            return importlib.import_module(TENSORRT_FLAVORS[name].module)
        except (ImportError, OSError) as e:
            failures.append(f"{TENSORRT_FLAVORS[name].module}: {e}")
    install = TENSORRT_FLAVORS["rtx" if names == ["rtx"] else "standard"]
    raise MissingDependencyError(
        install.package,
        install.extra,
        "building a TensorRT engine (TensorRT comes with JetPack or NVIDIA's wheels, TensorRT-RTX with "
        f"tensorrt-rtx-cu12-libs and -bindings; import failed: {'; '.join(failures)})",
    )


@dataclass(frozen=True)
class TrtFeatures:
    """What the installed TensorRT offers, found by looking for the API names themselves."""

    version: str
    weak_typing: bool  # BuilderFlag.FP16/INT8 and the IInt8*Calibrator classes: gone in TensorRT 11
    strongly_typed_flag: bool  # NetworkDefinitionCreationFlag.STRONGLY_TYPED (9.x–10.x)
    explicit_batch_flag: bool  # NetworkDefinitionCreationFlag.EXPLICIT_BATCH: required in 8.x, a no-op later
    weak_typing_deprecated: bool  # MXFP8's E8M0 scale type arrived in 10.12, the release that deprecated weak typing
    progress_monitor: bool  # IProgressMonitor (10.0+)
    compute_capabilities: tuple[str, ...] = ()  # TensorRT-RTX's ComputeCapability.SM* (ahead-of-time targets)

    @property
    def flavor(self) -> str:
        """``"rtx"`` where the builder takes compute capabilities to build for (TensorRT-RTX), else ``"standard"``."""
        return "rtx" if self.compute_capabilities else "standard"

    @classmethod
    def detect(cls, trt: ModuleType) -> TrtFeatures:
        flags = trt.BuilderFlag
        creation = trt.NetworkDefinitionCreationFlag
        weak = all(getattr(flags, f, None) is not None for f in ("FP16", "INT8")) and any(
            hasattr(trt, c) for c in LEGACY_CALIBRATORS.values()
        )
        return cls(
            version=str(getattr(trt, "__version__", "unknown")),
            weak_typing=weak,
            strongly_typed_flag=getattr(creation, "STRONGLY_TYPED", None) is not None,
            explicit_batch_flag=getattr(creation, "EXPLICIT_BATCH", None) is not None,
            weak_typing_deprecated=getattr(trt.DataType, "E8M0", None) is not None,
            progress_monitor=hasattr(trt, "IProgressMonitor"),
            compute_capabilities=tuple(
                sorted(
                    (n for n in dir(getattr(trt, "ComputeCapability", ())) if n[2:].isdigit() and n[:2] == "SM"),
                    key=lambda n: int(n[2:]),
                )
            ),
        )

    def compute_capability_names(self, requested: tuple[str, ...]) -> list[str]:
        """``ComputeCapability`` names for ``requested`` (``"sm86"``, ``"SM89"``, ``"8.6"``); [] for standard
        TensorRT, which builds for the GPU it runs on."""
        if self.flavor != "rtx":
            if requested:
                raise EngineBuildError(
                    f"--compute-capability is for TensorRT-RTX; TensorRT {self.version} builds for the GPU it runs on"
                )
            return []
        names = []
        for cc in requested:
            name = "SM" + str(cc).upper().removeprefix("SM").replace(".", "")
            if name not in self.compute_capabilities:
                raise EngineBuildError(
                    f"TensorRT-RTX {self.version} cannot build for {cc!r}; it builds for "
                    f"{', '.join(c.lower() for c in self.compute_capabilities)}"
                )
            names.append(name)
        return names

    @property
    def strong_typing(self) -> bool:
        """Strongly typed networks: by flag, or always (TensorRT 11 has no other kind)."""
        return self.strongly_typed_flag or not self.weak_typing

    def choose_mode(self, precision: str, requested: str = "auto") -> str:
        """``"typed"`` or ``"legacy"`` for ``precision``; :class:`EngineBuildError` if ``requested`` is impossible."""
        if requested not in TRT_MODES:
            raise EngineBuildError(f"unknown TensorRT mode {requested!r}; choose from {TRT_MODES}")
        if requested == "auto":
            typed = self.strong_typing and (not self.weak_typing or self.weak_typing_deprecated)
            requested = "typed" if typed else "legacy"
        if requested == "typed" and not self.strong_typing:
            raise EngineBuildError(
                f"TensorRT {self.version} has no strongly typed networks (NetworkDefinitionCreationFlag."
                "STRONGLY_TYPED); use --trt-mode legacy, or TensorRT >= 9"
            )
        if requested == "legacy" and precision != "fp32" and not self.weak_typing:
            raise EngineBuildError(
                f"TensorRT {self.version} has no BuilderFlag.{precision.upper()} nor int8 calibrators (weak typing was "
                "removed in TensorRT 11); use --trt-mode typed, which builds the package's typed ONNX"
            )
        return requested


@dataclass(frozen=True)
class EngineOptions:
    """How to build: precision, (min, opt, max) batch of the optimisation profile, workspace limit in GiB,
    DLA core (None = GPU only), timing cache file, the precision API (``auto``/``typed``/``legacy``), the legacy
    int8 calibrator's method, and for TensorRT-RTX the compute capabilities to build for (``("sm86", "sm89")``;
    empty: the GPU of this machine); ``progress``: a bar per build phase where TensorRT reports them."""

    precision: str = "fp32"
    batch: tuple[int, int, int] = (1, 8, 32)
    workspace_gb: float = 4.0
    dla_core: int | None = None
    timing_cache: Path | None = None
    mode: str = "auto"
    calib_method: str = "minmax"
    compute_capabilities: tuple[str, ...] = ()
    progress: bool = True


def engine_builder(
    engine: bool | None, flavor: str = "auto", compute_capabilities: Sequence[str] = ()
) -> tuple[Any, str | None]:
    """The TensorRT module to build the engine with, or None and why the engine is skipped. ``engine``: True must
    build one (``--engine``), False must not (``--onnx-only``), None builds one where TensorRT can."""
    if engine is False:
        return None, "--onnx-only"
    try:
        trt = import_tensorrt(flavor)
    except MissingDependencyError as e:
        if engine:
            raise
        return None, f"TensorRT is not installed here ({e.package}); build the engine where it is, with --engine"
    if TrtFeatures.detect(trt).flavor == "rtx" and not compute_capabilities and not engine:
        return None, (
            "TensorRT-RTX builds ahead of time for the GPUs it is given: add --engine --compute-capability "
            "sm86,sm89 (or --engine alone on a machine with an RTX GPU)"
        )
    return trt, None


def _make_logger(trt: ModuleType) -> Any:
    class _Log(trt.ILogger):
        """Keeps every warning and error, so that a failed parse or build can say why."""

        def __init__(self) -> None:
            trt.ILogger.__init__(self)
            self.messages: list[str] = []

        def log(self, severity: Any, msg: str) -> None:
            sev = trt.ILogger.Severity
            if severity in (sev.INTERNAL_ERROR, sev.ERROR, sev.WARNING):
                self.messages.append(f"{getattr(severity, 'name', severity)}: {msg}")
                logger.debug("TensorRT %s", self.messages[-1])

    return _Log()


def _make_calibrator(
    trt: ModuleType, method: str, calib: CalibrationSet, batch: int, cache: Path, input_name: str
) -> Any:
    """TensorRT's calibrator for ``method``, feeding ``calib`` in batches of ``batch`` through one device buffer."""
    name = LEGACY_CALIBRATORS.get(method)
    base = getattr(trt, name, None) if name else None
    if base is None:
        have = [m for m, c in LEGACY_CALIBRATORS.items() if hasattr(trt, c)]
        raise EngineBuildError(
            f"TensorRT {getattr(trt, '__version__', '?')} has no legacy calibrator for --calib-method {method} "
            f"(it has: {have}); pass one of those, or --trt-mode typed, which uses the package's own int8 ranges"
        )

    class _Calibrator(base):
        def __init__(self) -> None:
            base.__init__(self)
            h, w = calib.crops.shape[1:3]
            # one buffer for the whole calibration: the pointer TensorRT reads stays valid until close()
            self.buffer = DeviceBuffer(batch * 3 * h * w * np.dtype(np.float32).itemsize)
            self.batches = calib.batches(batch, drop_last=True, progress="TensorRT int8 calibration")
            self.host: np.ndarray | None = None

        def get_batch_size(self) -> int:
            return batch

        def get_batch(self, names: list[str]) -> list[int] | None:
            if list(names) != [input_name]:
                raise EngineBuildError(f"the calibrator feeds '{input_name}', TensorRT asked for {names}")
            self.host = next(self.batches, None)
            if self.host is None:
                return None
            self.buffer.copy_from(self.host)
            return [self.buffer.ptr]

        def read_calibration_cache(self) -> bytes | None:
            return cache.read_bytes() if cache.is_file() else None

        def write_calibration_cache(self, data: Any) -> None:
            with atomic_path(cache) as tmp:
                tmp.write_bytes(bytes(memoryview(data)))

        def close(self) -> None:
            self.buffer.free()

    return _Calibrator()


def _calibrator_kind(calibrator: Any) -> str:
    """The TensorRT class a calibrator of :func:`_make_calibrator` derives from."""
    return type(calibrator).__mro__[1].__name__


def _progress_monitor(trt: ModuleType) -> Any:
    from tqdm import tqdm

    class _Monitor(trt.IProgressMonitor):
        """One tqdm bar per top-level build phase."""

        def __init__(self) -> None:
            trt.IProgressMonitor.__init__(self)
            self.bars: dict[str, Any] = {}

        def phase_start(self, phase_name: str, parent_phase: str | None, num_steps: int) -> None:
            if parent_phase is None:
                self.bars[phase_name] = tqdm(total=num_steps, desc=f"TensorRT {phase_name}", leave=False)

        def step_complete(self, phase_name: str, step: int) -> bool:
            bar = self.bars.get(phase_name)
            if bar is not None:
                bar.update(step + 1 - bar.n)
            return True  # False would cancel the build

        def phase_finish(self, phase_name: str) -> None:
            bar = self.bars.pop(phase_name, None)
            if bar is not None:
                bar.close()

    return _Monitor()


def _network_flags(trt: ModuleType, features: TrtFeatures, mode: str) -> int:
    """The network creation flags: explicit batch where TensorRT has the flag, strongly typed for a typed build."""
    flags = 0
    if features.explicit_batch_flag:
        flags |= 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    if mode == "typed" and features.strongly_typed_flag:
        flags |= 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    return flags


def _parse_network(
    trt: ModuleType, builder: Any, log: Any, flags: int, source: Path, input_name: str, version: str
) -> tuple[Any, dict[str, Any]]:
    """The network TensorRT's ONNX parser makes of ``source``, and its inputs' and outputs' dtypes and shapes; the
    graph must have exactly the one input ``input_name``."""
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, log)
    if not parser.parse_from_file(str(source)):
        errors = [_parser_error(parser.get_error(i)) for i in range(parser.num_errors)]
        raise EngineBuildError(f"TensorRT {version} cannot parse {source.name}: " + "; ".join(errors[:5]))
    io = {
        t.name: {"dtype": _dtype_name(t.dtype), "shape": [int(d) for d in t.shape]}
        for t in [network.get_input(i) for i in range(network.num_inputs)]
        + [network.get_output(i) for i in range(network.num_outputs)]
    }
    names = [network.get_input(i).name for i in range(network.num_inputs)]
    if names != [input_name]:
        raise EngineBuildError(f"{source.name} has inputs {names}; the package expects exactly ['{input_name}']")
    return network, io


def _set_dla(trt: ModuleType, builder: Any, config: Any, options: EngineOptions) -> None:
    """Put the engine on ``options.dla_core`` with GPU fallback, where the platform has that core."""
    available = int(getattr(builder, "num_DLA_cores", 0))
    if not 0 <= options.dla_core < available:
        raise EngineBuildError(
            f"--dla-core {options.dla_core} asked, but this platform has {available} DLA core(s); "
            "drop --dla-core (DLA exists on Jetson AGX/NX boards only)"
        )
    if options.precision == "fp32":
        raise EngineBuildError("DLA runs fp16 or int8 only; add --fp16 or --int8 to use --dla-core")
    config.default_device_type = trt.DeviceType.DLA
    config.DLA_core = options.dla_core
    config.set_flag(trt.BuilderFlag.GPU_FALLBACK)


def _builder_config(
    trt: ModuleType,
    builder: Any,
    features: TrtFeatures,
    mode: str,
    options: EngineOptions,
    targets: list[str],
    input_name: str,
    input_chw: tuple[int, int, int],
) -> tuple[Any, Any, Any]:
    """The builder config (RTX targets, workspace, the batch profile, legacy precision flags, DLA, timing cache,
    progress), its optimisation profile and its timing cache (None without ``options.timing_cache``)."""
    lo, opt, hi = options.batch
    config = builder.create_builder_config()
    if features.flavor == "rtx":  # ahead of time, for the listed GPUs (CURRENT: the one in this machine)
        chosen = targets or ["CURRENT"]
        config.num_compute_capabilities = len(chosen)
        for i, name in enumerate(chosen):
            config.set_compute_capability(getattr(trt.ComputeCapability, name), i)
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(options.workspace_gb * (1 << 30)))
    profile = builder.create_optimization_profile()
    profile.set_shape(input_name, (lo, *input_chw), (opt, *input_chw), (hi, *input_chw))
    config.add_optimization_profile(profile)
    if mode == "legacy" and options.precision in ("fp16", "int8"):
        config.set_flag(getattr(trt.BuilderFlag, options.precision.upper()))
    if options.dla_core is not None:
        _set_dla(trt, builder, config, options)
    timing = None
    if options.timing_cache is not None:
        data = options.timing_cache.read_bytes() if options.timing_cache.is_file() else b""
        timing = config.create_timing_cache(data)
        if not config.set_timing_cache(timing, False):
            raise EngineBuildError(
                f"TensorRT rejected the timing cache {options.timing_cache} (another TensorRT version or GPU); "
                "delete it to start a new one"
            )
    if features.progress_monitor and options.progress:
        config.progress_monitor = _progress_monitor(trt)
    return config, profile, timing


def _legacy_calibrator(
    trt: ModuleType,
    builder: Any,
    config: Any,
    options: EngineOptions,
    calibration: CalibrationSet | None,
    calib_cache: Path | None,
    input_name: str,
    input_chw: tuple[int, int, int],
) -> Any:
    """TensorRT's legacy int8 calibrator on ``calibration`` (or on the table ``calib_cache`` holds), set on
    ``config`` with its own fixed-batch profile."""
    if calib_cache is None:
        raise EngineBuildError("a legacy int8 build needs a calibration cache path to write")
    if calibration is None or len(calibration) == 0:
        if not calib_cache.is_file():
            raise EngineBuildError(
                "a legacy int8 build needs calibration images (--calib-data) or a calibration cache (--calib-cache)"
            )
        calibration = CalibrationSet(np.zeros((0, *input_chw[1:], 3), np.uint8), str(calib_cache), None)
    cb = max(1, min(options.batch[1], len(calibration)))  # each get_batch hands TensorRT exactly cb crops
    calibrator = _make_calibrator(trt, options.calib_method, calibration, cb, calib_cache, input_name)
    calib_profile = builder.create_optimization_profile()
    calib_profile.set_shape(input_name, (cb, *input_chw), (cb, *input_chw), (cb, *input_chw))
    config.int8_calibrator = calibrator
    config.set_calibration_profile(calib_profile)
    return calibrator


def build_engine(
    typed_onnx: Path,
    fp32_onnx: Path,
    engine_path: Path,
    input_name: str,
    input_chw: tuple[int, int, int],
    options: EngineOptions,
    calibration: CalibrationSet | None = None,
    calib_cache: Path | None = None,
    trt: ModuleType | None = None,
) -> dict[str, Any]:
    """Build and write ``engine_path`` (raw serialized bytes, as trtexec writes them); return what model.json keeps.

    ``typed_onnx`` is the package's graph in ``options.precision`` (built as typed); ``fp32_onnx`` is what the legacy
    path parses with precision flags. ``calibration`` and ``calib_cache`` feed the legacy int8 calibrator.
    """
    trt = trt or import_tensorrt()
    features = TrtFeatures.detect(trt)
    mode = features.choose_mode(options.precision, options.mode)
    targets = features.compute_capability_names(tuple(options.compute_capabilities))
    if features.flavor == "rtx" and options.dla_core is not None:
        raise EngineBuildError("TensorRT-RTX builds for RTX GPUs, which have no DLA; drop --dla-core")
    log = _make_logger(trt)
    builder = trt.Builder(log)
    if builder is None:
        raise EngineBuildError("trt.Builder failed (no CUDA device?): " + "; ".join(log.messages[-5:]))
    source = typed_onnx if mode == "typed" else fp32_onnx
    flags = _network_flags(trt, features, mode)
    network, io = _parse_network(trt, builder, log, flags, source, input_name, features.version)
    config, profile, timing = _builder_config(trt, builder, features, mode, options, targets, input_name, input_chw)
    calibrator = None
    if mode == "legacy" and options.precision == "int8":
        calibrator = _legacy_calibrator(trt, builder, config, options, calibration, calib_cache, input_name, input_chw)

    lo, opt, hi = options.batch
    logger.info(
        "building a %s TensorRT %s engine (%s), batch %d:%d:%d", options.precision, features.version, mode, lo, opt, hi
    )
    try:
        serialized = builder.build_serialized_network(network, config)
    finally:
        if calibrator is not None:
            calibrator.close()
    if serialized is None:
        hint = ""
        if features.flavor == "rtx" and not targets:
            some = ",".join(c.lower() for c in features.compute_capabilities)
            hint = f" (TensorRT-RTX builds for this machine's GPU unless told: pass --compute-capability from {some})"
        raise EngineBuildError(
            f"TensorRT {features.version} could not build the {options.precision} engine: "
            + ("; ".join(log.messages[-5:]) or "no message; rerun with --verbose")
            + hint
        )
    with atomic_path(engine_path) as tmp:
        tmp.write_bytes(bytes(memoryview(serialized)))
    if timing is not None:
        with atomic_path(options.timing_cache) as tmp:
            tmp.write_bytes(bytes(memoryview(config.get_timing_cache().serialize())))
    return {
        "tensorrt_version": features.version,
        "flavor": features.flavor,
        "compute_capabilities": [c.lower() for c in targets] if features.flavor == "rtx" else None,
        "mode": mode,
        "source_onnx": source.name,
        "workspace_gb": options.workspace_gb,
        "dla_core": options.dla_core,
        "calibrator": None if calibrator is None else _calibrator_kind(calibrator),
        **file_record(engine_path),
        "io": io,
        "profile": dict(zip(("min", "opt", "max"), ([int(d) for d in s] for s in profile.get_shape(input_name)))),
        "layers": layer_precisions(network),
    }


#: TensorRT DataType names → the numpy names model.json uses
_DTYPES = {"FLOAT": "float32", "HALF": "float16", "INT8": "int8", "INT32": "int32", "INT64": "int64", "BOOL": "bool"}


def _dtype_name(dtype: Any) -> str:
    name = str(getattr(dtype, "name", dtype)).rsplit(".", 1)[-1]
    return _DTYPES.get(name, name.lower())


def _parser_error(error: Any) -> str:
    """One parser error with its node where the API names it (``IParserError.node_name``, TensorRT 10+)."""
    text = str(error.desc()) if hasattr(error, "desc") else str(error)
    node = error.node_name() if hasattr(error, "node_name") else ""
    op = error.node_operator() if hasattr(error, "node_operator") else ""
    return f"node '{node}' ({op}): {text}" if node else text


def layer_precisions(network: Any) -> dict[str, Any]:
    """What the parsed network computes in which type, from its layers' output types (a strongly typed network's
    types are the graph's; no GPU is needed): layer count per output type, and the GEMM-like layers
    (matrix multiply, convolution) counted as ``int8`` where both operands come out of a ``DEQUANTIZE`` (TensorRT
    fuses the pair into an int8 kernel), else by their output type (``float16``, ``float32``)."""
    per_type: dict[str, int] = {}
    produced_by: dict[str, Any] = {}
    layers = [network.get_layer(i) for i in range(network.num_layers)]
    for layer in layers:
        for j in range(layer.num_outputs):
            out = layer.get_output(j)
            produced_by[out.name] = layer
            per_type[_dtype_name(out.dtype)] = per_type.get(_dtype_name(out.dtype), 0) + 1

    def kind(layer: Any) -> str:
        return str(layer.type).rsplit(".", 1)[-1]

    def dequantized(name: str) -> bool:
        """Whether ``name`` comes out of a DEQUANTIZE, through layout-only SHUFFLEs (the parser reshapes weights)."""
        layer = produced_by.get(name)
        while layer is not None and kind(layer) == "SHUFFLE" and layer.num_inputs:
            layer = produced_by.get(layer.get_input(0).name)
        return layer is not None and kind(layer) == "DEQUANTIZE"

    gemm: dict[str, int] = {}
    for layer in layers:
        if kind(layer) in ("MATRIX_MULTIPLY", "CONVOLUTION"):
            inputs = [layer.get_input(j) for j in range(min(layer.num_inputs, 2))]
            both = len(inputs) == 2 and all(t is not None and dequantized(t.name) for t in inputs)
            key = "int8" if both else _dtype_name(layer.get_output(0).dtype)
            gemm[key] = gemm.get(key, 0) + 1
    return {"outputs_by_type": dict(sorted(per_type.items())), "gemm_layers": dict(sorted(gemm.items()))}
