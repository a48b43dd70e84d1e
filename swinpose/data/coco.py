"""COCO top-down keypoint data: one sample per person box, cropped with the shared affine transforms.

Shape legend: K keypoints, H×W network input, h×w heatmaps. Keypoints are (x, y) in image pixels unless noted.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from runtime.errors import DataError
from runtime.images import read_image as load_image
from runtime.package import InferenceSpec
from runtime.transforms import apply_affine, box_to_center_scale, flip_keypoints, get_warp_matrix, warp_crop

__all__ = ["Augmentation", "CocoInstance", "CocoKeypoints", "load_coco_instances", "find_split", "UPPER_BODY"]

logger = logging.getLogger(__name__)

#: keypoints of the upper body for half-body augmentation (head, shoulders, arms); the rest is the lower body
UPPER_BODY = tuple(range(11))


@dataclass(frozen=True)
class Augmentation:
    """Training augmentation, as in SimpleBaseline/MMPose's top-down recipe."""

    flip_prob: float = 0.5
    scale_factor: float = 0.25  # box scale drawn from [1 - f, 1 + f]
    rotation: float = 40.0  # degrees, drawn from ±rotation with probability rotation_prob
    rotation_prob: float = 0.6
    shift_factor: float = 0.1  # centre shift as a fraction of the box, with probability shift_prob
    shift_prob: float = 0.3
    half_body_prob: float = 0.3
    half_body_min_keypoints: int = 8
    half_body_padding: float = 1.5  # context around a half-body box (MMPose's)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class CocoInstance:
    """One person to crop: its box and (for GT instances) its keypoints."""

    image_id: int
    file: Path
    bbox: np.ndarray  # (4,) x, y, w, h
    keypoints: np.ndarray  # K×3 (x, y, v); v all 0 for detector boxes
    score: float = 1.0  # detector box score (1 for GT boxes)
    ann_id: int = -1


def find_split(root: str | Path, split: str) -> tuple[Path, Path]:
    """(annotation file, image folder) of ``split`` under a COCO-layout ``root``.

    Accepts ``annotations/person_keypoints_{split}.json`` with ``{split}/`` (what :mod:`swinpose.data.synthetic`
    writes) and COCO 2017's ``annotations/person_keypoints_{split}2017.json`` with ``{split}2017/``.
    """
    root = Path(root)
    for suffix in ("", "2017"):
        ann = root / "annotations" / f"person_keypoints_{split}{suffix}.json"
        images = root / f"{split}{suffix}"
        if ann.is_file() and images.is_dir():
            return ann, images
    raise DataError(
        f"no '{split}' split under {root}: expected annotations/person_keypoints_{split}.json and a {split}/ folder "
        f"(or the *2017 names); make synthetic data with: swinpose-synth --out {root}"
    )


def _read_json(path: Path) -> Any:
    if not path.is_file():
        raise DataError(f"{path} does not exist; check the path")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataError(f"{path} is not valid JSON ({e}); re-download or regenerate it") from e


def _person_category(data: dict, path: Path, num_keypoints: int) -> int:
    for cat in data.get("categories", []):
        if cat.get("name") == "person":
            names = cat.get("keypoints", [])
            if names and len(names) != num_keypoints:
                raise DataError(
                    f"{path}: the person category has {len(names)} keypoints but the model predicts {num_keypoints}; "
                    "use a COCO-style 17-keypoint file or a model with num_keypoints to match"
                )
            return int(cat["id"])
    raise DataError(f"{path} has no 'person' category; is it a COCO person_keypoints file?")


def load_coco_instances(
    ann_file: str | Path,
    image_dir: str | Path,
    num_keypoints: int = 17,
    detections: str | Path | None = None,
    det_score_thr: float = 0.0,
) -> tuple[list[CocoInstance], dict]:
    """Person instances of a COCO keypoint file: GT boxes, or detector boxes from a COCO results JSON.

    GT instances that are crowds or have no labelled keypoint are skipped and counted in one log line.

    Returns:
        instances, and the parsed annotation JSON (for pycocotools).
    """
    ann_file, image_dir = Path(ann_file), Path(image_dir)
    data = _read_json(ann_file)
    if not isinstance(data, dict) or "images" not in data or "annotations" not in data:
        raise DataError(f"{ann_file} lacks 'images'/'annotations'; is it a COCO person_keypoints file?")
    person = _person_category(data, ann_file, num_keypoints)
    files: dict[int, Path] = {}
    for img in data["images"]:
        try:
            files[int(img["id"])] = image_dir / img["file_name"]
        except (KeyError, TypeError, ValueError) as e:
            raise DataError(f"{ann_file}: malformed image entry {img!r} ({e!r}); it needs 'id' and 'file_name'") from e
    instances: list[CocoInstance] = []
    if detections is None:
        crowd = empty = 0
        for ann in data["annotations"]:
            if ann.get("category_id") != person:
                continue
            try:
                image_id, ann_id = int(ann["image_id"]), int(ann["id"])
                kps = np.asarray(ann["keypoints"], np.float64).reshape(num_keypoints, 3)
                bbox = np.asarray(ann["bbox"], np.float64).reshape(4)
            except (KeyError, TypeError, ValueError) as e:
                raise DataError(
                    f"{ann_file}: annotation id {ann.get('id')} is malformed ({e!r}); it needs image_id, "
                    f"bbox (4 numbers) and keypoints ({3 * num_keypoints} numbers)"
                ) from e
            if image_id not in files:
                raise DataError(
                    f"{ann_file}: annotation id {ann_id} refers to image_id {image_id}, which is not listed"
                )
            if ann.get("iscrowd", 0):
                crowd += 1
                continue
            if not (kps[:, 2] > 0).any() or bbox[2] <= 0 or bbox[3] <= 0:
                empty += 1
                continue
            instances.append(CocoInstance(image_id, files[image_id], bbox, kps, 1.0, ann_id))
        logger.info(
            "%s: %d person instances; skipped %d crowd and %d without keypoints or box",
            ann_file.name,
            len(instances),
            crowd,
            empty,
        )
    else:
        dets = _read_json(Path(detections))
        if not isinstance(dets, list):
            raise DataError(f"{detections} is not a COCO results list ([{{image_id, category_id, bbox, score}}, ...])")
        low = 0
        for i, det in enumerate(dets):
            try:
                image_id, bbox, score = (
                    int(det["image_id"]),
                    np.asarray(det["bbox"], np.float64).reshape(4),
                    det["score"],
                )
            except (KeyError, TypeError, ValueError) as e:
                raise DataError(
                    f"{detections}: detection #{i} is malformed ({e!r}); it needs image_id, bbox, score"
                ) from e
            if det.get("category_id", person) != person:
                continue
            if image_id not in files:
                raise DataError(f"{detections}: detection #{i} has image_id {image_id}, which {ann_file} does not list")
            if score < det_score_thr or bbox[2] <= 0 or bbox[3] <= 0:
                low += 1
                continue
            kps = np.zeros((num_keypoints, 3))
            instances.append(CocoInstance(image_id, files[image_id], bbox, kps, float(score)))
        logger.info(
            "%s: %d person boxes; skipped %d below score %.2f or empty",
            Path(detections).name,
            len(instances),
            low,
            det_score_thr,
        )
    return instances, data


def read_image(inst: CocoInstance) -> np.ndarray:
    """H×W×3 uint8 BGR image of an instance; a missing or corrupt file raises :class:`DataError` naming it."""
    if not inst.file.is_file():
        raise DataError(f"image {inst.file} (image_id {inst.image_id}) does not exist; check the image folder")
    try:
        return load_image(inst.file, cv2.IMREAD_COLOR)
    except DataError as e:
        raise DataError(f"{e} (image_id {inst.image_id})") from e


class CocoKeypoints:
    """Top-down samples: an affine crop per person box, normalised, with Gaussian targets from the shared codec.

    ``inference`` is the model's pre-processing, codec and keypoints (:class:`runtime.package.InferenceSpec`), the
    settings every checkpoint records and every package carries: training and evaluation crop exactly as a runtime
    will.

    A sample is a dict of numpy arrays (the default torch collate stacks them):
        image: 3×H×W float32 normalised crop; target: K×h×w float32; target_weight: K float32;
        matrix: 2×3 image → input affine; image_id, ann_id: int; score: float box score.
    """

    def __init__(
        self,
        instances: list[CocoInstance],
        inference: InferenceSpec,
        augmentation: Augmentation | None = None,
        seed: int | None = None,
    ) -> None:
        self.instances = instances
        self.inference = inference
        self.codec = inference.codec
        self.preprocess = inference.preprocess
        self.keypoints = inference.keypoints
        self.padding = inference.preprocess.box_padding
        self.aug = augmentation
        self.seed = seed
        self.epoch = 0
        k = instances[0].keypoints.shape[0] if instances else self.keypoints.num_keypoints
        if k != self.keypoints.num_keypoints:
            want = self.keypoints.num_keypoints
            raise DataError(
                f"the annotations have {k} keypoints per person but the model's keypoint set has {want}; "
                f"load them with num_keypoints={want}"
            )
        self.flip_perm = self.keypoints.flip_perm()

    def set_epoch(self, epoch: int) -> None:
        """Augmentations are a function of (seed, epoch, index): reproducible and distinct across loader workers."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.instances)

    def _half_body(self, kps: np.ndarray, rng: np.random.Generator) -> np.ndarray | None:
        """A box (x, y, w, h) around the upper or lower body's labelled keypoints, or None."""
        labelled = kps[:, 2] > 0
        upper = np.zeros(len(kps), bool)
        upper[[i for i in UPPER_BODY if i < len(kps)]] = True
        parts = [labelled & upper, labelled & ~upper]
        if rng.random() < 0.5:
            parts.reverse()
        sel = parts[0] if parts[0].sum() >= 2 else parts[1]
        if sel.sum() < 2:
            return None
        lo, hi = kps[sel, :2].min(0), kps[sel, :2].max(0)
        return np.array([lo[0], lo[1], max(hi[0] - lo[0], 1.0), max(hi[1] - lo[1], 1.0)])

    def __getitem__(self, i: int) -> dict[str, Any]:
        inst = self.instances[i]
        image = read_image(inst)
        h_in, w_in = self.codec.input_size
        bbox, padding = inst.bbox, self.padding
        kps = inst.keypoints.copy()
        rot, shift, flip = 0.0, np.zeros(2), False
        a = self.aug
        seed = [self.seed, self.epoch, i] if self.seed is not None else None
        rng = np.random.default_rng(seed)
        if a is not None:
            if (kps[:, 2] > 0).sum() > a.half_body_min_keypoints and rng.random() < a.half_body_prob:
                half = self._half_body(kps, rng)
                if half is not None:
                    bbox, padding = half, a.half_body_padding
            if rng.random() < a.rotation_prob:
                rot = float(np.clip(rng.normal(0, a.rotation / 2), -a.rotation, a.rotation))
            if rng.random() < a.shift_prob:
                shift = rng.uniform(-a.shift_factor, a.shift_factor, 2)
            flip = rng.random() < a.flip_prob
        center, scale = box_to_center_scale(bbox, w_in / h_in, padding)
        if a is not None:
            scale = scale * rng.uniform(1 - a.scale_factor, 1 + a.scale_factor)
        matrix = get_warp_matrix(center, scale, (w_in, h_in), rot, shift, self.preprocess.centre_offset)
        crop = warp_crop(image, matrix, (w_in, h_in))
        xy = apply_affine(kps[:, :2], matrix)
        vis = kps[:, 2]
        if flip:
            crop = crop[:, ::-1]
            xy, vis = flip_keypoints(xy, vis, w_in, self.flip_perm)
        target, weight = self.codec.encode(xy, vis)
        return dict(
            image=self.preprocess.normalize(np.ascontiguousarray(crop)[None])[0],
            target=target,
            target_weight=weight,
            matrix=matrix.astype(np.float64),
            image_id=inst.image_id,
            ann_id=inst.ann_id,
            score=np.float32(inst.score),
        )
