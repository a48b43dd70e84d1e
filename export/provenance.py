"""What an export records of how it was made: the tools' versions and the time."""

from __future__ import annotations

import time
from collections.abc import Sequence
from importlib import metadata

__all__ = ["POSE_TOOLS", "tool_versions", "utc_now"]

#: the libraries a pose package's export runs
POSE_TOOLS = ("swinpose", "torch", "onnx", "onnxruntime", "onnxslim", "onnxconverter-common")


def tool_versions(names: Sequence[str], engine: bool = False) -> dict[str, str]:
    """``{name: version}`` of the installed ``names`` (and TensorRT's, with ``engine``); absent ones are left out."""
    out = {}
    for name in [*names, *(["tensorrt"] if engine else [])]:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def utc_now() -> str:
    """The time now as the packages record it: ``YYYY-MM-DDTHH:MM:SSZ``."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
