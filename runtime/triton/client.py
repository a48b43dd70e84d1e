"""A client of the ``swinpose`` pipeline model (``tritonclient``, HTTP or gRPC): an image and its boxes (or no
boxes, for the repository's detector to find) in, a :class:`~runtime.results.PoseResult` out. One client object
per thread, as tritonclient asks."""

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
        self, image: np.ndarray | bytes | str | Path, boxes: np.ndarray | None = None, flip_test: bool = False
    ) -> PoseResult:
        """Poses of ``boxes`` (N×4 xyxy or N×5 with scores, image pixels) in ``image``: a BGR uint8 array, an
        encoded file's bytes, or its path (sent encoded). ``boxes`` None: the people the repository's detector
        finds (the result's ``boxes`` and ``box_scores`` are the detector's, N may be 0); a repository without a
        detector refuses it, naming the fix."""
        if isinstance(image, (str, Path)):
            image = Path(image).read_bytes()
        if isinstance(image, (bytes, bytearray)):
            first = self._input("IMAGE_BYTES", np.frombuffer(bytes(image), np.uint8), "UINT8")
        else:
            first = self._input("IMAGE", np.ascontiguousarray(image, np.uint8), "UINT8")
        inputs = [first, self._input("FLIP_TEST", np.array([flip_test]), "BOOL")]
        names = ["KEYPOINTS", "SCORES"]
        if boxes is None:
            names.append("BOXES_OUT")
        else:
            b = np.ascontiguousarray(np.asarray(boxes, np.float32).reshape(len(boxes), -1))
            inputs.append(self._input("BOXES", b, "FP32"))
        outputs = [self.tc.InferRequestedOutput(n) for n in names]
        try:
            response = self.client.infer(self.model, inputs, outputs=outputs)
        except self.tc.InferenceServerException as e:
            raise BackendError(f"the Triton server refused the request: {e.message()}") from e
        if boxes is None:
            b = response.as_numpy("BOXES_OUT").reshape(-1, 5)  # the detector's, N×5 (x1 y1 x2 y2 score)
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
