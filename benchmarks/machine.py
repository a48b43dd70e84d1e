"""What a benchmark ran on: the machine (CPU, cores, memory, GPU and driver) and the library versions."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = ["describe_machine", "library_versions"]

_LIBRARIES = (
    "swinpose",
    "numpy",
    "opencv-python-headless",
    "onnxruntime",
    "onnxruntime-gpu",
    "torch",
    "onnx",
    "tensorrt",
    "cuda-python",
    "pycocotools",
)
_CPU_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_int8", "asimd", "sve")


def _cpuinfo() -> dict[str, str]:
    info: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            info.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    return info


def _memory_gb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def _gpu() -> dict[str, Any] | None:
    try:
        import torch
    except ImportError:
        torch = None
    if torch is None or not torch.cuda.is_available():
        return None
    gpu: dict[str, Any] = {
        "name": torch.cuda.get_device_name(0),
        "count": torch.cuda.device_count(),
        "cuda": torch.version.cuda,
    }
    try:
        query = ["nvidia-smi", "--query-gpu=driver_version,memory.total", "--format=csv,noheader"]
        line = subprocess.run(query, capture_output=True, text=True, timeout=10).stdout.split("\n")[0]
        driver, memory = line.split(",")
        gpu.update(driver=driver.strip(), memory=memory.strip())
    except (OSError, ValueError, subprocess.SubprocessError):
        gpu["driver"] = None
    return gpu


def describe_machine() -> dict[str, Any]:
    """CPU model, logical cores, the SIMD flags that matter for inference, memory, OS and GPU (None without one)."""
    info = _cpuinfo()
    flags = set(info.get("flags", info.get("Features", "")).split())
    return {
        "cpu": info.get("model name") or platform.processor() or platform.machine(),
        "logical_cores": os.cpu_count(),
        "cpu_flags": [f for f in _CPU_FLAGS if f in flags],
        "memory_gb": _memory_gb(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "gpu": _gpu(),
    }


def library_versions() -> dict[str, str]:
    """Installed versions of the libraries a benchmark's figures depend on (absent ones are left out)."""
    out = {}
    for name in _LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out
