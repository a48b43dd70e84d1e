"""TensorRT backend: a serialized engine run with the name-based tensor API on one CUDA stream.

As NVIDIA's own samples do it: cuda-python for memory and the stream, every ``(err, ...)`` checked; buffers sized
from the optimisation profile's maximum (pinned host + device), kept for the backend's life and freed in
:meth:`TrtBackend.close`; per call ``set_input_shape`` → ``set_tensor_address`` → ``execute_async_v3``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from runtime.backends import cuda
from runtime.backends.base import Backend, TensorSpec
from runtime.backends.cuda import DeviceBuffer, PinnedBuffer, cuda_call
from runtime.errors import BackendError, InputShapeError, MissingDependencyError

__all__ = ["TrtBackend"]


def _import_tensorrt() -> Any:
    try:
        import tensorrt
    except (ImportError, OSError) as e:
        raise MissingDependencyError("tensorrt", "trt", f"the TensorRT backend (import failed: {e})") from e
    return tensorrt


class TrtBackend(Backend):
    """A TensorRT engine file on ``device`` (``"cuda:N"``)."""

    name = "tensorrt"

    def __init__(self, path: str | Path, device: str = "cuda:0", threads: int = 0) -> None:
        super().__init__()
        if not device.startswith("cuda"):
            raise BackendError(f"TensorRT runs on a GPU: pass device='cuda:N', not {device!r} (or use onnxruntime)")
        self.trt = _import_tensorrt()
        self.cudart = cuda.load_cudart()  # looked up at call time, so tests can stand a fake in
        self.stream = None
        self.engine = self.context = None
        self._device: dict[str, DeviceBuffer] = {}
        self._host: dict[str, PinnedBuffer] = {}
        self.profile: dict[str, tuple[tuple[int, ...], ...]] = {}
        try:
            self._open(Path(path), int(device.partition(":")[2] or 0))
        except BaseException:
            self.close()  # whatever was allocated before the failure
            raise

    def _open(self, path: Path, device_index: int) -> None:
        trt, cudart = self.trt, self.cudart
        cuda_call(cudart.cudaSetDevice(device_index), "cudaSetDevice", cudart)
        self._log = trt.Logger(trt.Logger.WARNING)
        self.engine = trt.Runtime(self._log).deserialize_cuda_engine(path.read_bytes())
        if self.engine is None:
            raise BackendError(
                f"TensorRT {getattr(trt, '__version__', '?')} cannot load {path}: it was built by another TensorRT "
                "version or for another GPU, or it is truncated; rebuild it here with swinpose-export --engine"
            )
        self.context = self.engine.create_execution_context()
        self.stream = cuda_call(cudart.cudaStreamCreate(), "cudaStreamCreate", cudart)
        for name in (self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)):
            dtype = np.dtype(trt.nptype(self.engine.get_tensor_dtype(name)))
            spec = TensorSpec(name, tuple(int(d) for d in self.engine.get_tensor_shape(name)), dtype.name)
            if self.engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT:
                lo, opt, hi = (tuple(int(d) for d in s) for s in self.engine.get_tensor_profile_shape(name, 0))
                self.profile[name] = (lo, opt, hi)
                self.context.set_input_shape(name, hi)
                self.inputs.append(spec)
            else:
                self.outputs.append(spec)
        for spec in (*self.inputs, *self.outputs):  # sized for the profile's maximum, allocated once
            shape = (
                self.profile[spec.name][2] if spec.name in self.profile else self.context.get_tensor_shape(spec.name)
            )
            nbytes = int(np.prod(tuple(shape))) * np.dtype(spec.dtype).itemsize
            self._device[spec.name] = DeviceBuffer(nbytes, cudart)
            self._host[spec.name] = PinnedBuffer(nbytes, cudart)
            self.context.set_tensor_address(spec.name, self._device[spec.name].ptr)

    def _infer(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        h2d = self.cudart.cudaMemcpyKind.cudaMemcpyHostToDevice
        d2h = self.cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost
        for spec in self.inputs:
            x = feeds[spec.name]
            lo, _, hi = self.profile[spec.name]
            if not all(a <= b <= c for a, b, c in zip(lo, x.shape, hi)):
                raise InputShapeError(f"'{spec.name}' shape {x.shape} is outside the engine's profile {lo}..{hi}")
            if not self.context.set_input_shape(spec.name, x.shape):
                raise BackendError(f"TensorRT refused the input shape {x.shape} for '{spec.name}'")
            host = self._host[spec.name].array(x.shape, x.dtype)
            host[...] = x
            cuda_call(
                self.cudart.cudaMemcpyAsync(self._device[spec.name].ptr, host.ctypes.data, x.nbytes, h2d, self.stream),
                "cudaMemcpyAsync",
                self.cudart,
            )
        if not self.context.execute_async_v3(self.stream):
            raise BackendError("TensorRT's execute_async_v3 failed; see the TensorRT log above")
        results = {}
        for spec in self.outputs:
            shape = tuple(int(d) for d in self.context.get_tensor_shape(spec.name))
            host = self._host[spec.name].array(shape, spec.dtype)
            cuda_call(
                self.cudart.cudaMemcpyAsync(
                    host.ctypes.data, self._device[spec.name].ptr, host.nbytes, d2h, self.stream
                ),
                "cudaMemcpyAsync",
                self.cudart,
            )
            results[spec.name] = host
        cuda_call(self.cudart.cudaStreamSynchronize(self.stream), "cudaStreamSynchronize", self.cudart)
        return {name: array.copy() for name, array in results.items()}  # the pinned views are reused next call

    def close(self) -> None:
        for buffer in (*self._device.values(), *self._host.values()):
            buffer.free()
        self._device, self._host = {}, {}
        if self.stream is not None:
            stream, self.stream = self.stream, None
            cuda_call(self.cudart.cudaStreamDestroy(stream), "cudaStreamDestroy", self.cudart)
        self.context = self.engine = None
        super().close()
