"""OpenVINO backend: a package's ``model.onnx`` (fp32 or int8 Q/DQ) compiled by OpenVINO's CPU plugin.

Options (each checked when the backend opens, like the other backends'):

* ``threads``: ``INFERENCE_NUM_THREADS`` (0: OpenVINO's default, every core);
* ``hint``: ``PERFORMANCE_HINT``, ``"latency"`` (one stream: the fastest single call) or ``"throughput"`` (several
  streams: calls from several threads run side by side);
* ``precision``: ``INFERENCE_PRECISION_HINT``, ``"f32"`` (the default, always set: OpenVINO would otherwise pick
  bf16 by itself on CPUs with AMX, and f16 on arm64 CPUs with fp16 arithmetic, such as Neoverse-N1) or ``"bf16"``.
  bf16 needs a CPU with ``avx512_bf16`` or ``amx_bf16``; on any other CPU OpenVINO quietly runs f32 instead, so
  this backend refuses to open (:class:`UnsupportedPrecisionError`) rather than hand back f32 under a bf16 name. On
  an int8 graph the hint sets the precision of what is not quantized;
* ``cache``: keep the compiled model in OpenVINO's model cache (``CACHE_DIR``), so that the next backend on the
  same file and options (in this process or another) loads it instead of compiling. The cache lives in
  ``$SWINPOSE_CACHE_DIR/openvino``, else ``$XDG_CACHE_HOME/swinpose/openvino``, else
  ``~/.cache/swinpose/openvino``. OpenVINO 2026.4 keys each entry by the model (one per batch size, see
  ``static``); the precision hint, threads and the performance hint apply when an entry loads, so a bf16 open of a
  model compiled for f32 loads the same entry and runs bf16. A damaged entry is compiled again. ``compile_s`` says
  what opening took (2 cores: Swin-T 256×192 0.7-0.9 s the first time, 0.35-0.45 s from the cache, of which
  reading its 114 MB ``model.onnx`` is 0.18 s; the bundled model 0.3 s and 0.15 s);
* ``static``: one compiled model per batch size, with that size fixed (see :class:`OvBackend`).

**Threads may share it**: each call takes an idle infer request from a pool (creating one when every request is
busy), so calls share no buffers and run side by side (``concurrent``), as ONNX Runtime's ``session.run`` does.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from runtime.backends.base import Backend, TensorSpec
from runtime.errors import BackendError, ConfigError, MissingDependencyError

__all__ = [
    "OvBackend",
    "PERFORMANCE_HINTS",
    "PRECISION_HINTS",
    "BF16_CPU_FLAGS",
    "UnsupportedPrecisionError",
    "bf16_problem",
    "cache_dir",
    "openvino_core",
]

#: ``hint`` → OpenVINO's ``PERFORMANCE_HINT``
PERFORMANCE_HINTS = {"latency": "LATENCY", "throughput": "THROUGHPUT"}
#: ``precision`` → OpenVINO's ``INFERENCE_PRECISION_HINT``
PRECISION_HINTS = {"f32": "f32", "bf16": "bf16"}
#: Linux's names (``/proc/cpuinfo``) of the CPU features with which OpenVINO's CPU plugin runs bf16
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")
CACHE_ENV = "SWINPOSE_CACHE_DIR"


class UnsupportedPrecisionError(BackendError, ConfigError):
    """This CPU (as OpenVINO sees it) has no native path for the asked inference precision."""


def openvino_core() -> Any:
    """OpenVINO's ``Core``, or a :class:`MissingDependencyError` with the install command."""
    try:
        import openvino
    except ImportError as e:
        raise MissingDependencyError("openvino", "openvino", "the OpenVINO backend") from e
    return openvino.Core()


def cache_dir() -> Path:
    """Where compiled models are kept (see the module docstring)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]) / "openvino"
    base = Path(os.environ["XDG_CACHE_HOME"]) if os.environ.get("XDG_CACHE_HOME") else Path.home() / ".cache"
    return base / "swinpose" / "openvino"


def bf16_problem(capabilities: list[str] | tuple[str, ...]) -> str | None:
    """Why bf16 cannot run on a CPU whose OpenVINO ``OPTIMIZATION_CAPABILITIES`` are ``capabilities``, or None."""
    if "BF16" in capabilities:
        return None
    return (
        f"bf16 inference needs a CPU with {' or '.join(BF16_CPU_FLAGS)} (Intel Cooper Lake, Sapphire Rapids or "
        f"later; AMD Zen 4 or later), and this one has neither (OpenVINO lists {sorted(capabilities)}); OpenVINO would "
        "quietly run f32 instead. Use precision 'f32', or an int8 package for speed"
    )


class OvBackend(Backend):
    """OpenVINO's CPU plugin on ``path`` (a ``.onnx`` file); see the module docstring for the options.

    ``static`` (the default): one compiled model per input shape seen, each with that shape fixed (a dynamic batch
    axis made static), which ran Swin-T 256×192 at batch 1 10-15 % faster than one model for every batch; each new
    batch size costs a compile (Swin-T batch 8: 0.64 s, 0.29 s from the model cache) on its first call. Opening
    compiles the batch-1 model (``compiled``), which also checks the file and the precision. ``static=False``: one
    model with the file's dynamic axes."""

    name = "openvino"
    concurrent = True

    def __init__(
        self,
        path: str | Path,
        device: str = "cpu",
        threads: int = 0,
        hint: str = "latency",
        precision: str = "f32",
        cache: bool = True,
        static: bool = True,
    ) -> None:
        super().__init__(path, device)
        if device != "cpu":
            raise BackendError(
                f"the openvino backend runs on the CPU, not {device!r}: use device='cpu', or the onnxruntime or "
                "tensorrt backend on a CUDA GPU"
            )
        if hint not in PERFORMANCE_HINTS:
            raise ConfigError(f"openvino hint {hint!r} is not one of {sorted(PERFORMANCE_HINTS)}")
        if precision not in PRECISION_HINTS:
            raise ConfigError(
                f"openvino precision {precision!r} is not one of {sorted(PRECISION_HINTS)} (fp16 and int8 are "
                "package precisions: export them with swinpose-export)"
            )
        if not isinstance(threads, int) or isinstance(threads, bool) or threads < 0:
            raise ConfigError(f"threads must be an integer ≥ 0 (0: OpenVINO's default), got {threads!r}")
        core = openvino_core()
        if precision == "bf16":
            problem = bf16_problem(core.get_property("CPU", "OPTIMIZATION_CAPABILITIES"))
            if problem:
                raise UnsupportedPrecisionError(problem)
        config: dict[str, Any] = {
            "PERFORMANCE_HINT": PERFORMANCE_HINTS[hint],
            "INFERENCE_PRECISION_HINT": PRECISION_HINTS[precision],
        }
        if threads:
            config["INFERENCE_NUM_THREADS"] = threads
        if cache:
            folder = cache_dir()
            folder.mkdir(parents=True, exist_ok=True)
            config["CACHE_DIR"] = str(folder)
        self.hint, self.precision, self.cache, self.static = hint, precision, cache, static
        self._core, self._config = core, config
        start = time.perf_counter()
        try:
            self._model = core.read_model(str(self.path))
        except Exception as e:  # OpenVINO raises RuntimeError for unreadable or unsupported models
            raise self._unreadable(e) from e
        self.inputs = [self._spec(p) for p in self._model.inputs]
        self.outputs = [self._spec(p) for p in self._model.outputs]
        self._compiled: dict[tuple, Any] = {}  # input shapes (() for the dynamic model) → compiled model
        self._idle: dict[tuple, list[Any]] = {}  # the same keys → idle infer requests
        self._pool_lock, self._compile_lock = threading.Lock(), threading.Lock()
        self.compiled = self._compiled_for(tuple(tuple(1 if d == -1 else d for d in s.shape) for s in self.inputs))
        self.compile_s = time.perf_counter() - start
        #: the precision OpenVINO compiled for, as it names it (``f32``; ``bf16``): always the one asked for, since the
        #: hint is always set (OpenVINO's own default is f16 on arm64 CPUs with fp16 arithmetic, bf16 on AMX ones)
        hinted = self.compiled.get_property("INFERENCE_PRECISION_HINT")  # an openvino.Type
        self.inference_precision = ran = hinted.get_type_name() if hasattr(hinted, "get_type_name") else str(hinted)
        if precision == "bf16" and ran != "bf16":
            raise UnsupportedPrecisionError(f"OpenVINO compiled {path} for {ran}, not bf16: {bf16_problem([])}")

    def _unreadable(self, e: Exception) -> BackendError:
        why = " ".join(str(e).split())[:300]  # its messages span lines
        return BackendError(
            f"OpenVINO cannot compile {self.path} ({type(e).__name__}: {why}); the file is truncated or not an ONNX "
            "model: re-export the package with swinpose-export"
        )

    @staticmethod
    def _spec(port: Any) -> TensorSpec:
        shape = tuple(d.get_length() if d.is_static else -1 for d in port.get_partial_shape())
        return TensorSpec(port.get_any_name(), shape, np.dtype(port.get_element_type().to_dtype()).name)

    def _key(self, shapes: tuple[tuple[int, ...], ...]) -> tuple:
        """The compiled model's key for these input shapes: the shapes where ``static`` fixes a dynamic axis, else
        ``()`` (the file's own model)."""
        return shapes if self.static and any(-1 in s.shape for s in self.inputs) else ()

    def _compiled_for(self, shapes: tuple[tuple[int, ...], ...]) -> Any:
        """The compiled model for these input shapes, compiled on first use (:meth:`_key`)."""
        key = self._key(shapes)
        compiled = self._compiled.get(key)
        if compiled is not None:
            return compiled
        with self._compile_lock:
            if key not in self._compiled:
                model = self._model
                if key:
                    model = model.clone()
                    model.reshape({s.name: list(shape) for s, shape in zip(self.inputs, key)})
                try:
                    self._compiled[key] = self._core.compile_model(model, "CPU", self._config)
                except Exception as e:  # noqa: BLE001 (OpenVINO's errors are RuntimeErrors with its message)
                    raise self._unreadable(e) from e
            return self._compiled[key]

    def _infer(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        shapes = tuple(feeds[s.name].shape for s in self.inputs)
        compiled, key = self._compiled_for(shapes), self._key(shapes)
        with self._pool_lock:
            if self._closed:
                raise BackendError("the openvino backend was closed by another thread; create a new engine")
            idle = self._idle.setdefault(key, [])
            request = idle.pop() if idle else compiled.create_infer_request()
        try:
            request.infer(feeds)
            # the request's output tensors are its own buffers, which its next call overwrites
            return {s.name: np.array(request.get_tensor(s.name).data, copy=True) for s in self.outputs}
        finally:
            with self._pool_lock:
                self._idle.setdefault(key, []).append(request)

    def _free(self) -> None:
        with self._pool_lock:
            self._idle, self._compiled = {}, {}
            self.compiled = None
