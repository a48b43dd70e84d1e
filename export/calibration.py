"""Calibration (and parity) images, cropped through the runtime's own pre-processing.

``--calib-data`` is either a folder of images (each image is one person crop: its whole frame, aspect-fixed, is the
crop) or a COCO
``person_keypoints_*.json`` (its person boxes are cropped as the runtime crops detector boxes). The crops are made
and normalised by the model's own :class:`runtime.transforms.Preprocess`, as ``runtime.PoseEngine`` makes them from
the package, so int8 ranges are measured on exactly the tensors the engine will see.

Shape legend: N crops, B batch, H×W network input.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from runtime.errors import DataError
from runtime.files import IMAGE_SUFFIXES
from runtime.images import read_image
from runtime.transforms import Preprocess

__all__ = ["IMAGE_SUFFIXES", "CalibrationSet", "load_calibration_set", "synthetic_set", "export_crops"]

logger = logging.getLogger(__name__)


@dataclass
class CalibrationSet:
    """N uint8 crops (N×H×W×3, BGR as OpenCV reads them), where they came from, and the pre-processing that made
    them and normalises them. Crops of a COCO keypoint JSON
    are labelled: ``keypoints`` N×K×3 (x, y, visibility) in crop (network input) pixels and ``areas`` N, each
    person's box area in crop pixels² (the OKS scale); both None for a folder of images."""

    crops: np.ndarray
    source: str
    preprocess: Preprocess | None  # None only for an empty set standing in for a calibration cache
    keypoints: np.ndarray | None = None
    areas: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.crops)

    @property
    def labelled(self) -> bool:
        """Whether every crop has keypoints (and at least one is visible), so that AP can be scored on them."""
        return self.keypoints is not None and bool((self.keypoints[..., 2] > 0).any())

    def subset(self, index: slice) -> CalibrationSet:
        """The crops (and labels) at ``index``."""
        pick = lambda a: None if a is None else a[index]  # noqa: E731
        return CalibrationSet(self.crops[index], self.source, self.preprocess, pick(self.keypoints), pick(self.areas))

    def batches(self, batch_size: int, drop_last: bool = False, progress: str | None = None) -> Iterator[np.ndarray]:
        """B×3×H×W float32 network inputs, in order; ``progress`` names a tqdm bar."""
        n = len(self.crops) - (len(self.crops) % batch_size if drop_last else 0)
        starts = range(0, n, batch_size)
        if progress:
            from tqdm import tqdm

            starts = tqdm(starts, desc=progress, unit="batch", leave=False)
        for i in starts:
            yield self.preprocess.normalize(self.crops[i : i + batch_size])

    def inputs(self, limit: int | None = None) -> np.ndarray:
        """The first ``limit`` crops as one N×3×H×W float32 array."""
        return self.preprocess.normalize(self.crops[:limit])


def _coco_image_dir(ann: Path, first_file: str) -> Path:
    """The image folder of a COCO keypoint JSON: ``root/{split}`` / ``root/{split}2017`` next to ``annotations/``,
    or the JSON's own folder."""
    split = ann.stem.removeprefix("person_keypoints_")
    root = ann.parent.parent
    for folder in (root / split, root / split.removesuffix("2017"), root / f"{split}2017", ann.parent, root):
        if (folder / first_file).is_file():
            return folder
    raise DataError(
        f"cannot find the images of {ann}: looked for {first_file} in {root / split}/ and {ann.parent}/; "
        "keep the COCO layout (annotations/person_keypoints_{split}.json beside a {split}/ image folder)"
    )


def _items(source: Path, size: int, seed: int) -> list[tuple[Path, np.ndarray | None, np.ndarray | None]]:
    """(image file, box or None for the whole image, K×3 keypoints or None) items, at most ``size``, a seeded
    sample."""
    if source.is_dir():
        files = sorted(p for p in source.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        if not files:
            raise DataError(
                f"calibration folder {source} holds no images ({'/'.join(IMAGE_SUFFIXES)}); put a few hundred "
                "person crops or photos there, or pass a COCO person_keypoints JSON"
            )
        items = [(f, None, None) for f in files]
    elif source.suffix.lower() == ".json":
        import json

        from swinpose.data.coco import load_coco_instances

        try:
            first = json.loads(source.read_text())["images"][0]["file_name"]
        except (ValueError, KeyError, IndexError, TypeError) as e:
            raise DataError(f"{source} is not a COCO person_keypoints JSON with images ({e!r})") from e
        instances, _ = load_coco_instances(source, _coco_image_dir(source, first))
        if not instances:
            raise DataError(f"{source} has no person boxes with keypoints to calibrate on")
        items = [(inst.file, np.asarray(inst.bbox, np.float64), inst.keypoints) for inst in instances]
    else:
        raise DataError(f"calibration data {source} is neither a folder of images nor a COCO .json; pass one of those")
    if len(items) > size:
        keep = np.sort(np.random.default_rng(seed).choice(len(items), size, replace=False))
        items = [items[i] for i in keep]
    return items


def load_calibration_set(
    source: str | Path, preprocess: Preprocess, size: int = 256, seed: int = 0, progress: bool = True
) -> CalibrationSet:
    """Read up to ``size`` crops of ``source`` (a folder of images or a COCO JSON), made by ``preprocess``."""
    source = Path(source)
    if not source.exists():
        raise DataError(f"calibration data {source} does not exist; pass a folder of images or a COCO .json")
    if size < 1:
        raise DataError(f"--calib-size must be at least 1, got {size}")
    items = _items(source, size, seed)
    if progress:
        from tqdm import tqdm

        items = tqdm(items, desc="calibration images", unit="img", leave=False)
    crops, keypoints, areas = [], [], []
    whole_frame = dataclasses.replace(preprocess, box_padding=1.0)
    for file, box, kpts in items:
        try:
            image = read_image(file, cv2.IMREAD_COLOR)
        except DataError as e:
            raise DataError(f"calibration image: {e}") from e
        if box is None:  # the frame is the crop: aspect-fixed, no extra context
            box, pre = np.array([0.0, 0.0, image.shape[1], image.shape[0]]), whole_frame
        else:
            pre = preprocess
        crop, matrix = pre.crop(image, box)
        crops.append(crop[0])
        if kpts is not None:  # the labels, moved into the crop by the crop's own affine
            a = matrix[0]
            xy = np.asarray(kpts, np.float64)[:, :2] @ a[:, :2].T + a[:, 2]
            keypoints.append(np.concatenate([xy, np.asarray(kpts, np.float64)[:, 2:3]], 1))
            areas.append(float(box[2] * box[3]) * abs(np.linalg.det(a[:, :2])))
    logger.info("calibration: %d crops from %s", len(crops), source)
    labelled = len(keypoints) == len(crops)
    return CalibrationSet(
        np.stack(crops),
        str(source),
        preprocess,
        keypoints=np.stack(keypoints) if labelled else None,
        areas=np.array(areas) if labelled else None,
    )


def synthetic_set(count: int, preprocess: Preprocess, seed: int = 2026) -> CalibrationSet:
    """``count`` person crops of rendered synthetic figures (:mod:`swinpose.data.synthetic`, val split, a seed the
    bundled model never trained on): structured inputs for the parity check when no image folder is given."""
    from swinpose.data.synthetic import render_image

    crops: list[np.ndarray] = []
    index = 0
    while len(crops) < count:
        image, people = render_image(seed, "val", index)
        index += 1
        if people:
            boxes = np.array([p["bbox"] for p in people][: count - len(crops)])
            crops.extend(preprocess.crop(image, boxes)[0])
    return CalibrationSet(np.stack(crops), f"synthetic figures (seed {seed})", preprocess)


def export_crops(
    calib_data: Path | None,
    parity_data: Path | None,
    calib_size: int,
    parity_crops: int,
    preprocess: Preprocess,
    progress: bool = True,
) -> tuple[CalibrationSet | None, CalibrationSet]:
    """An export's calibration crops (None without ``calib_data``) and its ``parity_crops`` parity crops, made by
    the model's own ``preprocess``: from ``parity_data``, else held out of ``calib_data`` (the last
    ``parity_crops`` of ``calib_size + parity_crops`` read, when at least twice as many were read; else the parity
    crops are calibration crops too), else rendered synthetic figures."""
    if calib_size < 1 or parity_crops < 1:
        raise DataError(
            f"an export needs at least 1 calibration and 1 parity crop, got {calib_size} and {parity_crops}"
        )
    calib: CalibrationSet | None = None
    parity_set: CalibrationSet | None = None
    if calib_data is not None:
        both = load_calibration_set(calib_data, preprocess, calib_size + parity_crops, progress=progress)
        n = len(both)
        held_out = n >= 2 * parity_crops
        calib = both.subset(slice(0, n - parity_crops if held_out else n))
        parity_set = both.subset(slice(max(n - parity_crops, 0), n))
    if parity_data is not None:
        parity_set = load_calibration_set(parity_data, preprocess, parity_crops, progress=progress)
    elif parity_set is None:
        parity_set = synthetic_set(parity_crops, preprocess)
    return calib, parity_set
