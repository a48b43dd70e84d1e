"""A client of the ``swinpose`` pipeline model (``tritonclient``, HTTP or gRPC): image and boxes in, a
:class:`~runtime.results.PoseResult` out. One client object per thread, as tritonclient asks."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from runtime.engine import PoseResult
from runtime.errors import BackendError, MissingDependencyError
from runtime.triton.config import PIPELINE

__all__ = ["TritonPoseClient"]


class TritonPoseClient:
    """``url`` ``host:port`` of the server's HTTP (``protocol="http"``) or gRPC endpoint."""

    def __init__(
        self, url: str = "127.0.0.1:8000", protocol: str = "http", model: str = PIPELINE, timeout: float = 60.0
    ) -> None:
        if protocol not in ("http", "grpc"):
            raise BackendError(f"protocol must be http or grpc, got {protocol!r}")
        try:
            if protocol == "http":
                import tritonclient.http as tc
            else:
                import tritonclient.grpc as tc
        except ImportError as e:
            raise MissingDependencyError("tritonclient[http,grpc]", "serve", "calling a Triton server") from e
        self.tc, self.protocol, self.model, self.timeout = tc, protocol, model, timeout
        kwargs = {"network_timeout": timeout, "connection_timeout": timeout} if protocol == "http" else {}
        self.client = tc.InferenceServerClient(url, **kwargs)

    def _input(self, name: str, array: np.ndarray, dtype: str):
        tensor = self.tc.InferInput(name, list(array.shape), dtype)
        tensor.set_data_from_numpy(array)
        return tensor

    def __call__(
        self, image: np.ndarray | bytes | str | Path, boxes: np.ndarray, flip_test: bool = False
    ) -> PoseResult:
        """Poses of ``boxes`` (N×4 xyxy or N×5 with scores) in ``image``: a BGR uint8 array, an encoded file's
        bytes, or its path (sent encoded)."""
        if isinstance(image, (str, Path)):
            image = Path(image).read_bytes()
        if isinstance(image, (bytes, bytearray)):
            first = self._input("IMAGE_BYTES", np.frombuffer(bytes(image), np.uint8), "UINT8")
        else:
            first = self._input("IMAGE", np.ascontiguousarray(image, np.uint8), "UINT8")
        b = np.ascontiguousarray(np.asarray(boxes, np.float32).reshape(len(boxes), -1))
        inputs = [first, self._input("BOXES", b, "FP32"), self._input("FLIP_TEST", np.array([flip_test]), "BOOL")]
        outputs = [self.tc.InferRequestedOutput(n) for n in ("KEYPOINTS", "SCORES")]
        try:
            response = self.client.infer(self.model, inputs, outputs=outputs)
        except self.tc.InferenceServerException as e:
            raise BackendError(f"the Triton server refused the request: {e.message()}") from e
        scores = b[:, 4] if b.shape[1] == 5 else np.ones(len(b), np.float32)
        return PoseResult(
            response.as_numpy("KEYPOINTS").astype(np.float64),
            response.as_numpy("SCORES"),
            b[:, :4].astype(np.float64),
            scores,
        )

    def statistics(self, model: str) -> dict:
        """The server's inference statistics of ``model`` (``execution_count``, ``inference_count``, ...)."""
        stats = (
            self.client.get_inference_statistics(model, as_json=True)
            if self.protocol == "grpc"
            else self.client.get_inference_statistics(model)
        )
        return stats["model_stats"][0]

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> TritonPoseClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
