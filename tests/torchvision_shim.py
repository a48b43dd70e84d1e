"""Test-only: torchvision importable beside the CPU torch here (../shared/ENVIRONMENT.md).

The torchvision wheels on these machines are CUDA builds, whose compiled ops do not exist next to the CPU torch, and
``import torchvision`` then fails with "operator torchvision::nms does not exist". Declaring the ops' schemas lets it
import (timm's Swin and Ultralytics never call them); :func:`provide_nms` also gives ``torchvision::nms`` a CPU
implementation, for Ultralytics' ``nms=True`` export, whose tracing runs it. Where torch and torchvision match,
nothing is declared. Never in the package.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable

__all__ = ["declare_torchvision_ops", "provide_nms"]

_SCHEMA = "(Tensor dets, Tensor scores, float iou_threshold) -> Tensor"
_declared: set[str] = set()


def _torchvision_imports() -> bool:
    probe = subprocess.run([sys.executable, "-c", "import torchvision"], capture_output=True, text=True)
    if probe.returncode and "torchvision::nms" not in probe.stderr:
        raise RuntimeError(f"torchvision fails to import for another reason:\n{probe.stderr[-2000:]}")
    return probe.returncode == 0


def declare_torchvision_ops() -> bool:
    """Declare the missing op schemas when torchvision cannot import as it is; True when they were declared (now
    or before)."""
    import torch

    if _declared:
        return True
    if "torchvision" in sys.modules or _torchvision_imports():
        return False
    for name in ("nms", "qnms"):
        torch.library.define(f"torchvision::{name}", _SCHEMA)
        _declared.add(name)
    return True


def provide_nms(impl: Callable) -> None:
    """``torchvision::nms`` on the CPU by ``impl`` (boxes, scores, iou) -> kept indices, where it was declared here."""
    import torch

    if declare_torchvision_ops() and "impl" not in _declared:
        torch.library.impl("torchvision::nms", "CPU")(impl)
        _declared.add("impl")
        import torchvision.extension

        torchvision.extension._has_ops = lambda: True
