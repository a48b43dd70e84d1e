"""Person boxes from the files people have, matched to the images they belong to (numpy only).

Three layouts are read (:func:`read_boxes`):

- **COCO annotations** (``{"images": [...], "annotations": [...]}``: COCO, OCHuman, PoseTrack18, Human-Art,
  CrowdPose): the ground-truth person boxes, keyed by each image's ``file_name`` (which may hold a sub-path, as
  PoseTrack18's ``images/val/<seq>/000000.jpg`` does), with each image's ``id`` from the file;
- **COCO detection results** (``[{"image_id", "bbox": [x, y, w, h], "score", "category_id"}, ...]``), keyed by
  ``image_id``: an annotation file given beside them (``--ann``) maps ids to file names; without one an image's id is
  its numeric file stem, as COCO's own names are (``000000000785.jpg`` → 785);
- **a dict** ``{file name, stem, numeric id or frame index: [[x1, y1, x2, y2(, score)], ...]}``.

:meth:`BoxIndex.match` pairs an image (its path relative to the image root the user gave) with its entry: by the
whole relative path, else by the entry whose path ends with it or that it ends with, component by component. Two
entries that fit one image are refused as ambiguous. What matched nothing is counted (:meth:`BoxIndex.unmatched`)
so that the caller can say so.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from runtime.errors import DataError

__all__ = ["BoxIndex", "read_boxes"]


@dataclass
class BoxIndex:
    """Boxes per entry (N×5 xyxy + score, float64) and each entry's image id where the file gives one."""

    source: str
    kind: str  #: "annotations", "detections" or "dict"
    boxes: dict[str, np.ndarray]
    ids: dict[str, int] = field(default_factory=dict)
    _used: set[str] = field(default_factory=set)

    def match(self, rel: str) -> tuple[str | None, int | None]:
        """The entry key of the image at ``rel`` (POSIX path relative to the image root, or a frame index) and its
        image id from the file, or (None, None). Raises DataError when two entries fit."""
        rel = str(PurePosixPath(rel))
        stem = PurePosixPath(rel).stem
        number = [str(int(stem))] if stem.isdigit() else []  # COCO's 000000000785.jpg is image 785
        candidates = [rel, PurePosixPath(rel).name, stem, *number]
        if self.kind == "detections":
            candidates = number
        for key in dict.fromkeys(candidates):
            if key in self.boxes:
                self._used.add(key)
                return key, self.ids.get(key)
        if self.kind != "annotations":
            return None, None
        parts = PurePosixPath(rel).parts
        fits = [k for k in self.boxes if _suffix(_parts(k), parts) or _suffix(parts, _parts(k))]
        if len(fits) > 1:
            raise DataError(
                f"{rel} fits {len(fits)} images of {self.source} ({', '.join(sorted(fits)[:3])}, ...); "
                "pass the image root their file_names are relative to"
            )
        if fits:
            self._used.add(fits[0])
            return fits[0], self.ids.get(fits[0])
        return None, None

    def unmatched(self) -> list[str]:
        """The entries (with at least one box) that no image matched so far."""
        return sorted(k for k, b in self.boxes.items() if k not in self._used and len(b))

    def __len__(self) -> int:
        return len(self.boxes)


def _parts(key: str) -> tuple[str, ...]:
    return PurePosixPath(key).parts


def _suffix(long: tuple[str, ...], short: tuple[str, ...]) -> bool:
    return 0 < len(short) <= len(long) and long[-len(short) :] == short


def _box(value: Any, where: str, xywh: bool) -> list[float]:
    """One box as [x1, y1, x2, y2, score]; DataError naming ``where`` for anything else."""
    shape = "[x, y, w, h]" if xywh else "[x1, y1, x2, y2] or [x1, y1, x2, y2, score]"
    if isinstance(value, (str, bytes, dict)) or not hasattr(value, "__len__") or len(value) not in (4, 5):
        raise DataError(f"{where}: a box must be {shape}, got {value!r:.80}")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value):
        raise DataError(f"{where}: a box must be finite numbers, got {value!r:.80}")
    box = [float(v) for v in value]
    if xywh:
        box = [box[0], box[1], box[0] + box[2], box[1] + box[3], *box[4:]]
    return box[:5] if len(box) == 5 else [*box, 1.0]


def _entries(data: list, path: Path) -> dict[str, list]:
    rows: dict[str, list] = {}
    for i, det in enumerate(data):
        where = f"{path} entry {i}"
        if not isinstance(det, dict):
            raise DataError(
                f"{where} is {type(det).__name__} {det!r:.60}, not a detection; a detection-results file "
                'is a list of {"image_id", "bbox": [x, y, w, h], "score"} objects'
            )
        if "image_id" not in det:
            hint = (
                ' (OpenPifPaf\'s per-image *.predictions.json has no image ids: pass {"<image file>": '
                "[[x1, y1, x2, y2, score], ...]} instead)"
                if "keypoints" in det
                else ""
            )
            raise DataError(f"{where} has no image_id{hint}")
        if "bbox" not in det:
            raise DataError(f'{where} has no bbox; detections need "bbox": [x, y, w, h]')
        if det.get("category_id", 1) != 1:
            continue
        score = det.get("score", 1.0)
        if isinstance(score, bool) or not isinstance(score, (int, float)):
            raise DataError(f"{where}: score must be a number, got {score!r:.40}")
        box = _box(det["bbox"], where, xywh=True)
        box[4] = float(score)
        rows.setdefault(str(det["image_id"]), []).append(box)
    return rows


def _annotations(data: dict, path: Path) -> tuple[dict[str, list], dict[str, int], dict[int, str]]:
    images = data.get("images")
    if not isinstance(images, list):
        raise DataError(f"{path} has annotations but no images list; a COCO file needs both")
    names: dict[int, str] = {}
    for i, im in enumerate(images):
        if not isinstance(im, dict) or "id" not in im or "file_name" not in im:
            raise DataError(f"{path} images[{i}] needs an id and a file_name")
        names[im["id"]] = str(PurePosixPath(str(im["file_name"])))
    rows: dict[str, list] = {name: [] for name in names.values()}
    ids = {name: image_id for image_id, name in names.items()}
    for i, ann in enumerate(data["annotations"]):
        where = f"{path} annotations[{i}]"
        if not isinstance(ann, dict) or "image_id" not in ann or "bbox" not in ann:
            raise DataError(f"{where} needs an image_id and a bbox [x, y, w, h]")
        if ann["image_id"] not in names:
            raise DataError(f"{where}: image_id {ann['image_id']!r} is not in the file's images")
        if ann.get("category_id", 1) == 1 and not ann.get("iscrowd", 0):
            rows[names[ann["image_id"]]].append(_box(ann["bbox"], where, xywh=True))
    return rows, ids, names


def read_boxes(path: str | Path, score_thr: float = 0.0, annotations: str | Path | None = None) -> BoxIndex:
    """The person boxes of ``path`` (any of the module's layouts), those scored below ``score_thr`` dropped.
    ``annotations``: a COCO annotation file that maps a detection file's image ids to file names."""
    path = Path(path)
    data = _load(path)
    ids: dict[str, int] = {}
    if isinstance(data, list):
        kind, rows = "detections", _entries(data, path)
        if annotations is not None:
            ann = _load(Path(annotations))
            if not isinstance(ann, dict) or "images" not in ann:
                raise DataError(f"{annotations} is not a COCO annotation file (no images list)")
            _, ids, names = _annotations({"annotations": [], **ann}, Path(annotations))
            unknown = sorted(k for k in rows if not any(str(i) == k for i in names))
            if unknown:
                raise DataError(
                    f"{path}: image ids {unknown[:5]} are not in {annotations}; pass the annotation "
                    "file the detections were made for"
                )
            by_id = {str(i): n for i, n in names.items()}
            rows = {by_id[k]: v for k, v in rows.items()}
            kind = "annotations"  # now keyed by file name, matched like an annotation file
    elif isinstance(data, dict) and "annotations" in data:
        kind = "annotations"
        rows, ids, _ = _annotations(data, path)
    elif isinstance(data, dict):
        kind, rows = "dict", {}
        for key, value in data.items():
            if not isinstance(value, list):
                raise DataError(
                    f"{path} [{key!r}] is {value!r:.60}; a boxes dict maps each image to a list of "
                    "[x1, y1, x2, y2(, score)] boxes"
                )
            where = f"{path} [{key!r}]"
            rows[str(PurePosixPath(str(key)))] = [_box(b, f"{where} box {j}", False) for j, b in enumerate(value)]
    else:
        raise DataError(
            f"{path} holds {type(data).__name__}; pass COCO detection results (a list), a COCO annotation "
            "file, or {image: [[x1, y1, x2, y2, score], ...]}"
        )
    arrays = {k: np.asarray(v, np.float64).reshape(-1, 5) for k, v in rows.items()}
    return BoxIndex(str(path), kind, {k: b[b[:, 4] >= score_thr] for k, b in arrays.items()}, ids)


def _load(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise DataError(f"cannot read boxes from {path} ({e}); pass a COCO detection-results or annotation JSON") from e
