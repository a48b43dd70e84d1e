"""Inference backends behind one contract (:class:`runtime.backends.base.Backend`), chosen from one table.

``BACKENDS`` maps a backend name to the model file it runs (the package's ``files`` entry), where its class lives
and, for TensorRT, the flavours whose modules run its engines; the class is imported only when that backend is
opened, so ``import runtime`` never loads an inference library it does not use. Names, file suffixes, flavours and
the CLIs' ``--backend`` choices all come from this table.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from runtime.backends.base import Backend, TensorSpec
from runtime.errors import ConfigError

__all__ = [
    "BACKENDS",
    "BackendEntry",
    "Backend",
    "Flavor",
    "TENSORRT_FLAVORS",
    "TensorSpec",
    "backend_choices",
    "backend_entry",
    "backend_of_file",
    "open_backend",
]


@dataclass(frozen=True)
class Flavor:
    """A TensorRT flavour (``model.json``'s ``engine.flavor``): the Python module that builds and runs its engines,
    the package that provides the module and the swinpose extra that installs it. The runtime calls the TensorRT
    backend makes (``Logger``, ``Runtime.deserialize_cuda_engine``, the name-based tensor API, ``execute_async_v3``,
    ``nptype``) are the same in every flavour; only the module differs."""

    module: str
    package: str
    extra: str


#: TensorRT's flavours, in the order ``--trt-flavor auto`` tries them: standard TensorRT, then TensorRT for RTX
TENSORRT_FLAVORS = {
    "standard": Flavor("tensorrt", "tensorrt", "trt"),
    "rtx": Flavor("tensorrt_rtx_bindings", "tensorrt-rtx-cu12-bindings", "rtx"),
}


@dataclass(frozen=True)
class BackendEntry:
    """A backend: the package file key it runs, that file's suffix, ``module:Class`` of its implementation, whether
    it takes CPU ``threads`` (GPU-only backends have none to set) and the flavours whose modules run its files
    (empty where one library runs them all)."""

    file_key: str
    suffix: str
    target: str
    cpu_threads: bool
    flavors: Mapping[str, Flavor] = field(default_factory=dict)


BACKENDS = {
    "onnxruntime": BackendEntry("onnx", ".onnx", "runtime.backends.onnxruntime:OrtBackend", cpu_threads=True),
    "openvino": BackendEntry("onnx", ".onnx", "runtime.backends.openvino:OvBackend", cpu_threads=True),
    "tensorrt": BackendEntry(
        "engine", ".engine", "runtime.backends.tensorrt:TrtBackend", cpu_threads=False, flavors=TENSORRT_FLAVORS
    ),
}


def backend_entry(name: str) -> BackendEntry:
    """The table's entry of backend ``name``, or a :class:`ConfigError` that lists the known names."""
    if name not in BACKENDS:
        raise ConfigError(f"unknown backend {name!r}; this swinpose has {sorted(BACKENDS)}")
    return BACKENDS[name]


def backend_of_file(path: str | Path) -> str | None:
    """The backend that runs a model file of ``path``'s suffix, or None."""
    return next((n for n, e in BACKENDS.items() if e.suffix == Path(path).suffix), None)


def backend_choices() -> tuple[str, ...]:
    """What a CLI's ``--backend`` takes: ``auto`` (the file's own backend) and every backend in the table."""
    return ("auto", *BACKENDS)


def open_backend(
    name: str, path: str | Path, device: str = "cpu", threads: int = 0, flavor: str | None = None, **options
) -> Backend:
    """Open backend ``name`` on the model file ``path``. ``threads`` goes to backends that take CPU threads (0: the
    library's default) and ``flavor`` to those with flavours (the one that built the file); ``options`` are that
    backend's own keyword arguments (``io_binding`` for onnxruntime, ``hint``, ``precision`` and ``cache`` for
    openvino, ``cuda_graph`` for tensorrt)."""
    entry = backend_entry(name)
    if entry.cpu_threads:
        options["threads"] = threads
    if entry.flavors and flavor is not None:
        options["flavor"] = flavor
    module, _, cls_name = entry.target.partition(":")
    cls = getattr(importlib.import_module(module), cls_name)
    try:
        inspect.signature(cls).bind(path, device=device, **options)
    except TypeError as e:
        accepted = [p for p in inspect.signature(cls).parameters if p not in ("path", "device")]
        raise ConfigError(f"the {name} backend: {e}; its options are {accepted}") from e
    return cls(path, device=device, **options)
