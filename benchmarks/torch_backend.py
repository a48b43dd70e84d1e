"""The PyTorch model behind the runtime's backend contract, so that PoseEngine (and so every benchmark) runs it
through exactly the pre-processing and decoding the deployed backends get.

Shape legend: B batch, K keypoints, H×W input, h×w heatmaps.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from runtime.backends.base import Backend, TensorSpec
from runtime.errors import BackendError, ConfigError
from runtime.package import PackageSpec
from swinpose.models.config import PoseModelConfig
from swinpose.models.pose import SwinPose
from swinpose.models.pose_io import BUNDLED_WEIGHTS, load_weights, random_model, resolve_weights
from swinpose.models.registry import list_models

__all__ = ["TorchBackend", "torch_model_for", "package_weights"]

_DTYPES = {"fp32": torch.float32, "fp16": torch.float16}


def package_weights(spec: PackageSpec, weights: str | Path | None) -> Path | None:
    """The weights file of a package's model: ``weights`` when given (``"bundled"`` too), the bundled file when the
    package was exported from it, else None (the caller decides whether random weights will do)."""
    if weights is not None:
        return resolve_weights(weights, allow_random=True)
    return BUNDLED_WEIGHTS if spec.model.weights == BUNDLED_WEIGHTS.name else None


def torch_model_for(spec: PackageSpec, weights: str | Path | None) -> tuple[SwinPose, str]:
    """The package's model in PyTorch: from ``weights`` when given (checked against the package's config), else
    built from the package's config with random weights (which time the same). Returns it and where its weights
    came from."""
    cfg = PoseModelConfig.from_dict(spec.model.config)
    if weights is None:
        return random_model(cfg), "random init (timing only)"
    # a registered name settles a bare state dict; the input size an MMPose checkpoint (neither is in the file)
    name = cfg.name if cfg.name in list_models() else None
    model, _, _ = load_weights(weights, name, cfg.input_size)
    if model.cfg.to_dict() != cfg.to_dict():
        raise ConfigError(
            f"{weights} holds a {model.cfg.name} model whose config differs from the package's "
            f"({spec.folder / 'model.json'}); pass the weights the package was exported from"
        )
    return model.eval(), str(weights)


class TorchBackend(Backend):
    """A :class:`SwinPose` module run eagerly (or through ``torch.compile``) on ``device`` in ``precision``.

    ``infer`` takes and returns host float32 arrays; it waits for the device (the copy back synchronises), so
    wall-clock timings of it are complete.
    """

    name = "torch"

    def __init__(
        self,
        model: SwinPose,
        device: str = "cpu",
        precision: str = "fp32",
        compile: bool = False,
        threads: int = 0,
        names: tuple[str, str] = ("input", "heatmaps"),
    ) -> None:
        super().__init__(None, device)  # a model in memory: no file
        if precision not in _DTYPES:
            raise ConfigError(f"PyTorch runs fp32 or fp16, not {precision!r}")
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise BackendError(f"device {device!r}: this PyTorch has no CUDA device; use device='cpu'")
        if threads:
            torch.set_num_threads(threads)
        self.torch_device, self.dtype = torch.device(device), _DTYPES[precision]
        self.module = model.eval().to(self.torch_device, self.dtype)
        self.forward: Any = torch.compile(self.module) if compile else self.module
        self.name = "torch-compile" if compile else "torch"
        self.description = f"{model.cfg.name} ({precision}, {device})"
        h, w = model.cfg.input_size
        self.inputs = [TensorSpec(names[0], (-1, 3, h, w), "float32")]
        self.outputs = [TensorSpec(names[1], (-1, model.cfg.num_keypoints, *model.cfg.heatmap_size), "float32")]

    def _infer(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        with torch.inference_mode():
            x = torch.from_numpy(feeds[self.inputs[0].name]).to(self.torch_device, self.dtype, non_blocking=True)
            y = self.forward(x).float().cpu().numpy()
        return {self.outputs[0].name: y}

    def _free(self) -> None:
        self.module = self.forward = None
