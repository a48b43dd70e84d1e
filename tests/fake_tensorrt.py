"""A recording fake of the part of the ``tensorrt`` Python API that :mod:`export.trt` uses, per API generation.

Built from NVIDIA's documented Python API (names, signatures, return conventions), not from our code:

* ``Builder(logger)``: ``create_network(flags)``, ``create_builder_config()``, ``create_optimization_profile()``,
  ``build_serialized_network(network, config)`` → host memory or **None** on failure (the reason goes to the
  logger), ``num_DLA_cores``.
* ``OnnxParser(network, logger)``: ``parse_from_file(path)`` → bool, ``num_errors``, ``get_error(i)``.
* ``IBuilderConfig``: ``set_memory_pool_limit``, ``add_optimization_profile``, ``set_flag``, ``int8_calibrator``,
  ``set_calibration_profile``, ``default_device_type``, ``DLA_core``, ``create_timing_cache(bytes)``,
  ``set_timing_cache(cache, ignore_mismatch)`` → bool, ``get_timing_cache()``, ``progress_monitor``.
* ``IInt8EntropyCalibrator2`` / ``IInt8MinMaxCalibrator`` subclasses: the builder calls
  ``read_calibration_cache()`` first; when that gives None it calls ``get_batch_size()`` and ``get_batch(names)``
  until None, reading ``batch×C×H×W`` float32 from each device pointer, then ``write_calibration_cache(cache)``.

Generations: ``8.6`` (weak typing only, EXPLICIT_BATCH required), ``10.3`` (JetPack 6: both), ``10.13`` (both;
weak typing deprecated since 10.12, which added E8M0), ``11.4`` (strong typing only: no FP16/INT8 flags, no
calibrators, no EXPLICIT_BATCH). Device memory is a :class:`FakeCudart` whose pointers die on ``cudaFree``; its
streams can be captured into CUDA graphs (``cudaStreamBeginCapture`` … ``cudaGraphLaunch``): work enqueued on a
capturing stream is recorded, not run, with the shapes and addresses it had then, and each launch replays it.
"""

from __future__ import annotations

import ctypes
import dataclasses
import enum
import json
import types
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx

GENERATIONS = {
    "8.6": dict(version="8.6.1", weak=True, strongly_typed=False, explicit_batch=True, e8m0=False, monitor=False),
    "10.3": dict(version="10.3.0", weak=True, strongly_typed=True, explicit_batch=True, e8m0=False, monitor=True),
    "10.13": dict(version="10.13.3", weak=True, strongly_typed=True, explicit_batch=True, e8m0=True, monitor=True),
    "11.4": dict(version="11.4.0", weak=False, strongly_typed=False, explicit_batch=False, e8m0=True, monitor=True),
}
ENGINE_MAGIC = b"FAKE-TRT-ENGINE\n"


class FakeCudart:
    """``cuda.bindings.runtime``'s malloc/free/memcpy over host bytearrays; freed pointers are dead."""

    class cudaError_t(enum.IntEnum):  # noqa: N801 (the real name)
        cudaSuccess = 0
        cudaErrorInvalidValue = 1
        cudaErrorStreamCaptureUnsupported = 900

    class cudaMemcpyKind(enum.IntEnum):  # noqa: N801
        cudaMemcpyHostToDevice = 1
        cudaMemcpyDeviceToHost = 2

    class cudaStreamCaptureMode(enum.IntEnum):  # noqa: N801
        cudaStreamCaptureModeGlobal = 0
        cudaStreamCaptureModeThreadLocal = 1
        cudaStreamCaptureModeRelaxed = 2

    def __init__(self) -> None:
        self.memory: dict[int, bytearray] = {}
        self.pinned: dict[int, Any] = {}
        self.streams: set[int] = set()
        self._next = 0x7F0000000000
        self.mallocs = 0
        self.capturing: dict[int, list] = {}  # stream → work recorded since cudaStreamBeginCapture
        self.graphs: dict[int, list] = {}
        self.graph_execs: dict[int, list] = {}
        self.launches = 0
        self._handles = 0x9000

    def enqueue(self, stream: int, work) -> None:
        """Run ``work`` now, or record it if ``stream`` is being captured."""
        if stream in self.capturing:
            self.capturing[stream].append(work)
        else:
            work()

    def _handle(self) -> int:
        self._handles += 1
        return self._handles

    def cudaStreamBeginCapture(self, stream, mode):  # noqa: N802
        if stream not in self.streams or stream in self.capturing:
            return (self.cudaError_t.cudaErrorInvalidValue,)
        self.capturing[stream] = []
        return (self.cudaError_t.cudaSuccess,)

    def cudaStreamEndCapture(self, stream):  # noqa: N802
        if stream not in self.capturing:
            return self.cudaError_t.cudaErrorInvalidValue, 0
        handle = self._handle()
        self.graphs[handle] = self.capturing.pop(stream)
        return self.cudaError_t.cudaSuccess, handle

    def cudaGraphInstantiate(self, graph, flags):  # noqa: N802
        if graph not in self.graphs:
            return self.cudaError_t.cudaErrorInvalidValue, 0
        handle = self._handle()
        self.graph_execs[handle] = list(self.graphs[graph])
        return self.cudaError_t.cudaSuccess, handle

    def cudaGraphLaunch(self, graph_exec, stream):  # noqa: N802
        if graph_exec not in self.graph_execs or stream not in self.streams or stream in self.capturing:
            return (self.cudaError_t.cudaErrorInvalidValue,)
        for work in self.graph_execs[graph_exec]:
            work()
        self.launches += 1
        return (self.cudaError_t.cudaSuccess,)

    def cudaGraphExecDestroy(self, graph_exec):  # noqa: N802
        ok = self.graph_execs.pop(graph_exec, None) is not None
        return (self.cudaError_t.cudaSuccess if ok else self.cudaError_t.cudaErrorInvalidValue,)

    def cudaGraphDestroy(self, graph):  # noqa: N802
        ok = self.graphs.pop(graph, None) is not None
        return (self.cudaError_t.cudaSuccess if ok else self.cudaError_t.cudaErrorInvalidValue,)

    def cudaMalloc(self, size: int):  # noqa: N802
        ptr, self._next = self._next, self._next + size + 256
        self.memory[ptr] = bytearray(size)
        self.mallocs += 1
        return self.cudaError_t.cudaSuccess, ptr

    def cudaFree(self, ptr: int):  # noqa: N802
        if self.memory.pop(ptr, None) is None:
            return (self.cudaError_t.cudaErrorInvalidValue,)
        return (self.cudaError_t.cudaSuccess,)

    def cudaMemcpy(self, dst: int, src: int, count: int, kind):  # noqa: N802
        if kind == self.cudaMemcpyKind.cudaMemcpyHostToDevice:
            if dst not in self.memory or count > len(self.memory[dst]):
                return (self.cudaError_t.cudaErrorInvalidValue,)
            self.memory[dst][:count] = ctypes.string_at(src, count)
        else:
            if src not in self.memory:
                return (self.cudaError_t.cudaErrorInvalidValue,)
            ctypes.memmove(dst, bytes(self.memory[src][:count]), count)
        return (self.cudaError_t.cudaSuccess,)

    def cudaMallocHost(self, size: int):  # noqa: N802
        buffer = ctypes.create_string_buffer(size)
        self.pinned[ctypes.addressof(buffer)] = buffer
        return self.cudaError_t.cudaSuccess, ctypes.addressof(buffer)

    def cudaFreeHost(self, ptr: int):  # noqa: N802
        ok = self.pinned.pop(ptr, None) is not None
        return (self.cudaError_t.cudaSuccess if ok else self.cudaError_t.cudaErrorInvalidValue,)

    def cudaMemcpyAsync(self, dst: int, src: int, count: int, kind, stream):  # noqa: N802
        if stream not in self.streams:
            return (self.cudaError_t.cudaErrorInvalidValue,)
        if stream in self.capturing:
            self.capturing[stream].append(lambda: self.cudaMemcpy(dst, src, count, kind))
            return (self.cudaError_t.cudaSuccess,)
        return self.cudaMemcpy(dst, src, count, kind)

    def cudaStreamCreate(self):  # noqa: N802
        handle = 0x5000 + len(self.streams) + self.mallocs
        self.streams.add(handle)
        return self.cudaError_t.cudaSuccess, handle

    def cudaStreamSynchronize(self, stream):  # noqa: N802
        if stream in self.capturing:  # as CUDA: synchronising a capturing stream is illegal
            return (self.cudaError_t.cudaErrorStreamCaptureUnsupported,)
        return (self.cudaError_t.cudaSuccess if stream in self.streams else self.cudaError_t.cudaErrorInvalidValue,)

    def cudaStreamDestroy(self, stream):  # noqa: N802
        ok = stream in self.streams and stream not in self.capturing
        self.streams.discard(stream)
        return (self.cudaError_t.cudaSuccess if ok else self.cudaError_t.cudaErrorInvalidValue,)

    def cudaSetDevice(self, index: int):  # noqa: N802
        return (self.cudaError_t.cudaSuccess if index == 0 else self.cudaError_t.cudaErrorInvalidValue,)

    def write(self, ptr: int, data: bytes) -> None:
        if ptr not in self.memory or len(data) > len(self.memory[ptr]):
            raise AssertionError(f"TensorRT wrote to a dead or too small device buffer {ptr:#x}")
        self.memory[ptr][: len(data)] = data

    def cudaGetErrorName(self, err):  # noqa: N802
        return self.cudaError_t.cudaSuccess, self.cudaError_t(err).name.encode()

    def read(self, ptr: int, count: int) -> bytes:
        """What TensorRT would read at ``ptr``: fails if the buffer is gone (a dangling calibrator pointer)."""
        if ptr not in self.memory:
            raise AssertionError(f"TensorRT read a dead device pointer {ptr:#x}")
        return bytes(self.memory[ptr][:count])


@dataclass
class Record:
    """Everything the fake saw, for the tests to assert on."""

    network_flags: list[int] = field(default_factory=list)
    parsed: list[str] = field(default_factory=list)
    builder_flags: set[str] = field(default_factory=set)
    workspace: int | None = None
    profiles: list[dict[str, tuple]] = field(default_factory=list)
    calibration_profile: dict[str, tuple] | None = None
    calibrator: str | None = None
    calibration_batches: list[np.ndarray] = field(default_factory=list)
    calibration_cache_read: bytes | None = None
    calibration_cache_written: bytes | None = None
    timing_cache_loaded: bytes | None = None
    device_type: str | None = None
    dla_core: int | None = None
    progress_phases: list[str] = field(default_factory=list)
    builds: int = 0
    executions: int = 0
    captures: int = 0


def make_fake_tensorrt(
    generation: str,
    cudart: FakeCudart | None = None,
    dla_cores: int = 0,
    parse_errors: tuple[str, ...] = (),
    build_error: str | None = None,
) -> types.ModuleType:
    """A module object standing in for ``import tensorrt``; ``trt.record`` holds what it saw."""
    g = GENERATIONS[generation]
    trt = types.ModuleType("tensorrt")
    trt.__version__ = g["version"]
    rec = trt.record = Record()

    class ILogger:
        class Severity(enum.IntEnum):
            INTERNAL_ERROR = 0
            ERROR = 1
            WARNING = 2
            INFO = 3
            VERBOSE = 4

        def __init__(self) -> None:
            pass

        def log(self, severity, msg: str) -> None:  # overridden by subclasses
            pass

    trt.ILogger = ILogger
    trt.BuilderFlag = enum.IntEnum(
        "BuilderFlag", ["GPU_FALLBACK", "REFIT", "DEBUG"] + (["FP16", "INT8"] if g["weak"] else []), start=0
    )
    creation = (["EXPLICIT_BATCH"] if g["explicit_batch"] else []) + (["STRONGLY_TYPED"] if g["strongly_typed"] else [])
    trt.NetworkDefinitionCreationFlag = enum.IntEnum(
        "NetworkDefinitionCreationFlag",
        {name: i for i, name in enumerate(["EXPLICIT_BATCH", "STRONGLY_TYPED"]) if name in creation},
    )
    trt.MemoryPoolType = enum.IntEnum("MemoryPoolType", ["WORKSPACE", "DLA_MANAGED_SRAM"], start=0)
    trt.DeviceType = enum.IntEnum("DeviceType", ["GPU", "DLA"], start=0)
    trt.DataType = enum.IntEnum(
        "DataType",
        ["FLOAT", "HALF", "INT8", "INT32", "BOOL", "UINT8", "FP8"] + (["E8M0"] if g["e8m0"] else []),
        start=0,
    )

    if g["weak"]:

        class IInt8EntropyCalibrator2:
            def __init__(self) -> None:
                pass

        class IInt8MinMaxCalibrator:
            def __init__(self) -> None:
                pass

        trt.IInt8EntropyCalibrator2 = IInt8EntropyCalibrator2
        trt.IInt8MinMaxCalibrator = IInt8MinMaxCalibrator
    if g["monitor"]:

        class IProgressMonitor:
            def __init__(self) -> None:
                pass

        trt.IProgressMonitor = IProgressMonitor

    class Tensor:
        def __init__(self, name: str, shape: tuple, dtype: int = 0) -> None:
            self.name, self.shape, self.dtype = name, shape, trt.DataType(dtype)

    class Network:
        def __init__(self, flags: int) -> None:
            self.flags = flags
            self.inputs: list[Tensor] = []
            self.outputs: dict[str, tuple] = {}
            self.typed = g["strongly_typed"] and bool(
                flags & (1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED))
            )
            self.typed = self.typed or not g["weak"]
            self.elem_types: set[int] = set()

        @property
        def num_inputs(self) -> int:
            return len(self.inputs)

        num_layers = 0  # the fake parses no layers; export.trt.layer_precisions then reports none

        @property
        def num_outputs(self) -> int:
            return len(self.outputs)

        def get_output(self, i: int) -> Tensor:
            name, shape = list(self.outputs.items())[i]
            return Tensor(name, shape)

        def get_input(self, i: int) -> Tensor:
            return self.inputs[i]

    class ParserError:
        def __init__(self, desc: str) -> None:
            self._desc = desc

        def desc(self) -> str:
            return self._desc

        def __str__(self) -> str:
            return f"In node -1 (parse): {self._desc}"

    class OnnxParser:
        def __init__(self, network: Network, logger: ILogger) -> None:
            self.network, self.logger, self.errors = network, logger, []

        @property
        def num_errors(self) -> int:
            return len(self.errors)

        def get_error(self, i: int) -> ParserError:
            return self.errors[i]

        def parse_from_file(self, path: str) -> bool:
            rec.parsed.append(path)
            if g["explicit_batch"] and g["version"].startswith("8.") and not self.network.flags & 1:
                self.errors.append(ParserError("network must have an explicit batch dimension"))
            self.errors += [ParserError(e) for e in parse_errors]
            try:
                model = onnx.load(path)
            except Exception as e:  # noqa: BLE001 (the real parser reports any failure as a parse error)
                self.errors.append(ParserError(f"failed to load {path}: {e}"))
            if self.errors:
                return False
            dims = lambda v: tuple(d.dim_value if d.dim_value else -1 for d in v.type.tensor_type.shape.dim)  # noqa: E731
            self.network.inputs += [Tensor(v.name, dims(v)) for v in model.graph.input]
            self.network.outputs = {v.name: dims(v) for v in model.graph.output}
            self.network.elem_types = {i.data_type for i in model.graph.initializer}
            self.network.ops = {n.op_type for n in model.graph.node}
            return True

    class Profile:
        def __init__(self) -> None:
            self.shapes: dict[str, tuple] = {}

        def set_shape(self, name: str, min, opt, max) -> None:  # noqa: A002 (the real signature)
            assert all(a <= b <= c for a, b, c in zip(min, opt, max)), (min, opt, max)
            self.shapes[name] = (tuple(min), tuple(opt), tuple(max))

        def get_shape(self, name: str) -> list[tuple]:
            return list(self.shapes[name])

    class TimingCache:
        def __init__(self, data: bytes) -> None:
            self.data = data

        def serialize(self) -> bytearray:
            return bytearray(b"TIMING" + bytes([len(self.data) % 251]) + self.data[:64])

    class Config:
        def __init__(self) -> None:
            self.profiles: list[Profile] = []
            self._calibrator = None
            self._calibration_profile = None
            self.timing = None
            self.progress_monitor = None
            self.default_device_type = trt.DeviceType.GPU
            self.DLA_core = -1

        def set_memory_pool_limit(self, pool, size: int) -> None:
            assert pool == trt.MemoryPoolType.WORKSPACE
            rec.workspace = size

        def add_optimization_profile(self, profile: Profile) -> int:
            self.profiles.append(profile)
            return len(self.profiles) - 1

        def set_flag(self, flag) -> None:
            rec.builder_flags.add(trt.BuilderFlag(flag).name)

        def create_timing_cache(self, data: bytes) -> TimingCache:
            rec.timing_cache_loaded = bytes(data)
            return TimingCache(bytes(data))

        def set_timing_cache(self, cache: TimingCache, ignore_mismatch: bool) -> bool:
            self.timing = cache
            return not cache.data.startswith(b"CORRUPT")

        def get_timing_cache(self) -> TimingCache:
            return self.timing

    if g["weak"]:

        def _get_cal(self):
            return self._calibrator

        def _set_cal(self, value) -> None:
            self._calibrator = value

        Config.int8_calibrator = property(_get_cal, _set_cal)

        def set_calibration_profile(self, profile: Profile) -> bool:
            self._calibration_profile = profile
            return True

        Config.set_calibration_profile = set_calibration_profile

    class Builder:
        def __init__(self, logger: ILogger) -> None:
            self.logger = logger
            self.num_DLA_cores = dla_cores

        def create_network(self, flags: int = 0) -> Network:
            rec.network_flags.append(flags)
            return Network(flags)

        def create_builder_config(self) -> Config:
            return Config()

        def create_optimization_profile(self) -> Profile:
            return Profile()

        def build_serialized_network(self, network: Network, config: Config):
            rec.builds += 1
            rec.profiles = [p.shapes for p in config.profiles]
            for t in network.inputs:
                assert config.profiles and t.name in config.profiles[0].shapes, f"no profile for input {t.name}"
                for shape in config.profiles[0].shapes[t.name]:
                    assert shape[1:] == t.shape[1:], (shape, t.shape)
            rec.device_type = trt.DeviceType(config.default_device_type).name
            rec.dla_core = config.DLA_core if rec.device_type == "DLA" else None
            monitor = config.progress_monitor
            if monitor is not None:
                monitor.phase_start("Building engine", None, 2)
                for step in range(2):
                    assert monitor.step_complete("Building engine", step) is True
                monitor.phase_finish("Building engine")
                rec.progress_phases.append("Building engine")
            if "INT8" in rec.builder_flags:
                self._calibrate(network, config)
            if build_error:
                self.logger.log(ILogger.Severity.ERROR, build_error)
                return None
            summary = {
                "typed": network.typed,
                "flags": sorted(rec.builder_flags),
                "profile": config.profiles[0].shapes,
                "onnx": rec.parsed[-1],
                "outputs": network.outputs,
                "version": trt.__version__,
            }
            return bytearray(ENGINE_MAGIC + json.dumps(summary, default=list).encode())

        def _calibrate(self, network: Network, config: Config) -> None:
            cal = config._calibrator
            assert cal is not None, "INT8 without a calibrator: TensorRT would fail the build"
            bases = (trt.IInt8EntropyCalibrator2, trt.IInt8MinMaxCalibrator)
            assert isinstance(cal, bases), "config.int8_calibrator must derive from a TensorRT calibrator class"
            rec.calibrator = next(b.__name__ for b in bases if isinstance(cal, b))
            rec.calibration_profile = config._calibration_profile.shapes
            cached = cal.read_calibration_cache()
            if cached:
                rec.calibration_cache_read = bytes(cached)
                return
            batch = cal.get_batch_size()
            name = network.inputs[0].name
            chw = network.inputs[0].shape[1:]
            assert rec.calibration_profile[name][1] == (batch, *chw), "calibration profile must match get_batch_size"
            while True:
                ptrs = cal.get_batch([name])
                if ptrs is None:
                    break
                raw = cudart.read(int(ptrs[0]), batch * int(np.prod(chw)) * 4)
                rec.calibration_batches.append(np.frombuffer(raw, np.float32).reshape(batch, *chw).copy())
            table = b"TRT-8601-EntropyCalibration2\n" + b"input: 3c010a14\n" * len(rec.calibration_batches)
            cal.write_calibration_cache(memoryview(table))
            rec.calibration_cache_written = table

    class Logger(ILogger):
        WARNING = ILogger.Severity.WARNING

        def __init__(self, min_severity=None) -> None:
            super().__init__()

    trt.Logger = Logger
    trt.TensorIOMode = enum.IntEnum("TensorIOMode", ["NONE", "INPUT", "OUTPUT"], start=0)
    _np = {"FLOAT": np.float32, "HALF": np.float16, "INT8": np.int8, "INT32": np.int32}
    trt.nptype = lambda dtype: _np[trt.DataType(dtype).name]

    class Context:
        """Runs the ONNX the engine was built from with ONNX Runtime, on the bytes at the tensors' addresses."""

        def __init__(self, engine) -> None:
            self.engine, self.shapes, self.addresses = engine, {}, {}

        def set_input_shape(self, name: str, shape) -> bool:
            lo, _, hi = self.engine.profile[name]
            if not all(a <= b <= c for a, b, c in zip(lo, shape, hi)):
                return False
            self.shapes[name] = tuple(shape)
            return True

        def get_tensor_shape(self, name: str) -> tuple:
            if name in self.engine.profile:
                return self.shapes[name]
            batch = self.shapes[self.engine.input_names[0]][0]
            return (batch, *self.engine.shapes[name][1:])

        def set_tensor_address(self, name: str, ptr: int) -> bool:
            self.addresses[name] = int(ptr)
            return True

        def execute_async_v3(self, stream) -> bool:
            assert stream in cudart.streams, "execute on a dead stream"
            shapes, addresses = dict(self.shapes), dict(self.addresses)  # what a captured graph bakes in
            if stream in cudart.capturing:
                rec.captures += 1
            cudart.enqueue(stream, lambda: self._run(shapes, addresses))
            return True

        def _run(self, shapes: dict, addresses: dict) -> None:
            feeds = {}
            for name in self.engine.input_names:
                raw = cudart.read(addresses[name], int(np.prod(shapes[name])) * 4)
                feeds[name] = np.frombuffer(raw, np.float32).reshape(shapes[name])
            for name, value in zip(self.engine.output_names, self.engine.session.run(None, feeds)):
                cudart.write(addresses[name], np.ascontiguousarray(value, np.float32).tobytes())
            rec.executions += 1

    class Engine:
        def __init__(self, summary: dict) -> None:
            import onnxruntime

            model = onnx.load(summary["onnx"], load_external_data=False)
            self.session = onnxruntime.InferenceSession(summary["onnx"], providers=["CPUExecutionProvider"])
            self.profile = {k: tuple(tuple(s) for s in v) for k, v in summary["profile"].items()}
            dims = lambda v: tuple(d.dim_value if d.dim_value else -1 for d in v.type.tensor_type.shape.dim)  # noqa: E731
            self.input_names = [v.name for v in model.graph.input]
            self.output_names = [v.name for v in model.graph.output]
            self.shapes = {v.name: dims(v) for v in [*model.graph.input, *model.graph.output]}

        @property
        def num_io_tensors(self) -> int:
            return len(self.shapes)

        def get_tensor_name(self, i: int) -> str:
            return [*self.input_names, *self.output_names][i]

        def get_tensor_mode(self, name: str):
            return trt.TensorIOMode.INPUT if name in self.input_names else trt.TensorIOMode.OUTPUT

        def get_tensor_dtype(self, name: str):
            return trt.DataType.FLOAT

        def get_tensor_shape(self, name: str) -> tuple:
            return self.shapes[name]

        def get_tensor_profile_shape(self, name: str, profile: int) -> tuple:
            return self.profile[name]

        def create_execution_context(self) -> Context:
            return Context(self)

    class Runtime:
        def __init__(self, logger) -> None:
            self.logger = logger

        def deserialize_cuda_engine(self, data: bytes):
            """None (and a logged error) for bytes that are not an engine of this TensorRT, as the real one does."""
            data = bytes(data)
            if not data.startswith(ENGINE_MAGIC):
                self.logger.log(ILogger.Severity.ERROR, "Serialization assertion failed: magic tag mismatch")
                return None
            summary = json.loads(data[len(ENGINE_MAGIC) :])
            if summary["version"] != trt.__version__:
                self.logger.log(ILogger.Severity.ERROR, f"engine plan from TensorRT {summary['version']}")
                return None
            return Engine(summary)

    trt.Runtime = Runtime
    trt.Builder = Builder
    trt.OnnxParser = OnnxParser
    return trt


def add_fake_engine(package, generation: str = "11.4", cudart: FakeCudart | None = None) -> None:
    """Build a fake ``generation`` engine from a package's model.onnx (its batch range as the profile) into
    ``model.engine`` and list it in the package's model.json."""
    from pathlib import Path

    from export.trt import EngineOptions, build_engine
    from runtime.package import read_package

    package = Path(package)
    spec = read_package(package)
    options = EngineOptions("fp32", spec.batch_range)
    builder = make_fake_tensorrt(generation, cudart or FakeCudart())
    build_engine(
        spec.onnx_path,
        spec.onnx_path,
        package / "model.engine",
        spec.input_name,
        (3, *spec.input_size),
        options,
        trt=builder,
    )
    spec.replace(files=dataclasses.replace(spec.files, engine="model.engine")).write()
