"""``PoseEngine``: image + person boxes → keypoints in image pixels, from a model package, with numpy and OpenCV.

Shape legend: N boxes, K keypoints, H×W network input, h×w heatmaps. Boxes are ``xyxy`` image pixels (optionally a
fifth column of detector scores); keypoints are (x, y) image pixels with pixel centres at integers.

Input handling (each case is tested):

* images: H×W×3 uint8 BGR (OpenCV's order). H×W grayscale and H×W×4 BGRA are converted to BGR; uint16 images are
  scaled to 8 bits (``>> 8``); any other dtype, an empty image or another channel count raises
  :class:`InputShapeError`. Non-contiguous arrays are fine.
* boxes: ``None`` means one box covering the image. Boxes are clipped to the image; a box with NaN/inf
  coordinates, or with no area left after clipping (x2 ≤ x1, y2 ≤ y1, or entirely outside), raises
  :class:`InputError` naming its index. More boxes than the package's batch maximum run in several batches.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from runtime.backends import Backend, backend_entry, backend_of_file, default_cpu_backend, open_backend
from runtime.errors import ConfigError, InputError, InputShapeError, PackageError, SaturatingInt8Error
from runtime.int8_cpu import INT8_RUNTIMES, int8_kernel
from runtime.package import PACKAGE_JSON, PackageSpec, read_package, recover_package
from runtime.results import Predictions, to_coco_results
from runtime.transforms import flip_test_heatmaps, xyxy_to_xywh

__all__ = ["PoseEngine", "PoseResult", "prepare_image", "prepare_boxes"]

REFINES = ("dark", "quarter")


@dataclass
class PoseResult:
    """One image's poses: ``keypoints`` N×K×2 and ``scores`` N×K, ``boxes`` N×4 xyxy (clipped) and ``box_scores`` N."""

    keypoints: np.ndarray
    scores: np.ndarray
    boxes: np.ndarray
    box_scores: np.ndarray

    def __len__(self) -> int:
        return len(self.keypoints)

    def to_coco(self, image_id: int, rescore: bool = True) -> list[dict]:
        """COCO keypoint results for this image (the format pycocotools' ``loadRes`` reads)."""
        wh = self.boxes[:, 2:] - self.boxes[:, :2]
        pred = Predictions(self.keypoints, self.scores, np.full(len(self), image_id), self.box_scores, wh.prod(1))
        return to_coco_results(pred, rescore=rescore)


def prepare_image(image: np.ndarray) -> np.ndarray:
    """H×W×3 uint8 BGR from what callers pass (see the module docstring for what is accepted)."""
    image = np.asarray(image)
    if image.size == 0:
        raise InputShapeError(f"the image is empty (shape {image.shape}); pass a decoded H×W×3 image")
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype != np.uint8:
        raise InputShapeError(
            f"images must be uint8 (or uint16), got {image.dtype}; convert with image.astype(np.uint8)"
        )
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_BGRA2BGR)
    if image.ndim != 3 or image.shape[2] != 3:
        raise InputShapeError(f"expected an H×W×3 BGR image (or H×W gray, H×W×4 BGRA), got shape {image.shape}")
    return np.ascontiguousarray(image)


def prepare_boxes(boxes: np.ndarray | None, image_shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(N×4 xyxy boxes clipped to the image, N scores) from N×4 / N×5 boxes or None (one box over the image)."""
    h, w = image_shape[:2]
    if boxes is None:
        return np.array([[0.0, 0.0, w, h]]), np.ones(1)
    if isinstance(boxes, (str, bytes, dict)):
        raise InputShapeError(f"boxes must be an N×4 xyxy array (or N×5 with scores), got {type(boxes).__name__}")
    try:
        b = np.asarray(boxes, np.float64)
    except (ValueError, TypeError) as e:  # ragged rows, strings, objects
        raise InputShapeError(
            f"boxes must be an N×4 xyxy array of numbers (or N×5 with scores), every row the same "
            f"length; got {str(boxes)[:80]} ({e})"
        ) from e
    if b.size == 0:
        return np.zeros((0, 4)), np.zeros(0)
    if b.ndim == 1:
        b = b[None]
    if b.ndim != 2 or b.shape[1] not in (4, 5):
        raise InputShapeError(f"boxes must be N×4 xyxy (or N×5 with scores), got shape {np.shape(boxes)}")
    bad = np.nonzero(~np.isfinite(b).all(1))[0]
    if bad.size:
        raise InputError(f"box {int(bad[0])} has NaN/inf values {b[bad[0]].tolist()}; drop it before calling")
    scores = b[:, 4] if b.shape[1] == 5 else np.ones(len(b))
    xyxy = np.clip(b[:, :4], 0, [w, h, w, h])
    empty = np.nonzero((xyxy[:, 2] <= xyxy[:, 0]) | (xyxy[:, 3] <= xyxy[:, 1]))[0]
    if empty.size:
        i = int(empty[0])
        raise InputError(
            f"box {i} {b[i, :4].tolist()} has no area inside the {w}×{h} image (xyxy order, x2 > x1, y2 > y1); "
            "drop it before calling"
        )
    return xyxy, scores


class PoseEngine:
    """Top-down pose estimation from a model package.

    The pipeline is three public stages, which :meth:`infer_batch` chains and benchmarks time one by one:
    :meth:`preprocess` (crops and normalisation), :meth:`heatmaps` (the backend, in runs within the batch range,
    with the flip test) and :meth:`decode` (the codec, back to image pixels).

    Args:
        path: a package folder (from ``swinpose-export``), or a model file with its ``model.json`` beside it, or a
            :class:`~runtime.package.PackageSpec` read already (with an open ``backend``).
        backend: ``"auto"`` (the file's backend; for a folder, its engine on ``cuda`` devices, else its ONNX; an
            ONNX on the CPU runs on :func:`runtime.backends.default_cpu_backend`'s choice), a
            name in :data:`runtime.backends.BACKENDS`, or an open :class:`~runtime.backends.Backend` to run (its
            I/O is checked against the package like any other; the engine closes it).
        device: ``"cpu"`` or ``"cuda:N"``.
        flip_test: also run the mirrored crops and average their flipped heatmaps in.
        refine: ``"dark"`` (Taylor refinement) or ``"quarter"`` (quarter-pixel offset) sub-pixel decoding; None
            (the default): the package's (``codec.use_dark``, the model's own decoding).
        threads: intra-op threads for CPU backends (0 = the library's default); GPU-only backends (tensorrt) take
            none.
        backend_options: more keyword arguments for the backend (see :func:`runtime.backends.open_backend`), e.g.
            ``{"io_binding": True}`` for onnxruntime or ``{"cuda_graph": True}`` for tensorrt.
        allow_int8_saturation: run an int8 graph on ONNX Runtime's or OpenVINO's CPU kernels even where some of its
            int16 pair sums can saturate (:mod:`runtime.int8_cpu`: 8-bit weights on x86 CPUs without VNNI), which
            costs AP.
            By default the engine refuses it with :class:`SaturatingInt8Error` (a :class:`PackageError`).
    """

    def __init__(
        self,
        path: str | Path | PackageSpec,
        backend: str | Backend = "auto",
        device: str = "cpu",
        flip_test: bool = False,
        refine: str | None = None,
        threads: int = 0,
        backend_options: dict[str, Any] | None = None,
        allow_int8_saturation: bool = False,
    ) -> None:
        if refine is not None and refine not in REFINES:
            raise ConfigError(f"refine must be one of {REFINES}, got {refine!r}")
        if isinstance(path, PackageSpec):  # a package read already (a model.json without its files: Triton's pipeline)
            if not isinstance(backend, Backend):
                raise ConfigError("PoseEngine(PackageSpec) runs an open Backend; pass the package folder to open one")
            self.spec, path = path, path.folder
        else:
            path = Path(path)
            folder = path.parent if path.suffix else path
            recover_package(folder)  # a package an interrupted export set aside is put back first
            self.spec = read_package(folder)
        if isinstance(backend, Backend):
            self.backend, model_file = backend, backend.path or Path(backend.name)
        else:
            if backend == "auto":  # the file's own backend; for a folder, its engine on a GPU, else its ONNX
                on_gpu = device.startswith("cuda") and self.spec.engine_path is not None
                backend = backend_of_file(path) or ("tensorrt" if on_gpu else "onnxruntime")
                if backend == "onnxruntime" and device == "cpu":  # the ONNX on the CPU: the fastest runtime here
                    backend = default_cpu_backend()
            key = backend_entry(backend).file_key
            model_file = path if path.suffix else self.spec.file_path(key)
            if model_file is None:
                raise PackageError(
                    f"{self.spec.folder / PACKAGE_JSON} lists no {key} file for the {backend} backend; "
                    "re-export the package with it, or pick another backend"
                )
            # threads where the backend takes them; the flavour that built the engine where it has flavours
            options = {"threads": threads, "flavor": self.spec.engine_flavor, **(backend_options or {})}
            self.spec.verify(model_file)  # the bytes the export wrote, or a PackageError
            self.backend = open_backend(backend, model_file, device=device, **options)
        self._check_io(model_file)
        if not allow_int8_saturation:
            self._check_int8_kernels()
        codec = self.spec.codec
        self.codec = codec if refine is None else dataclasses.replace(codec, use_dark=refine == "dark")
        self.keypoints = self.spec.keypoints
        self.padding = self.spec.preprocess.box_padding
        self.flip_test = flip_test
        self.num_keypoints = self.keypoints.num_keypoints
        self.flip_perm = self.keypoints.flip_perm()

    def _check_io(self, model_file: Path) -> None:
        spec = self.spec
        want = [(t.name, list(t.shape[1:])) for t in (spec.input, spec.output)]
        have = [(s.name, list(s.shape[1:])) for s in (*self.backend.inputs, *self.backend.outputs)]
        problem = None
        if have != want:
            problem = f"describes {want} but {model_file.name} has {have}"
        profile = self.backend.profile.get(spec.input_name)  # engines fix their batch range
        if profile is not None and (profile[0][0], profile[2][0]) != (spec.batch.min, spec.batch.max):
            problem = (
                f"says batch {spec.batch.to_dict()} but {model_file.name} was built for "
                f"{profile[0][0]}..{profile[2][0]}"
            )
        if problem:
            self.backend.close()
            raise PackageError(
                f"{spec.folder / PACKAGE_JSON} {problem}; the JSON and the model come from different exports: "
                "re-export the package"
            )

    def _check_int8_kernels(self) -> None:
        """Refuse an int8 graph that the CPU runtime's kernels on this CPU may sum wrongly (int16 saturation)."""
        pair = self.spec.int8_max_weight_pair
        if pair is None or self.backend.name not in INT8_RUNTIMES or self.backend.device != "cpu":
            return
        kernel = int8_kernel(runtime=self.backend.name)
        if kernel.saturates(pair):
            self.backend.close()
            raise SaturatingInt8Error(
                f"{self.spec.folder}: this int8 graph's weights (largest pair {pair}) can saturate on this CPU, which "
                f"has {kernel.description}: keypoints would be wrong. Re-export it with 7-bit weights "
                "(swinpose-export --int8, the default), run it with TensorRT or on a VNNI CPU, or pass "
                "allow_int8_saturation=True to run it anyway"
            )

    def _run(self, inputs: np.ndarray) -> np.ndarray:
        """B×3×H×W → B×K×h×w, in runs within the package's batch range (a short last run is padded)."""
        lo, _, hi = self.spec.batch_range
        name_in, name_out = self.spec.input_name, self.spec.output_name
        out = []
        for i in range(0, len(inputs), hi):
            chunk = inputs[i : i + hi]
            n = len(chunk)
            if n < lo:
                chunk = np.concatenate([chunk, np.repeat(chunk[-1:], lo - n, 0)])
            out.append(self.backend.infer({name_in: chunk})[name_out][:n].astype(np.float32, copy=False))
        return np.concatenate(out)

    def preprocess(
        self, images: list[np.ndarray], boxes_per_image: list[np.ndarray | None]
    ) -> tuple[np.ndarray, np.ndarray, list[tuple[np.ndarray, np.ndarray]]]:
        """Crops of every box of every image: N×3×H×W float32 network input, N×2×3 image → input affines, and per
        image its N_i×4 clipped xyxy boxes and N_i box scores (N = ΣN_i)."""
        if len(images) != len(boxes_per_image):
            raise InputError(f"{len(images)} images but {len(boxes_per_image)} box arrays; pass one per image")
        h, w = self.spec.input_size
        crops, matrices, boxes = [np.zeros((0, h, w, 3), np.uint8)], [np.zeros((0, 2, 3))], []
        for image, image_boxes in zip(images, boxes_per_image):
            image = prepare_image(image)
            xyxy, scores = prepare_boxes(image_boxes, image.shape)
            c, m = self.spec.preprocess.crop(image, xyxy_to_xywh(xyxy))
            crops.append(c)
            matrices.append(m)
            boxes.append((xyxy, scores))
        inputs = self.spec.preprocess.normalize(np.concatenate(crops))
        return inputs, np.concatenate(matrices), boxes

    def heatmaps(self, inputs: np.ndarray) -> np.ndarray:
        """N×3×H×W network input → N×K×h×w heatmaps (with the flip test: averaged with the mirrored crops')."""
        if not len(inputs):
            return np.zeros((0, self.num_keypoints, *self.codec.heatmap_size), np.float32)
        return flip_test_heatmaps(self._run, inputs, self.flip_perm if self.flip_test else None, self.codec.flip_shift)

    def decode(self, heatmaps: np.ndarray, matrices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """N×K×h×w heatmaps and their N×2×3 crop affines → N×K×2 (x, y) image pixels and N×K scores."""
        if not len(heatmaps):
            return np.zeros((0, self.num_keypoints, 2)), np.zeros((0, self.num_keypoints), np.float32)
        return self.codec.decode_to_image(heatmaps, matrices)

    def __call__(self, image: np.ndarray, boxes: np.ndarray | None = None) -> PoseResult:
        """Poses of the people in ``boxes`` (N×4 xyxy or N×5 with scores; None: the whole image)."""
        return self.infer_batch([image], [boxes])[0]

    def infer_batch(self, images: list[np.ndarray], boxes_per_image: list[np.ndarray | None]) -> list[PoseResult]:
        """Poses for several frames at once: their crops share engine batches. One :class:`PoseResult` per image."""
        inputs, matrices, boxes = self.preprocess(images, boxes_per_image)
        xy, s = self.decode(self.heatmaps(inputs), matrices)
        results, start = [], 0
        for xyxy, scores in boxes:
            end = start + len(xyxy)
            results.append(PoseResult(xy[start:end], s[start:end], xyxy, scores))
            start = end
        return results

    def close(self) -> None:
        self.backend.close()

    def __enter__(self) -> PoseEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
