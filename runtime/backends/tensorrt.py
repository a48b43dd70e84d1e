"""TensorRT backend: a serialized engine run with the name-based tensor API on one CUDA stream.

As NVIDIA's own samples do it: cuda-python for memory and the stream, every ``(err, ...)`` checked; buffers sized
from the optimisation profile's maximum (pinned host + device), kept for the backend's life and freed in
:meth:`TrtBackend.close`; per call ``set_input_shape`` → ``set_tensor_address`` → ``execute_async_v3``.

With ``cuda_graph=True`` each input shape's ``execute_async_v3`` is captured once into a CUDA graph, as TensorRT's
developer guide describes (one plain enqueue first, so that shape-dependent work is done before capture), and later
calls of that shape replay the graph with ``cudaGraphLaunch``: one launch instead of one per kernel. The copies stay
outside the graph; the addresses they and the engine use are fixed for the backend's life, which replay needs.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import numpy as np

from runtime.backends import TENSORRT_FLAVORS, cuda
from runtime.backends.base import Backend, TensorSpec
from runtime.backends.cuda import DeviceBuffer, PinnedBuffer, cuda_call
from runtime.errors import BackendError, InputShapeError, MissingDependencyError

__all__ = ["TrtBackend"]


def _import_tensorrt(flavor: str = "standard") -> Any:
    """The module that runs engines of ``flavor`` (:data:`runtime.backends.TENSORRT_FLAVORS`); an engine of the
    other flavour is refused by naming what runs it."""
    if flavor not in TENSORRT_FLAVORS:
        raise BackendError(
            f"model.json names the TensorRT flavour {flavor!r}, which this swinpose does not know "
            f"({', '.join(TENSORRT_FLAVORS)}); upgrade swinpose or re-export the engine"
        )
    module = TENSORRT_FLAVORS[flavor].module
    try:
        return importlib.import_module(module)
    except (ImportError, OSError) as e:
        other = next(f for f in TENSORRT_FLAVORS if f != flavor)
        built_by = "TensorRT-RTX" if flavor == "rtx" else "standard TensorRT"
        raise MissingDependencyError(
            TENSORRT_FLAVORS[flavor].package,
            TENSORRT_FLAVORS[flavor].extra,
            f"this engine, built by {built_by}, (import of {module} failed: {e}; or rebuild it "
            f"for this runtime with swinpose-export --engine --trt-flavor {other})",
        ) from e


class TrtBackend(Backend):
    """A TensorRT engine file on ``device`` (``"cuda:N"``), run by the module of its ``flavor`` (``"standard"``
    TensorRT or ``"rtx"``, TensorRT for RTX; :data:`runtime.backends.TENSORRT_FLAVORS`)."""

    name = "tensorrt"

    def __init__(
        self, path: str | Path, device: str = "cuda:0", cuda_graph: bool = False, flavor: str = "standard"
    ) -> None:
        super().__init__(path, device)
        if not device.startswith("cuda"):
            raise BackendError(f"TensorRT runs on a GPU: pass device='cuda:N', not {device!r} (or use onnxruntime)")
        self.trt = _import_tensorrt(flavor)
        self.flavor = flavor
        self.cudart = cuda.load_cudart()  # looked up at call time, so tests can stand a fake in
        self.stream = None
        self.engine = self.context = None
        self._device: dict[str, DeviceBuffer] = {}
        self._host: dict[str, PinnedBuffer] = {}
        self.cuda_graph = cuda_graph
        self._graphs: dict[tuple, tuple[Any, Any]] = {}  # input shapes → (cudaGraph_t, cudaGraphExec_t)
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
        self._execute(tuple(feeds[s.name].shape for s in self.inputs))
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

    def _enqueue(self) -> None:
        if not self.context.execute_async_v3(self.stream):
            raise BackendError("TensorRT's execute_async_v3 failed; see the TensorRT log above")

    def _execute(self, shapes: tuple) -> None:
        """Run the engine on the stream: a plain enqueue, or the CUDA graph captured for these input shapes."""
        cudart = self.cudart
        if not self.cuda_graph:
            self._enqueue()
        elif shapes in self._graphs:
            cuda_call(cudart.cudaGraphLaunch(self._graphs[shapes][1], self.stream), "cudaGraphLaunch", cudart)
        else:
            self._enqueue()  # this call's result; it also does the shape-dependent setup that capture must not see
            self._graphs[shapes] = self._capture()

    def _capture(self) -> tuple[Any, Any]:
        """(graph, executable graph) of one ``execute_async_v3`` on the stream."""
        cudart = self.cudart
        mode = cudart.cudaStreamCaptureMode.cudaStreamCaptureModeGlobal
        cuda_call(cudart.cudaStreamBeginCapture(self.stream, mode), "cudaStreamBeginCapture", cudart)
        try:
            captured = self.context.execute_async_v3(self.stream)
        finally:  # a capture left open would break every later call on this stream
            err, graph = cudart.cudaStreamEndCapture(self.stream)
        executable = None
        if captured and err == cudart.cudaError_t.cudaSuccess and int(graph):
            err, executable = cudart.cudaGraphInstantiate(graph, 0)
        if executable is None or err != cudart.cudaError_t.cudaSuccess:
            if int(graph):
                cuda_call(cudart.cudaGraphDestroy(graph), "cudaGraphDestroy", cudart)
            raise BackendError(
                "this engine cannot be captured in a CUDA graph (capture or instantiation failed); "
                "open the backend with cuda_graph=False"
            )
        return graph, executable

    def _free(self) -> None:
        for graph, executable in self._graphs.values():
            cuda_call(self.cudart.cudaGraphExecDestroy(executable), "cudaGraphExecDestroy", self.cudart)
            cuda_call(self.cudart.cudaGraphDestroy(graph), "cudaGraphDestroy", self.cudart)
        self._graphs = {}
        for buffer in (*self._device.values(), *self._host.values()):
            buffer.free()
        self._device, self._host = {}, {}
        if self.stream is not None:
            stream, self.stream = self.stream, None
            cuda_call(self.cudart.cudaStreamDestroy(stream), "cudaStreamDestroy", self.cudart)
        self.context = self.engine = None
