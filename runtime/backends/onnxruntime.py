"""ONNX Runtime backend: CPU, or CUDA with ``device="cuda:N"`` (never a silent fallback to the CPU).

IO binding (``io_binding=True``, the default on CUDA) keeps one input and one output ``OrtValue`` per batch size on
the session's device and binds them once: a call is then one host→device copy into the bound input, the run, and one
copy of the bound output back, with no per-call device allocation or binding. On the CPU it measured no faster than
``session.run`` (nano 128×96, b1 2.9 vs 3.1 ms, b8 33.3 vs 33.1 ms), so it is off there by default. The bound buffers
are shared state, so with IO binding one call runs at a time (:class:`~runtime.backends.base.Backend`); without it
calls run side by side.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from runtime.backends.base import Backend, TensorSpec
from runtime.errors import BackendError

__all__ = ["OrtBackend", "ort_session"]

_DTYPES = {"tensor(float)": "float32", "tensor(float16)": "float16", "tensor(int64)": "int64", "tensor(int32)": "int32"}


def ort_session(model: Any, device: str = "cpu", threads: int = 0, profile_prefix: str | None = None) -> Any:
    """The one way swinpose opens an ONNX Runtime session: on a ``.onnx`` path, serialized bytes or an
    ``onnx.ModelProto``; ``device`` ``"cpu"`` or ``"cuda:N"``; ``threads`` 0 = ONNX Runtime's default; quiet logs;
    ``profile_prefix`` turns ONNX Runtime's op profiler on (files start with it)."""
    try:
        import onnxruntime as ort
    except ImportError as e:
        raise BackendError("the ONNX Runtime backend needs onnxruntime: pip install onnxruntime") from e
    options = ort.SessionOptions()
    options.log_severity_level = 3
    if threads:
        options.intra_op_num_threads = threads
    if profile_prefix:
        options.enable_profiling = True
        options.profile_file_prefix = profile_prefix
    if device == "cpu":
        providers: list = ["CPUExecutionProvider"]
    elif device.startswith("cuda"):
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            raise BackendError(
                f"device {device!r} needs ONNX Runtime's CUDA provider, which this install lacks "
                f"(has {ort.get_available_providers()}); pip install onnxruntime-gpu, or use device='cpu'"
            )
        providers = [("CUDAExecutionProvider", {"device_id": int(device.partition(":")[2] or 0)})]
    else:
        raise BackendError(f"unknown device {device!r}; use 'cpu' or 'cuda:N'")
    source = model.SerializeToString() if hasattr(model, "SerializeToString") else model
    return ort.InferenceSession(source if isinstance(source, bytes) else str(source), options, providers=providers)


class OrtBackend(Backend):
    """An ONNX Runtime session on ``path`` (a ``.onnx`` file). ``threads`` 0 = ONNX Runtime's default;
    ``io_binding`` None = on for CUDA, off on the CPU."""

    name = "onnxruntime"

    def __init__(self, path: str | Path, device: str = "cpu", threads: int = 0, io_binding: bool | None = None) -> None:
        super().__init__(path, device)
        try:
            import onnxruntime as ort
        except ImportError as e:
            raise BackendError("the ONNX Runtime backend needs onnxruntime: pip install onnxruntime") from e
        self._ort = ort
        self._device = ("cpu", 0) if device == "cpu" else ("cuda", int(device.partition(":")[2] or 0))
        try:
            self.session = ort_session(path, device, threads)
        except BackendError:
            raise
        except Exception as e:  # ORT raises its own Fail/InvalidProtobuf/NoSuchFile types
            raise BackendError(
                f"ONNX Runtime cannot load {path} ({type(e).__name__}: {str(e)[:300]}); the file is truncated or not "
                "an ONNX model: re-export the package with swinpose-export"
            ) from e
        self.inputs = [self._spec(v) for v in self.session.get_inputs()]
        self.outputs = [self._spec(v) for v in self.session.get_outputs()]
        self.metadata = dict(self.session.get_modelmeta().custom_metadata_map)
        self.io_binding = device != "cpu" if io_binding is None else bool(io_binding)
        self.concurrent = not self.io_binding  # session.run is thread-safe; the bound buffers are one per shape
        self._bound: dict[tuple, tuple[Any, dict[str, Any], dict[str, Any]]] = {}  # input shapes → binding, values

    @staticmethod
    def _spec(value) -> TensorSpec:
        shape = tuple(d if isinstance(d, int) else -1 for d in value.shape)
        return TensorSpec(value.name, shape, _DTYPES.get(value.type, value.type))

    def _binding(self, feeds: dict[str, np.ndarray]) -> tuple[Any, dict[str, Any], dict[str, Any]]:
        """The binding for these input shapes: made on first use, with the outputs' shapes from one plain run."""
        key = tuple(feeds[s.name].shape for s in self.inputs)
        if key not in self._bound:
            kind, index = self._device
            make = self._ort.OrtValue.ortvalue_from_shape_and_type
            first = self.session.run([s.name for s in self.outputs], feeds)
            inputs = {s.name: make(feeds[s.name].shape, np.dtype(s.dtype), kind, index) for s in self.inputs}
            outputs = {s.name: make(y.shape, y.dtype, kind, index) for s, y in zip(self.outputs, first)}
            binding = self.session.io_binding()
            for name, value in inputs.items():
                binding.bind_ortvalue_input(name, value)
            for name, value in outputs.items():
                binding.bind_ortvalue_output(name, value)
            self._bound[key] = (binding, inputs, outputs)
        return self._bound[key]

    def _infer(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if not self.io_binding:
            outputs = self.session.run([s.name for s in self.outputs], feeds)
            return dict(zip((s.name for s in self.outputs), outputs))
        binding, inputs, outputs = self._binding(feeds)
        for name, value in inputs.items():
            value.update_inplace(feeds[name])
        self.session.run_with_iobinding(binding)
        # numpy() of a CPU value is a view of the bound buffer, which the next call overwrites
        return {name: np.array(value.numpy(), copy=True) for name, value in outputs.items()}

    def _free(self) -> None:
        self._bound = {}
        self.session = None
