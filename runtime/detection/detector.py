"""``Detector``: a person detector file (any layout of :mod:`runtime.detection.layouts`) from image to person boxes.

One call: the family's letterbox (:mod:`runtime.detection.letterbox`), the network on a backend of the one table
(:func:`runtime.backends.open_backend`), the layout's decoder (person class, score filter), NMS where the graph has
none (:mod:`runtime.detection.nms`), the ``top_k`` best, and the boxes mapped back to image pixels.

Shape legend: N boxes; boxes are (x1, y1, x2, y2) corner coordinates in image pixels.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from runtime.backends import BACKENDS, backend_entry, backend_of_file, open_backend
from runtime.backends.base import Backend
from runtime.detection.layouts import Candidates, DetLayout, class_names, detector_layout, guess_layout
from runtime.detection.letterbox import Geometry, Letterbox, letterbox_preset
from runtime.detection.nms import nms
from runtime.detection.package import DETECTOR_JSON, DetectorSpec, is_detector_package, read_detector_package
from runtime.errors import BackendError, ConfigError, InputError, InputShapeError, PackageError
from runtime.package import PACKAGE_JSON

__all__ = ["Detections", "Detector", "DEFAULT_SCORE_THR", "DEFAULT_IOU_THR", "DEFAULT_TOP_K"]

#: Ultralytics' and YOLOv5's predict defaults (conf 0.25), YOLOX's NMS IoU (0.45), at most 100 people a frame
DEFAULT_SCORE_THR, DEFAULT_IOU_THR, DEFAULT_TOP_K = 0.25, 0.45, 100


@dataclass(frozen=True)
class Detections:
    """The people in one image: N×4 ``boxes`` (x1, y1, x2, y2, image pixels) and N ``scores``, best first."""

    boxes: np.ndarray
    scores: np.ndarray

    def __len__(self) -> int:
        return len(self.scores)

    def with_scores(self) -> np.ndarray:
        """N×5 (x1, y1, x2, y2, score), the box format of :class:`runtime.PoseEngine` and ``--boxes`` files."""
        return np.concatenate([self.boxes, self.scores[:, None]], 1)


def _input_size(shape: tuple[int, ...], metadata: dict[str, str], given: tuple[int, int] | None) -> tuple[int, int]:
    if len(shape) != 4 or shape[1] not in (3, -1):
        raise InputShapeError(f"a detector takes one B×3×H×W image input, this one has shape {shape}")
    fixed = (shape[2], shape[3]) if shape[2] > 0 and shape[3] > 0 else None
    if given is not None:
        size = (int(given[0]), int(given[1]))
        if min(size) <= 0:
            raise ConfigError(f"the detector input size must be positive (H, W), got {given}")
        if fixed is not None and fixed != size:
            raise ConfigError(
                f"the detector's input is fixed at {fixed[0]}x{fixed[1]}, not {size[0]}x{size[1]}; "
                "drop --det-input-size or re-export it at that size"
            )
        return size
    if fixed is not None:
        return fixed
    if "imgsz" in metadata:  # Ultralytics writes the size it exported for
        try:
            size = ast.literal_eval(metadata["imgsz"])
            return (int(size[0]), int(size[1])) if isinstance(size, (list, tuple)) else (int(size), int(size))
        except (ValueError, SyntaxError, TypeError, IndexError) as e:
            raise ConfigError(f"the detector's 'imgsz' metadata is not a size: {metadata['imgsz']!r}") from e
    raise InputShapeError(
        f"the detector's input is dynamic ({shape}) and the file does not say its size; pass "
        "input_size=(H, W) (--det-input-size HxW), the size it was trained at"
    )


def _person_class(names: dict[int, str] | None, given: int | None) -> int:
    if given is not None:
        if isinstance(given, bool) or not isinstance(given, (int, np.integer)) or given < 0:
            raise ConfigError(f"the person class must be a class index >= 0, got {given!r}")
        if names is not None and given not in names:
            raise ConfigError(f"the detector has no class {given} (its classes: {_listed(names)})")
        return int(given)
    if names is None:
        return 0  # COCO's person, the class every detector family here numbers first
    people = [i for i, n in names.items() if n.strip().lower() == "person"]
    if not people:
        raise ConfigError(
            f"the detector has no class named 'person' (its classes: {_listed(names)}); pass the "
            "class index of people with --person-class"
        )
    return people[0]


def _listed(names: dict[int, str]) -> str:
    shown = ", ".join(f"{i}: {n}" for i, n in list(names.items())[:12])
    return shown + (f", … ({len(names)} in all)" if len(names) > 12 else "")


class Detector:
    """A person detector file on one backend.

    Args:
        model: a detector package folder (:mod:`runtime.detection.package`, whose layout, person class and input size
            are the defaults of the arguments below) or its read :class:`DetectorSpec`, or a detector file (``.onnx``
            for ``onnxruntime``, ``.engine`` for ``tensorrt``).
        layout: a :data:`~runtime.detection.layouts.LAYOUTS` name; None recognises it from the outputs and metadata.
        person_class: the class index of people; None takes it from the file's class names, else 0.
        input_size: (H, W) for a file with a dynamic input that does not record its size.
        score_thr, iou_thr, top_k: boxes scoring above ``score_thr`` are kept, NMS at ``iou_thr`` where the graph
            has none, then the ``top_k`` best.
        backend, device, threads: as for :class:`runtime.PoseEngine` (``"auto"``: the file's own backend), or an
            open :class:`~runtime.backends.base.Backend` over the detector's network (a Triton model through BLS:
            :mod:`runtime.triton.pipeline_model`); the Detector then opens no file, ``model`` (a package) gives only
            its settings, and :meth:`close` closes the backend.
    """

    def __init__(
        self,
        model: str | Path | DetectorSpec,
        layout: str | None = None,
        person_class: int | None = None,
        input_size: tuple[int, int] | None = None,
        score_thr: float = DEFAULT_SCORE_THR,
        iou_thr: float = DEFAULT_IOU_THR,
        top_k: int = DEFAULT_TOP_K,
        backend: str | Backend = "auto",
        device: str = "cpu",
        threads: int = 0,
    ) -> None:
        for name, value in (("score_thr", score_thr), ("iou_thr", iou_thr)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
                raise ConfigError(f"{name} must be between 0 and 1, got {value!r}")
        if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 1:
            raise ConfigError(f"top_k must be a positive integer, got {top_k!r}")
        given = backend if isinstance(backend, Backend) else None
        path = model.folder if isinstance(model, DetectorSpec) else Path(model)
        self.package: DetectorSpec | None = None
        if (
            isinstance(model, DetectorSpec)
            or is_detector_package(path)
            or (path.is_dir() and (path / PACKAGE_JSON).is_file())
        ):
            self.package = spec = model if isinstance(model, DetectorSpec) else read_detector_package(path)
            if given is None:
                path = _package_file(spec, backend, device)
                spec.verify(path)  # the bytes the export wrote, or a PackageError
            layout = spec.layout if layout is None else layout
            person_class = spec.person_class if person_class is None else person_class
            input_size = spec.input_size if input_size is None else input_size
        elif given is None and not path.is_file():
            raise InputError(
                f"no detector file at {path}; pass a detector file (.onnx, .engine) or a detector "
                "package folder (swinpose-export --detector FILE --out DIR)"
            )
        self.path = path if given is None else given.path
        self.score_thr, self.iou_thr, self.top_k = float(score_thr), float(iou_thr), int(top_k)
        if given is not None:
            self.backend = given
        else:
            flavor = None if self.package is None else self.package.engine_flavor
            self.backend = _open(backend, path, device, threads, flavor)
        try:
            if len(self.backend.inputs) != 1:
                raise InputShapeError(
                    f"a detector takes one image input, {path.name} has {[s.name for s in self.backend.inputs]}"
                )
            spec = self.backend.inputs[0]
            self.input_name, self.input_dtype = spec.name, np.dtype(spec.dtype)
            self.input_size = _input_size(spec.shape, self.backend.metadata, input_size)
            if layout is None:
                self.layout: DetLayout = guess_layout(self.backend.outputs, self.backend.metadata, self.input_size)
            else:
                self.layout = detector_layout(layout)
            self.class_names = self.package.class_names if self.package else class_names(self.backend.metadata)
            self.person_class = _person_class(self.class_names, person_class)
            self.letterbox: Letterbox = letterbox_preset(self.layout.preset)
        except BaseException:
            self.backend.close()
            raise

    def preprocess(self, image: np.ndarray) -> tuple[np.ndarray, Geometry]:
        """An h×w×3 BGR uint8 image → (1×3×H×W network input in the file's dtype, its :class:`Geometry`)."""
        if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
            raise InputError(
                f"the detector takes an h×w×3 uint8 BGR image (cv2.imread), got "
                f"{getattr(image, 'dtype', type(image).__name__)}"
            )
        inputs, geometry = self.letterbox(image, self.input_size)
        return inputs.astype(self.input_dtype, copy=False), geometry

    def candidates(self, outputs: dict[str, np.ndarray]) -> Candidates:
        """The layout's person boxes above ``score_thr`` in network pixels, NMS not yet run."""
        return self.layout.decode(outputs, self.backend.outputs, self.person_class, self.score_thr, self.input_size)

    def postprocess(self, outputs: dict[str, np.ndarray], geometry: Geometry) -> Detections:
        """The network's ``outputs`` → the people in the image (NMS where the graph has none, ``top_k``)."""
        found = self.candidates(outputs)
        if self.layout.nms_in_graph:
            keep = np.argsort(-found.scores, kind="stable")[: self.top_k]
        else:
            keep = nms(found.boxes, found.scores, self.iou_thr, max_keep=self.top_k)
        boxes = geometry.to_image(found.boxes[keep])
        inside = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])  # a box wholly in the padding has no area
        return Detections(boxes[inside], found.scores[keep][inside].astype(np.float64))

    def __call__(self, image: np.ndarray) -> Detections:
        """The people in an h×w×3 BGR uint8 image; none is an empty result, not an error."""
        inputs, geometry = self.preprocess(image)
        return self.postprocess(self.backend.infer({self.input_name: inputs}), geometry)

    def close(self) -> None:
        self.backend.close()

    def __enter__(self) -> Detector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


#: ops that only TensorRT runs, and the way out for each
_TRT_ONLY = {
    "EfficientNMS_TRT": "TensorRT's EfficientNMS plugin",
    "BatchedNMSDynamic_TRT": "TensorRT's BatchedNMS plugin",
    "BatchedNMS_TRT": "TensorRT's BatchedNMS plugin",
}


def _package_file(spec: DetectorSpec, backend: str, device: str) -> Path:
    """The package file ``backend`` runs ("auto": the engine on a GPU where there is one, else the ONNX)."""
    if backend == "auto":
        on_gpu = device.startswith("cuda") and spec.engine_path is not None
        return spec.engine_path if on_gpu else spec.onnx_path
    path = spec.engine_path if backend_entry(backend).file_key == "engine" else spec.onnx_path
    if path is None:
        raise PackageError(
            f"{spec.folder / DETECTOR_JSON} lists no engine for the {backend} backend; re-export it "
            "with swinpose-export --detector FILE --engine, or pick another backend"
        )
    return path


def _open(backend: str, path: Path, device: str, threads: int, flavor: str | None = None):
    """Open the detector file ``path`` on ``backend`` (``auto``: the file's own); ``flavor``: the TensorRT flavour
    that built an engine (a package records it)."""
    if backend == "auto":  # the file's own backend
        backend = backend_of_file(path)
        if backend is None:
            suffixes = ", ".join(f"{e.suffix} ({n})" for n, e in BACKENDS.items())
            raise InputError(f"{path.name}: a detector file ends in {suffixes}; pass backend= for another name")
    options = {"threads": threads, "flavor": flavor}
    try:
        return open_backend(backend, path, device, **options)
    except BackendError as e:
        plugin = next((op for op in _TRT_ONLY if op in str(e)), None)
        if plugin:
            raise BackendError(
                f"{path.name} ends in {_TRT_ONLY[plugin]} ({plugin}), which only TensorRT runs: use it as a TensorRT "
                "engine, or export the detector without its NMS (YOLOv7/v6/v9: without --end2end; the layouts "
                "ultralytics, yolov5 and yolox decode raw outputs here)"
            ) from e
        raise BackendError(f"cannot open the detector {path} on {backend}: {e}") from e
