"""A small CUDA helper on cuda-python (``cuda.bindings.runtime``), as NVIDIA's TensorRT samples use it.

Every ``(err, *values)`` result goes through :func:`cuda_call`, which raises :class:`BackendError` naming the call.
:class:`DeviceBuffer` owns one device allocation until :meth:`DeviceBuffer.free` (or the end of a ``with`` block), so
a pointer handed to TensorRT stays valid for as long as the buffer object is kept.
"""

from __future__ import annotations

import ctypes
from typing import Any

import numpy as np

from runtime.errors import BackendError, MissingDependencyError

__all__ = ["load_cudart", "cuda_call", "DeviceBuffer", "PinnedBuffer"]


def load_cudart() -> Any:
    """The ``cuda.bindings.runtime`` module (cuda-python ≥ 12; ``cuda.cudart`` is gone in 13)."""
    try:
        from cuda.bindings import runtime as cudart
    except ImportError as e:
        raise MissingDependencyError("cuda-python", "trt", "TensorRT device buffers") from e
    return cudart


def cuda_call(result: Any, what: str = "CUDA call", cudart: Any = None) -> Any:
    """Unpack a cuda-python ``(err, *values)`` result: raise on error, else return the value(s) (None if none)."""
    cudart = cudart or load_cudart()
    err, *values = result if isinstance(result, tuple) else (result,)
    if err != cudart.cudaError_t.cudaSuccess:
        name = cudart.cudaGetErrorName(err)[1]
        name = name.decode() if isinstance(name, bytes) else str(name)
        raise BackendError(f"{what} failed with {name}; check the GPU driver and that a CUDA device is visible")
    if not values:
        return None
    return values[0] if len(values) == 1 else tuple(values)


class DeviceBuffer:
    """``nbytes`` of device memory. ``ptr`` is the device address (an int) to hand to TensorRT."""

    def __init__(self, nbytes: int, cudart: Any = None) -> None:
        if nbytes <= 0:
            raise BackendError(f"a device buffer needs a positive size, got {nbytes} bytes")
        self._cudart = cudart or load_cudart()
        self.nbytes = int(nbytes)
        self.ptr: int | None = int(cuda_call(self._cudart.cudaMalloc(self.nbytes), "cudaMalloc", self._cudart))

    def copy_from(self, host: np.ndarray) -> None:
        """Copy a C-contiguous host array into the start of the buffer (synchronous)."""
        host = np.ascontiguousarray(host)
        if self.ptr is None:
            raise BackendError("copy into a freed device buffer; keep the buffer until TensorRT is done with it")
        if host.nbytes > self.nbytes:
            raise BackendError(f"{host.nbytes} bytes do not fit a {self.nbytes}-byte device buffer")
        kind = self._cudart.cudaMemcpyKind.cudaMemcpyHostToDevice
        cuda_call(self._cudart.cudaMemcpy(self.ptr, host.ctypes.data, host.nbytes, kind), "cudaMemcpy", self._cudart)

    def free(self) -> None:
        if self.ptr is not None:
            ptr, self.ptr = self.ptr, None
            cuda_call(self._cudart.cudaFree(ptr), "cudaFree", self._cudart)

    def __enter__(self) -> DeviceBuffer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.free()


class PinnedBuffer:
    """``nbytes`` of page-locked host memory (``cudaMallocHost``), for asynchronous copies; ``array(shape, dtype)``
    views its start as a numpy array."""

    def __init__(self, nbytes: int, cudart: Any = None) -> None:
        self._cudart = cudart or load_cudart()
        self.nbytes = int(nbytes)
        self.ptr: int | None = int(cuda_call(self._cudart.cudaMallocHost(self.nbytes), "cudaMallocHost", self._cudart))

    def array(self, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        count = int(np.prod(shape))
        if self.ptr is None or count * np.dtype(dtype).itemsize > self.nbytes:
            raise BackendError(f"a {shape} {np.dtype(dtype)} view does not fit this {self.nbytes}-byte host buffer")
        raw = (ctypes.c_byte * (count * np.dtype(dtype).itemsize)).from_address(self.ptr)
        return np.frombuffer(raw, dtype, count).reshape(shape)

    def free(self) -> None:
        if self.ptr is not None:
            ptr, self.ptr = self.ptr, None
            cuda_call(self._cudart.cudaFreeHost(ptr), "cudaFreeHost", self._cudart)
