"""The ``swinpose`` pipeline model (Triton Python backend): image (and boxes) in, keypoints, scores and boxes out.

It is PoseEngine itself (``runtime.engine``: the package's crops, normalisation, flip test and decoding) over a
backend that sends the crops to the network model through Triton's BLS (business logic scripting), so that the
crops of concurrent requests meet in the network model's dynamic batches. Why BLS and not an ensemble: a request's
crop count varies (N boxes, twice that with the flip test), and the decoding needs the crop affines that the
pre-processing made; in one Python model both stay in PoseEngine, with no copy of its code and no affine tensor
passed between models.

A request without ``BOXES`` runs the person detector first, in the same request, where the repository has one
(``swinpose_det``): it is :class:`runtime.detection.Detector` itself (the family's letterbox, the layout's decoder,
NMS, ``top_k``, the way back to image pixels) over a BLS backend to the detector model, whose dynamic batcher puts
the images of concurrent requests together; the boxes it found go to PoseEngine and come back as ``BOXES_OUT``.
An image without people gives empty outputs, not an error. Without a detector model, a request without boxes gets
an error naming the fix (write the repository with the detector).

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

from runtime.backends.base import Backend, TensorSpec
from runtime.detection import DETECTOR_JSON, Detector, DetectorSpec
from runtime.engine import PoseEngine, PoseResult
from runtime.errors import BackendError, InputError, SwinPoseError
from runtime.images import decode_image
from runtime.package import PACKAGE_JSON, PackageSpec
from runtime.triton.config import DETECTOR_IO_JSON, DetectorIO

__all__ = ["TritonPythonModel", "BLSBackend", "to_numpy", "to_tensor", "model_parameters"]

#: the package's model.json, beside the pipeline's model.py in the repository (PackageSpec.write writes it)


def to_numpy(tensor: Any) -> np.ndarray:
    """A Triton tensor as a numpy array (a copy), through DLPack: the Python backend's ``as_numpy`` was built
    against numpy 1 and, under numpy 2, returns the first element repeated (measured: [1, 2, 3] → [1, 1, 1])."""
    return np.array(np.from_dlpack(tensor), copy=True)


def to_tensor(pb: Any, name: str, array: np.ndarray) -> Any:
    """A numpy array as a Triton tensor, through DLPack (see :func:`to_numpy`); an empty one (no people found)
    through ``pb.Tensor``, since Triton reads an empty array's DLPack strides as not contiguous."""
    array = np.ascontiguousarray(array)
    return pb.Tensor(name, array) if array.size == 0 else pb.Tensor.from_dlpack(name, array)


class BLSBackend(Backend):
    """Another model of the repository called through Triton's BLS (``pb``: Triton's
    ``triton_python_backend_utils``): the network (N×3×H×W crops in, N×K×h×w heatmaps out) or the detector (one
    1×3×H×W letterboxed image in, its layout's outputs out), with the ``inputs`` and ``outputs`` the model
    declares, batch first. Calls share nothing, so they run side by side."""

    name = "triton-bls"
    concurrent = True

    def __init__(self, pb: Any, model: str, inputs: list[TensorSpec], outputs: list[TensorSpec]) -> None:
        super().__init__(None, "cpu")
        self.pb, self.model = pb, model
        self.inputs, self.outputs = list(inputs), list(outputs)

    def _infer(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        names = [t.name for t in self.outputs]
        request = self.pb.InferenceRequest(
            model_name=self.model,
            requested_output_names=names,
            inputs=[to_tensor(self.pb, t.name, feeds[t.name]) for t in self.inputs],
        )
        response = request.exec()
        if response.has_error():
            raise BackendError(f"the model {self.model}: {response.error().message()}")
        return {n: to_numpy(self.pb.get_output_tensor_by_name(response, n)) for n in names}


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
            flip: PoseEngine(spec, backend=BLSBackend(pb, network, [spec.input], [spec.output]), flip_test=flip)
            for flip in (False, True)
        }
        self.detector = _detector(pb, folder, params)

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

    def _boxes(self, request: Any, image: np.ndarray) -> np.ndarray:
        """The request's BOXES (N×4 or N×5), else the detector's people in ``image`` (N×5, N may be 0)."""
        boxes = self._input(request, "BOXES")
        if boxes is None:
            if self.detector is None:
                raise InputError(
                    "BOXES is missing and this repository has no person detector to find them: send BOXES, or write "
                    "the repository with a detector package (swinpose-export --weights W --out PK --triton DIR "
                    "--triton-detector DET, or swinpose-serve --package PK --detector DET)"
                )
            return self.detector(image).with_scores()
        if boxes.ndim != 2 or boxes.shape[1] not in (4, 5):
            raise InputError(f"BOXES must be N×4 xyxy (or N×5 with scores), got shape {list(boxes.shape)}")
        if len(boxes) == 0:
            raise InputError(
                "BOXES is empty: send at least one person box (a frame without people needs no call), or leave "
                "BOXES out to have the repository's detector find them"
            )
        return boxes

    def _respond(self, request: Any) -> Any:
        image = self._image(request)
        boxes = self._boxes(request, image)
        flip = self._input(request, "FLIP_TEST")
        result: PoseResult = self.engines[bool(flip is not None and flip.ravel()[0])](image, boxes)
        used = np.concatenate([result.boxes, result.box_scores[:, None]], 1).reshape(-1, 5)
        return self.pb.InferenceResponse(
            [
                to_tensor(self.pb, "KEYPOINTS", result.keypoints.astype(np.float32)),
                to_tensor(self.pb, "SCORES", result.scores.astype(np.float32)),
                to_tensor(self.pb, "BOXES_OUT", used.astype(np.float32)),
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
        if getattr(self, "detector", None) is not None:
            self.detector.close()


def _detector(pb: Any, folder: Path, params: dict[str, str]) -> Detector | None:
    """The pipeline's :class:`Detector` over BLS to the detector model its config names (None: no detector), with
    the package's settings (``detector.json``) and the graph's tensors (``detector_io.json``) from ``folder``."""
    model = params.get("detector", "")
    if not model:
        return None
    spec = DetectorSpec.from_dict(json.loads((folder / DETECTOR_JSON).read_text()), folder)
    io = DetectorIO.from_dict(json.loads((folder / DETECTOR_IO_JSON).read_text()))
    return Detector(
        spec,
        score_thr=float(params["det_score_thr"]),
        iou_thr=float(params["det_iou_thr"]),
        top_k=int(params["det_top_k"]),
        backend=BLSBackend(pb, model, list(io.inputs), list(io.outputs)),
    )
