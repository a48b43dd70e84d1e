"""Inference backends behind one contract (:class:`runtime.backends.base.Backend`), chosen from one table.

``BACKENDS`` maps a backend name to the model file it runs (the package's ``files`` entry) and where its class
lives; the class is imported only when that backend is opened, so ``import runtime`` never loads an inference
library it does not use.
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass
from pathlib import Path

from runtime.backends.base import Backend, TensorSpec
from runtime.errors import ConfigError

__all__ = ["BACKENDS", "BackendEntry", "Backend", "TensorSpec", "open_backend"]


@dataclass(frozen=True)
class BackendEntry:
    """A backend: the package file key it runs, that file's suffix, ``module:Class`` of its implementation, and
    whether it takes CPU ``threads`` (GPU-only backends have none to set)."""

    file_key: str
    suffix: str
    target: str
    cpu_threads: bool


BACKENDS = {
    "onnxruntime": BackendEntry("onnx", ".onnx", "runtime.backends.onnxruntime:OrtBackend", cpu_threads=True),
    "tensorrt": BackendEntry("engine", ".engine", "runtime.backends.tensorrt:TrtBackend", cpu_threads=False),
}


def open_backend(name: str, path: str | Path, device: str = "cpu", **options) -> Backend:
    """Open backend ``name`` on the model file ``path``; ``options`` are that backend's keyword arguments
    (``threads`` and ``io_binding`` for onnxruntime, ``cuda_graph`` for tensorrt)."""
    if name not in BACKENDS:
        raise ConfigError(f"unknown backend {name!r}; this swinpose has {sorted(BACKENDS)}")
    module, _, cls_name = BACKENDS[name].target.partition(":")
    cls = getattr(importlib.import_module(module), cls_name)
    try:
        inspect.signature(cls).bind(path, device=device, **options)
    except TypeError as e:
        accepted = [p for p in inspect.signature(cls).parameters if p not in ("path", "device")]
        raise ConfigError(f"the {name} backend: {e}; its options are {accepted}") from e
    return cls(path, device=device, **options)
