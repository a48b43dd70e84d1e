"""torchvision for the detector's training and export, including beside a torch it was not built for.

torchvision's Python code (the FCOS model, its losses, the anchor generator) is pure torch, but ``import torchvision``
registers fake kernels for its compiled ops, and where its wheel does not match the installed torch (the CUDA
torchvision beside the CPU torch on these machines, ../shared/ENVIRONMENT.md) that import fails with "operator
torchvision::nms does not exist". :func:`import_torchvision` then declares the ops' schemas first, so the import
succeeds; the ops themselves stay missing, and nothing here calls them: training uses the losses, and the exported
graph ends before NMS, which the runtime runs (:mod:`runtime.detection.nms`). Where torch and torchvision match,
nothing is declared. The runtime never imports this module.
"""

from __future__ import annotations

import subprocess
import sys
from types import ModuleType

from runtime.errors import MissingDependencyError

__all__ = ["declare_missing_ops", "import_torchvision"]

_SCHEMA = "(Tensor dets, Tensor scores, float iou_threshold) -> Tensor"
_declared: set[str] = set()


def _imports_as_it_is() -> bool:
    """Whether ``import torchvision`` works in a fresh interpreter (a failed import here would leave half a module)."""
    probe = subprocess.run([sys.executable, "-c", "import torchvision"], capture_output=True, text=True)
    if probe.returncode == 0:
        return True
    if "No module named 'torchvision'" in probe.stderr:
        raise MissingDependencyError("torchvision", "train", "the bundled person detector (training and export)")
    if "torchvision::nms" not in probe.stderr:
        raise RuntimeError(f"torchvision fails to import for another reason:\n{probe.stderr[-2000:]}")
    return False


def declare_missing_ops() -> bool:
    """Declare ``torchvision::nms``/``qnms`` when torchvision cannot import without them; True when they were
    declared (now or earlier)."""
    import torch

    if _declared:
        return True
    if "torchvision" in sys.modules or _imports_as_it_is():
        return False
    for name in ("nms", "qnms"):
        torch.library.define(f"torchvision::{name}", _SCHEMA)
        _declared.add(name)
    return True


def import_torchvision() -> ModuleType:
    """``torchvision``, imported (see the module docstring)."""
    declare_missing_ops()
    import torchvision

    return torchvision
