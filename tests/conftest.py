"""Shared fixtures. Test-only environment fixes live here, never in the package."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

import pytest

# onnxruntime writes to $XDG_CACHE_HOME on import: keep tests from touching the user's cache.
os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="swinpose-tests-cache-")


def _torchvision_imports() -> bool:
    probe = subprocess.run([sys.executable, "-c", "import torchvision"], capture_output=True, text=True)
    if probe.returncode and "torchvision::nms" not in probe.stderr:
        raise RuntimeError(f"torchvision fails to import for another reason:\n{probe.stderr[-2000:]}")
    return probe.returncode == 0


@pytest.fixture(scope="session")
def timm():
    """timm, the independent reference for the backbone.

    With a CPU torch next to a CUDA build of torchvision (as on this project's CI machines), ``import torchvision``
    fails with "operator torchvision::nms does not exist". timm imports torchvision at load time but its Swin never
    calls nms, so the missing operator schemas are declared before the import. Where torch and torchvision match,
    nothing is declared.
    """
    import torch

    if "torchvision" not in sys.modules and not _torchvision_imports():
        for name in ("nms", "qnms"):
            torch.library.define(f"torchvision::{name}", "(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    import timm as timm_module

    return timm_module


@pytest.fixture(autouse=True)
def _seeded():
    """Every test starts from the same RNG state, so random weights and inputs are reproducible."""
    import torch

    torch.manual_seed(0)


def _perturb(module) -> None:
    """Move every parameter off its default init (LayerNorm 1/0, zero biases, tiny final conv) so that each one
    is exercised and outputs are large enough for a tolerance to mean something."""
    import torch

    with torch.no_grad():
        for name, p in module.named_parameters():
            scale = 0.5 if name.endswith("relative_position_bias_table") else 0.05
            p.add_(torch.randn_like(p) * scale)


@pytest.fixture(scope="session")
def perturb():
    return _perturb
