"""The one error hierarchy of swinpose.

It lives in ``runtime`` (the bottom of the import graph: ``runtime`` <- ``swinpose`` <- ``export``) so that every
layer can raise and catch the same types. Library code raises these; only the CLIs' ``main`` turns them into exit
codes. Every message names the problem and what to do next.
"""

from __future__ import annotations

__all__ = [
    "SwinPoseError",
    "ConfigError",
    "InputError",
    "InputShapeError",
    "DataError",
    "CheckpointError",
    "MissingDependencyError",
    "PackageError",
    "SaturatingInt8Error",
    "BackendError",
    "ExportError",
    "EngineBuildError",
]


class SwinPoseError(Exception):
    """Base class of every error swinpose raises on purpose."""


class ConfigError(SwinPoseError, ValueError):
    """A model/config name or setting is invalid."""


class InputError(SwinPoseError, ValueError):
    """User input (an image, a file path, an array) is missing or unusable."""


class InputShapeError(InputError):
    """A tensor or image does not have the shape the model was built for."""


class DataError(InputError):
    """A dataset file (annotation JSON, image, detection results) is missing, corrupt or malformed."""


class PackageError(InputError):
    """A model package folder or its ``model.json`` is missing, from a newer swinpose, or malformed."""


class SaturatingInt8Error(PackageError):
    """An int8 package's integer sums can saturate in this CPU's ONNX Runtime kernels (``runtime.int8_cpu``)."""


class BackendError(SwinPoseError):
    """An inference backend (ONNX Runtime, TensorRT, CUDA) is unavailable or failed; the message names the call."""


class CheckpointError(SwinPoseError):
    """A checkpoint file cannot be read or does not fit the model."""


class MissingDependencyError(SwinPoseError, ImportError):
    """An optional dependency is not installed; the message carries the install command."""

    def __init__(self, package: str, extra: str, purpose: str) -> None:
        super().__init__(
            f"{purpose} needs the '{package}' package, which is not installed. "
            f"Install it with: pip install 'swinpose[{extra}]'"
        )
        self.package = package
        self.extra = extra


class ExportError(SwinPoseError):
    """An export step failed or its result does not match PyTorch (parity gate, graph checks, quantization)."""


class EngineBuildError(ExportError):
    """TensorRT could not parse the ONNX or build an engine, or the platform cannot do the asked precision."""
