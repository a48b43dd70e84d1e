"""Tracking metrics on videos with ground-truth tracks: coverage, id switches and false positives (numpy only).

Shape legend: G ground-truth people and P predicted people of a frame, K keypoints.

In each frame, predictions are matched one to one to ground-truth people by OKS (COCO's, with the ground truth's
area and visible keypoints), greedily from the most similar pair, a pair counting from ``oks_thr``. Then, as in the
CLEAR-MOT metrics (Bernardin and Stiefelhagen, 2008):

* **coverage**: the share of ground-truth person-frames that some prediction matched (of those with at least
  ``min_visible`` visible keypoints; people less visible than that may be matched but are not counted missing);
* **id switches**: the times a ground-truth person is matched to a different predicted id than at their last match;
* **false positives**: predictions that matched nobody.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from runtime.errors import DataError
from runtime.results import oks_matrix
from runtime.tracking import greedy_pairs

__all__ = ["TrackingScore", "FramePeople", "score_tracks", "read_video_annotations"]


@dataclass
class FramePeople:
    """The people of one frame: ``ids`` (N,), ``keypoints`` N×K×2 (x, y) pixels and, for ground truth,
    ``visible`` N×K (keypoints in sight: COCO's v = 2) and ``areas`` (N,)."""

    ids: np.ndarray
    keypoints: np.ndarray
    visible: np.ndarray | None = None
    areas: np.ndarray | None = None

    @classmethod
    def from_annotations(cls, people: list[dict]) -> FramePeople:
        """Ground truth from annotations with ``track_id``, ``keypoints`` (K×3 or flat x, y, v) and ``area``; visible
        means COCO's v = 2 (v = 1 keypoints are hidden behind something)."""
        kps = np.array([np.reshape(a["keypoints"], (-1, 3)) for a in people], np.float64).reshape(len(people), -1, 3)
        return cls(
            np.array([a["track_id"] for a in people], np.int64),
            kps[..., :2],
            kps[..., 2] == 2,
            np.array([a["area"] for a in people], np.float64),
        )


@dataclass(frozen=True)
class TrackingScore:
    """The metrics of a set of videos (see the module docstring)."""

    person_frames: int  #: ground-truth person-frames that count
    covered: int  #: of them, matched
    id_switches: int
    false_positives: int
    predicted_ids: int  #: distinct predicted ids
    true_tracks: int  #: distinct ground-truth ids

    @property
    def coverage(self) -> float:
        return self.covered / self.person_frames if self.person_frames else 1.0

    def to_dict(self) -> dict:
        return {**asdict(self), "coverage": round(self.coverage, 4)}


def score_tracks(
    videos: list[tuple[list[FramePeople], list[FramePeople]]],
    oks_thr: float = 0.5,
    min_visible: int = 6,
    sigmas: np.ndarray | None = None,
) -> TrackingScore:
    """The metrics of ``videos``: per video, (ground truth, predictions), one :class:`FramePeople` per frame."""
    totals = dict(person_frames=0, covered=0, id_switches=0, false_positives=0, predicted_ids=0, true_tracks=0)
    for v, (truth, pred) in enumerate(videos):
        if len(truth) != len(pred):
            raise DataError(f"video {v}: {len(truth)} frames of ground truth but {len(pred)} of predictions")
        last: dict[int, int] = {}
        pred_ids: set[int] = set()
        true_ids: set[int] = set()
        for gt, pr in zip(truth, pred):
            if len(gt.ids) and len(pr.ids):
                sim = oks_matrix(gt.keypoints, pr.keypoints, gt.areas[:, None], sigmas, visible=gt.visible)
            else:
                sim = np.zeros((len(gt.ids), len(pr.ids)))
            pairs = greedy_pairs(sim, oks_thr)
            counts = gt.visible.sum(1) >= min_visible if len(gt.ids) else np.zeros(0, bool)
            totals["person_frames"] += int(counts.sum())
            totals["covered"] += sum(bool(counts[g]) for g, _ in pairs)
            totals["false_positives"] += len(pr.ids) - len(pairs)
            for g, p in pairs:
                gid, pid = int(gt.ids[g]), int(pr.ids[p])
                if gid in last and last[gid] != pid:
                    totals["id_switches"] += 1
                last[gid] = pid
            pred_ids.update(int(i) for i in pr.ids)
            true_ids.update(int(i) for i in gt.ids[counts])
        totals["predicted_ids"] += len(pred_ids)
        totals["true_tracks"] += len(true_ids)
    return TrackingScore(**totals)


def read_video_annotations(path: str | Path) -> tuple[dict, list[FramePeople]]:
    """A PoseTrack18-style annotation file (``swinpose-synth --videos``): its ``info`` and the ground truth of each
    frame, in ``frame_id`` order (:meth:`FramePeople.from_annotations`)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
        images = sorted(data["images"], key=lambda im: im["frame_id"])
        anns = data["annotations"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise DataError(f"{path} is not a PoseTrack-style annotation file (images with frame_id): {e}") from e
    by_image: dict[int, list[dict]] = {}
    for a in anns:
        by_image.setdefault(a["image_id"], []).append(a)
    frames = [FramePeople.from_annotations(by_image.get(im["id"], [])) for im in images]
    return data.get("info", {}), frames
