"""The ``swinpose`` pipeline model (Triton Python backend): image and boxes in, keypoints and scores out.

It is PoseEngine itself (``runtime.engine``: the package's crops, normalisation, flip test and decoding) over a
backend that sends the crops to the network model through Triton's BLS (business logic scripting), so that the
crops of concurrent requests meet in the network model's dynamic batches. Why BLS and not an ensemble: a request's
crop count varies (N boxes, twice that with the flip test), and the decoding needs the crop affines that the
pre-processing made; in one Python model both stay in PoseEngine, with no copy of its code and no affine tensor
passed between models.

Bad requests (boxes that are not N×4/N×5, NaN or empty boxes, an undecodable or oversized image) get a Triton
error naming the problem; the model keeps serving.

Tensors cross between Triton and numpy through DLPack (:func:`to_numpy`, :func:`to_tensor`, which the network model
uses too): the Python backend's stub was built against numpy 1, and its ``as_numpy`` returns the first element
repeated under numpy 2.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from runtime.backends.base import Backend
from runtime.engine import PoseEngine
from runtime.errors import BackendError, InputError, SwinPoseError
from runtime.images import decode_image
from runtime.package import PACKAGE_JSON, PackageSpec

__all__ = ["TritonPythonModel", "BLSBackend", "to_numpy", "to_tensor", "model_parameters"]

#: the package's model.json, beside the pipeline's model.py in the repository (PackageSpec.write writes it)


def to_numpy(tensor: Any) -> np.ndarray:
    """A Triton tensor as a numpy array (a copy), through DLPack: the Python backend's ``as_numpy`` was built
    against numpy 1 and, under numpy 2, returns the first element repeated (measured: [1, 2, 3] → [1, 1, 1])."""
    return np.array(np.from_dlpack(tensor), copy=True)


def to_tensor(pb: Any, name: str, array: np.ndarray) -> Any:
    """A numpy array as a Triton tensor, through DLPack (see :func:`to_numpy`)."""
    return pb.Tensor.from_dlpack(name, np.ascontiguousarray(array))


class BLSBackend(Backend):
    """The network model called through Triton's BLS: N×3×H×W crops in, N×K×h×w heatmaps out (``pb``: Triton's
    ``triton_python_backend_utils``). Calls share nothing, so they run side by side."""

    name = "triton-bls"
    concurrent = True

    def __init__(self, pb: Any, spec: PackageSpec, model: str) -> None:
        super().__init__(None, "cpu")
        self.pb, self.model = pb, model
        self.inputs, self.outputs = [spec.input], [spec.output]

    def _infer(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        name, out = self.inputs[0].name, self.outputs[0].name
        request = self.pb.InferenceRequest(
            model_name=self.model, requested_output_names=[out], inputs=[to_tensor(self.pb, name, feeds[name])]
        )
        response = request.exec()
        if response.has_error():
            raise BackendError(f"the network model {self.model}: {response.error().message()}")
        return {out: to_numpy(self.pb.get_output_tensor_by_name(response, out))}


def model_parameters(config: dict[str, Any]) -> dict[str, str]:
    """A model config's ``parameters`` (key → string value), as Triton hands them to ``initialize``."""
    return {k: v.get("string_value", "") for k, v in (config.get("parameters") or {}).items()}


class TritonPythonModel:
    """Triton's Python-backend interface: ``initialize``, ``execute`` (one response per request), ``finalize``."""

    def initialize(self, args: dict[str, str]) -> None:
        import triton_python_backend_utils as pb  # only inside Triton's Python backend

        self.pb = pb
        config = json.loads(args["model_config"])
        params = model_parameters(config)
        folder = Path(args["model_repository"]) / args["model_version"]
        spec = PackageSpec.from_dict(json.loads((folder / PACKAGE_JSON).read_text()), folder)
        network = params.get("network", "swinpose_net")
        self.max_bytes = int(params.get("max_image_bytes", 20_000_000))
        self.max_pixels = int(params.get("max_image_pixels", 40_000_000))
        self.engines = {
            flip: PoseEngine(spec, backend=BLSBackend(pb, spec, network), flip_test=flip) for flip in (False, True)
        }

    def _input(self, request: Any, name: str) -> np.ndarray | None:
        tensor = self.pb.get_input_tensor_by_name(request, name)
        return None if tensor is None else to_numpy(tensor)

    def _image(self, request: Any) -> np.ndarray:
        encoded, decoded = self._input(request, "IMAGE_BYTES"), self._input(request, "IMAGE")
        if (encoded is None) == (decoded is None):
            raise InputError(
                "send the image as exactly one of IMAGE_BYTES (the encoded file, uint8) or IMAGE "
                "(decoded H×W×3 BGR uint8)"
            )
        if encoded is not None:
            if encoded.size > self.max_bytes:
                raise InputError(
                    f"IMAGE_BYTES is {encoded.size} bytes, over this server's limit of {self.max_bytes}; "
                    "send a smaller image"
                )
            image = decode_image(encoded.tobytes(), "IMAGE_BYTES")
        else:
            image = decoded
        if image.shape[0] * image.shape[1] > self.max_pixels:
            raise InputError(
                f"the image is {image.shape[1]}×{image.shape[0]}, over this server's limit of "
                f"{self.max_pixels} pixels; send a smaller image"
            )
        return image

    def _respond(self, request: Any) -> Any:
        image = self._image(request)
        boxes = self._input(request, "BOXES")
        if boxes.ndim != 2 or boxes.shape[1] not in (4, 5):
            raise InputError(f"BOXES must be N×4 xyxy (or N×5 with scores), got shape {list(boxes.shape)}")
        if len(boxes) == 0:
            raise InputError("BOXES is empty: send at least one person box (a frame without people needs no call)")
        flip = self._input(request, "FLIP_TEST")
        result = self.engines[bool(flip is not None and flip.ravel()[0])](image, boxes)
        return self.pb.InferenceResponse(
            [
                to_tensor(self.pb, "KEYPOINTS", result.keypoints.astype(np.float32)),
                to_tensor(self.pb, "SCORES", result.scores.astype(np.float32)),
            ]
        )

    def execute(self, requests: list[Any]) -> list[Any]:
        responses = []
        for request in requests:
            try:
                responses.append(self._respond(request))
            except SwinPoseError as e:
                responses.append(self.pb.InferenceResponse(error=self.pb.TritonError(f"swinpose: {e}")))
        return responses

    def finalize(self) -> None:
        for engine in getattr(self, "engines", {}).values():
            engine.close()
