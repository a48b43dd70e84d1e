"""Test-only: a CPU ``torchvision::nms`` for references that run torchvision's NMS (../shared/ENVIRONMENT.md).

The torchvision wheels on these machines are CUDA builds, whose compiled ops do not exist next to the CPU torch.
:func:`swinpose.detection.torchvision_ops.declare_missing_ops` (the one way, used by the detector's training and
export) declares their schemas so that torchvision imports; :func:`provide_nms` also gives ``torchvision::nms`` a
CPU implementation, for the references that call it: Ultralytics' ``nms=True`` export, whose tracing runs it, and
torchvision's own FCOS post-processing. Where torch and torchvision match, nothing is declared. Never in the package.
"""

from __future__ import annotations

from collections.abc import Callable

from swinpose.detection.torchvision_ops import declare_missing_ops

__all__ = ["provide_nms"]


_impl: list[Callable] = []


def provide_nms(impl: Callable) -> None:
    """``torchvision::nms`` on the CPU by ``impl`` (boxes, scores, iou) -> kept indices, where it was declared here."""
    import torch

    if declare_missing_ops() and not _impl:
        torch.library.impl("torchvision::nms", "CPU")(impl)
        _impl.append(impl)
        import torchvision.extension

        torchvision.extension._has_ops = lambda: True
