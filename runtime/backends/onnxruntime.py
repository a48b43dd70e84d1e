"""ONNX Runtime backend: CPU, or CUDA with ``device="cuda:N"`` (never a silent fallback to the CPU)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from runtime.backends.base import Backend, TensorSpec
from runtime.errors import BackendError

__all__ = ["OrtBackend"]

_DTYPES = {"tensor(float)": "float32", "tensor(float16)": "float16", "tensor(int64)": "int64"}


class OrtBackend(Backend):
    """An ONNX Runtime session on ``path`` (a ``.onnx`` file). ``threads`` 0 = ONNX Runtime's default."""

    name = "onnxruntime"

    def __init__(self, path: str | Path, device: str = "cpu", threads: int = 0) -> None:
        super().__init__()
        try:
            import onnxruntime as ort
        except ImportError as e:
            raise BackendError("the ONNX Runtime backend needs onnxruntime: pip install onnxruntime") from e
        options = ort.SessionOptions()
        options.log_severity_level = 3
        if threads:
            options.intra_op_num_threads = threads
        if device == "cpu":
            providers: list = ["CPUExecutionProvider"]
        elif device.startswith("cuda"):
            if "CUDAExecutionProvider" not in ort.get_available_providers():
                raise BackendError(
                    f"device {device!r} needs ONNX Runtime's CUDA provider, which this install lacks "
                    f"(has {ort.get_available_providers()}); pip install onnxruntime-gpu, or use device='cpu'"
                )
            index = int(device.partition(":")[2] or 0)
            providers = [("CUDAExecutionProvider", {"device_id": index})]
        else:
            raise BackendError(f"unknown device {device!r}; use 'cpu' or 'cuda:N'")
        try:
            self.session = ort.InferenceSession(str(path), options, providers=providers)
        except Exception as e:  # ORT raises its own Fail/InvalidProtobuf/NoSuchFile types
            raise BackendError(
                f"ONNX Runtime cannot load {path} ({type(e).__name__}: {str(e)[:300]}); the file is truncated or not "
                "an ONNX model: re-export the package with swinpose-export"
            ) from e
        self.inputs = [self._spec(v) for v in self.session.get_inputs()]
        self.outputs = [self._spec(v) for v in self.session.get_outputs()]
        self.device = device

    @staticmethod
    def _spec(value) -> TensorSpec:
        shape = tuple(d if isinstance(d, int) else -1 for d in value.shape)
        return TensorSpec(value.name, shape, _DTYPES.get(value.type, value.type))

    def _infer(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        outputs = self.session.run([s.name for s in self.outputs], feeds)
        return dict(zip((s.name for s in self.outputs), outputs))

    def close(self) -> None:
        self.session = None
        super().close()
