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
from runtime.keypoints import COCO_SIGMAS

__all__ = ["TrackingScore", "FramePeople", "score_tracks", "read_video_annotations"]


@dataclass
class FramePeople:
    """The people of one frame: ``ids`` (N,), ``keypoints`` N×K×2 (x, y) pixels and, for ground truth,
    ``visible`` N×K (the COCO flag v > 0) and ``areas`` (N,)."""

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


def _oks(gt: FramePeople, pred: FramePeople, sigmas: np.ndarray) -> np.ndarray:
    """G×P OKS, over each ground-truth person's visible keypoints."""
    var = (2 * sigmas) ** 2
    d2 = ((gt.keypoints[:, None] - pred.keypoints[None]) ** 2).sum(-1)  # G×P×K
    e = d2 / (2 * var * np.maximum(gt.areas, np.spacing(1))[:, None, None])
    vis = gt.visible[:, None, :]
    return np.where(vis.any(-1), (np.exp(-e) * vis).sum(-1) / np.maximum(vis.sum(-1), 1), 0.0)


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
            k = gt.keypoints.shape[1] if gt.keypoints.ndim == 3 else pr.keypoints.shape[1]
            s = np.asarray(sigmas if sigmas is not None else (COCO_SIGMAS if k == 17 else [0.05] * k), np.float64)
            sim = _oks(gt, pr, s) if len(gt.ids) and len(pr.ids) else np.zeros((len(gt.ids), len(pr.ids)))
            order = np.argsort(-sim, axis=None, kind="stable")
            used_g, used_p, pairs = set(), set(), []
            for flat in order:
                g, p = divmod(int(flat), max(sim.shape[1], 1))
                if sim[g, p] < oks_thr:
                    break
                if g not in used_g and p not in used_p:
                    used_g.add(g)
                    used_p.add(p)
                    pairs.append((g, p))
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
