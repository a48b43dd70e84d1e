"""Inference backends behind one contract (:class:`runtime.backends.base.Backend`), chosen from one table.

``BACKENDS`` maps a backend name to the model file it runs (the package's ``files`` entry), where its class lives
and, for TensorRT, the flavours whose modules run its engines; the class is imported only when that backend is
opened, so ``import runtime`` never loads an inference library it does not use. Names, file suffixes, flavours and
the CLIs' ``--backend`` choices all come from this table.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Iterable, Mapping
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
    "CPU_BACKEND_ENV",
    "default_cpu_backend",
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
    # onnxruntime first: it is the backend of an .onnx file (backend_of_file); default_cpu_backend picks between the two
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


#: pins :func:`default_cpu_backend`'s choice (``onnxruntime`` or ``openvino``), for deployments and tests that must
#: not depend on the CPU
CPU_BACKEND_ENV = "SWINPOSE_CPU_BACKEND"
_CPU_BACKENDS = ("onnxruntime", "openvino")


def default_cpu_backend(
    features: Iterable[str] | None = None, machine: str | None = None, installed: bool | None = None
) -> str:
    """The backend that runs an ONNX file on the CPU when none is named (``PoseEngine``'s ``backend="auto"``,
    ``swinpose-infer``, the Triton Python-backend network): the fastest correct runtime installed on this CPU.

    The rule, from the side-by-side runs in BENCHMARKS.md: **OpenVINO on x86 with AVX-512**, where it is installed
    (Swin-T 256×192, batch 1, 2 threads on an AVX-512 EPYC: OpenVINO's fp32 1.12-1.25× ONNX Runtime's fp32 in two
    runs, with the same heatmaps, its int8 1.29-1.35× ONNX Runtime's int8; fp16 packages run too); **ONNX Runtime**
    everywhere else. Neither speed is measured on AVX2-only x86 (qemu runs the kernels but times nothing) or on
    arm64, and OpenVINO's int8 kernels saturate on x86 without AVX2 and wrap on arm64 with dot products, where ONNX
    Runtime's are exact (:mod:`runtime.int8_cpu`), so the rule keeps the runtime that is tested there.
    ``$SWINPOSE_CPU_BACKEND`` overrides the rule. ``features`` (numpy's names, :func:`runtime.int8_cpu.cpu_features`),
    ``machine`` and ``installed`` (whether OpenVINO imports) default to this machine's."""
    import os
    import platform

    pinned = os.environ.get(CPU_BACKEND_ENV)
    if pinned:
        if pinned not in _CPU_BACKENDS:
            raise ConfigError(f"${CPU_BACKEND_ENV}={pinned!r} must be one of {_CPU_BACKENDS} (or unset)")
        return pinned
    if installed is None:
        import importlib.util

        installed = importlib.util.find_spec("openvino") is not None
    if features is None:
        from runtime.int8_cpu import cpu_features

        features = cpu_features()
    x86 = (machine or platform.machine()).lower() in ("x86_64", "amd64")
    return "openvino" if installed and x86 and "AVX512F" in set(features) else "onnxruntime"


def backend_choices() -> tuple[str, ...]:
    """What a CLI's ``--backend`` takes: ``auto`` (the file's own backend) and every backend in the table."""
    return ("auto", *BACKENDS)


def _options_of(name: str) -> list[str]:
    """The keyword options of backend ``name``'s class (importing its module, not its library)."""
    module, _, cls_name = backend_entry(name).target.partition(":")
    return list(inspect.signature(getattr(importlib.import_module(module), cls_name)).parameters)


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
        others = sorted({o for o in options if o not in accepted})
        owners = [n for n in BACKENDS if n != name and others and all(o in _options_of(n) for o in others)]
        verb = "is an option" if len(others) == 1 else "are options"
        fix = f"; {', '.join(others)} {verb} of the {' or '.join(owners)} backend: name it" if owners else ""
        raise ConfigError(f"the {name} backend: {e}; its options are {accepted}{fix}") from e
    return cls(path, device=device, **options)
