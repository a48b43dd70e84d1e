"""``PoseTracker``: stable person ids across video frames, from the poses of each frame (numpy only).

Shape legend: N poses of a frame, T tracks, K keypoints. Boxes are (x1, y1, x2, y2) image pixels; keypoints (x, y)
image pixels.

One frame is two calls. :meth:`PoseTracker.boxes` gives the boxes to run the pose model on: on a detection frame the
detector's boxes, merged with the boxes of the people tracked in the last frame that no detector box covers (a
person the detector missed once is not dropped); between detections only the tracked boxes, each the box of the
person's last confident keypoints grown by ``box_grow``. :meth:`PoseTracker.update` takes the poses found in those
boxes and:

1. drops the poses of tracked boxes whose person is gone (fewer than ``min_keypoints`` keypoints scored at least
   ``keypoint_thr``: the box now holds background), and the duplicates among the rest (OKS-NMS at ``oks_nms_thr``);
2. matches poses to tracks greedily, the most similar pair first, by OKS of the pose with the track's last pose
   moved on by its velocity (or by IoU of their boxes, ``match="iou"``), a pair counting from ``match_thr`` up;
3. starts a track for each unmatched pose of a detector box scored at least ``new_track_thr``, with
   ``min_keypoints`` confident keypoints and at least ``min_area`` px² large, with the next id of the tracker's own
   counter (ids are never reused, and a track is found by id in a dict, never by list position);
4. counts the frames each unmatched track has been missing, and forgets it after ``max_missing``; until then a
   pose that matches its predicted box takes its id back;
5. with ``smoothing``, filters each track's keypoints through its own :class:`~runtime.tracking.OneEuroFilter`,
   on the frames' timestamps.

The defaults are MMDeploy's pose tracker's (``pose_tracker.cpp``), whose choices we checked on swinpose-synth's
videos, except where a field's comment says otherwise.

``runtime/cpp/src/tracker.cpp`` is this module step for step (``swinpose::PoseTracker``, the same fields and
defaults); ``tests/test_cpp.py`` replays this tracker's frames through it. A change here is a change there.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from runtime.engine import PoseResult
from runtime.errors import ConfigError, InputShapeError
from runtime.results import instance_scores, oks_matrix, oks_nms, oks_sigmas
from runtime.tracking.one_euro import OneEuroConfig, OneEuroFilter

__all__ = ["TrackerConfig", "PoseTracker", "TrackResult", "keypoint_boxes", "iou_matrix", "greedy_pairs"]

MATCHES = ("iou", "oks")


@dataclass(frozen=True)
class TrackerConfig:
    """Every threshold of :class:`PoseTracker`, with its default and where it comes from."""

    #: similarity from which a pose and a track match (MMDeploy's ``track_iou_thr`` 0.4, here on OKS)
    match_thr: float = 0.4
    #: "oks" (keypoint similarity: ours) or "iou" (box overlap: MMDeploy, rtmlib). On swinpose-synth's videos (6
    #: videos, 4 walkers each, det_interval 1) OKS made 16 id switches where IoU made 27: two people side by side
    #: have overlapping boxes but different keypoints
    match: str = "oks"
    #: frames a track may go unseen and still take its id back (MMDeploy's ``track_max_missing``)
    max_missing: int = 10
    #: px² a pose's box needs to start a track (rtmlib's 1000: a 25×40 px person; smaller ones are mostly noise)
    min_area: float = 1000.0
    #: keypoint score from which a keypoint counts for the next box (MMDeploy's ``pose_kpt_thr`` 0.5)
    keypoint_thr: float = 0.5
    #: confident keypoints a pose needs for a box of its own (MMDeploy's ``pose_min_keypoints``: ceil(K/2) for K
    #: keypoints; None means that)
    min_keypoints: int | None = None
    #: factor the box of the confident keypoints is grown by for the next frame (MMDeploy's and rtmlib's 1.25)
    box_grow: float = 1.25
    #: OKS above which the weaker of two poses of a frame is a duplicate (MMDeploy's ``pose_nms_thr`` 0.5: a person
    #: found both by the detector and by their track gives two poses this close)
    oks_nms_thr: float = 0.5
    #: IoU from which a detector box stands in for a tracked box on detection frames, one detector box for one tracked
    #: box, the most overlapping pairs first (ours: a tracked box grown by ``box_grow`` overlaps the detector's box of
    #: the same person by 0.5-0.8 on swinpose-synth's videos; pairing one to one keeps the tracked box of a
    #: neighbour that overlaps someone else's detection, which MMDeploy's IoU-NMS at 0.7 can drop)
    merge_iou_thr: float = 0.5
    #: box score a detection needs to start a track (MMDeploy's ``det_thr`` 0.5); weaker detections still give back
    #: their ids to tracks that exist
    new_track_thr: float = 0.5
    #: weight of the newest step in a track's velocity (ours: an exponential average of the box centre's steps,
    #: which carries a person hidden for a few frames on to where they come out)
    velocity_weight: float = 0.5
    #: (the next frame's box is also moved on by the velocity, so a fast walker stays inside it)
    #: the One Euro filter of each track's keypoints (None: raw keypoints)
    smoothing: OneEuroConfig | None = None

    def __post_init__(self) -> None:
        if self.match not in MATCHES:
            raise ConfigError(f"match must be one of {MATCHES}, got {self.match!r}")
        for name in ("match_thr", "keypoint_thr", "oks_nms_thr", "merge_iou_thr", "new_track_thr", "velocity_weight"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
                raise ConfigError(f"{name} must be between 0 and 1, got {value!r}")
        for name in ("max_missing", "min_keypoints"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                raise ConfigError(f"{name} must be a whole number >= 0, got {value!r}")
        for name, low in (("min_area", 0.0), ("box_grow", 1.0)):
            value = getattr(self, name)
            number = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
            if not number or value < low:
                raise ConfigError(f"{name} must be a number >= {low:g}, got {value!r}")
        if self.smoothing is not None and not isinstance(self.smoothing, OneEuroConfig):
            raise ConfigError(f"smoothing must be a OneEuroConfig or None, got {type(self.smoothing).__name__}")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["smoothing"] = None if self.smoothing is None else self.smoothing.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrackerConfig:
        d = dict(d)
        if d.get("smoothing") is not None:
            d["smoothing"] = OneEuroConfig.from_dict(d["smoothing"])
        return cls(**d)


@dataclass
class TrackResult(PoseResult):
    """One frame's tracked people: :class:`~runtime.PoseResult`'s fields (``keypoints`` smoothed where the tracker
    smooths) and each person's ``track_ids`` (N,) int64, in the order of their ids."""

    track_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    def to_coco(self, image_id: int, rescore: bool = True, frame: int | None = None) -> list[dict]:
        """COCO keypoint results with ``track_id`` (and ``frame`` when given), as PoseTrack-style tools read them."""
        entries = super().to_coco(image_id, rescore)
        for entry, track_id in zip(entries, self.track_ids):
            entry["track_id"] = int(track_id)
            if frame is not None:
                entry["frame"] = int(frame)
        return entries


def keypoint_boxes(
    keypoints: np.ndarray, scores: np.ndarray, thr: float, min_count: int, grow: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """N×4 boxes of each pose's keypoints scored at least ``thr``, grown ``grow``× about their centre, and (N,)
    whether the pose had ``min_count`` such keypoints (its box row is all zero where not)."""
    n = len(keypoints)
    ok = (scores >= thr).sum(1) >= max(min_count, 1)
    boxes = np.zeros((n, 4))
    for i in np.nonzero(ok)[0]:
        pts = keypoints[i][scores[i] >= thr]
        lo, hi = pts.min(0), pts.max(0)
        centre, half = (lo + hi) / 2, (hi - lo) / 2 * grow
        boxes[i] = [*(centre - half), *(centre + half)]
    return boxes, ok


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box of A×4 ``a`` with every box of B×4 ``b``: A×B."""
    lo = np.maximum(a[:, None, :2], b[None, :, :2])
    hi = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(hi - lo, 0, None).prod(-1)
    area_a = np.clip(a[:, 2:] - a[:, :2], 0, None).prod(-1)
    area_b = np.clip(b[:, 2:] - b[:, :2], 0, None).prod(-1)
    union = area_a[:, None] + area_b[None] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def greedy_pairs(similarity: np.ndarray, thr: float) -> list[tuple[int, int]]:
    """(row, column) pairs, most similar first, each row and column used once, similarity at least ``thr``."""
    pairs: list[tuple[int, int]] = []
    if not similarity.size:
        return pairs
    order = np.argsort(-similarity, axis=None, kind="stable")
    rows, cols = set(), set()
    for flat in order:
        r, c = divmod(int(flat), similarity.shape[1])
        if similarity[r, c] < thr:
            break
        if r in rows or c in cols:
            continue
        pairs.append((r, c))
        rows.add(r)
        cols.add(c)
    return pairs


@dataclass
class _Track:
    track_id: int
    box: np.ndarray  # (4,) the box of its last pose (confident keypoints, else the crop box)
    keypoints: np.ndarray  # K×2 raw keypoints of its last pose
    score: float  # the box score it carries to the boxes made from its poses
    next_box: np.ndarray | None  # (4,) where to look next frame (None: too few confident keypoints)
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(2))  # box centre px/frame
    missing: int = 0
    smoother: OneEuroFilter | None = None

    def predicted_box(self) -> np.ndarray:
        return self.box + np.tile(self.velocity * (self.missing + 1), 2)


class PoseTracker:
    """Person ids across the frames of one video (see the module docstring for the algorithm).

    Args:
        config: the thresholds.
        sigmas: (K,) OKS sigmas of the keypoint set (None: COCO's for K = 17, else 0.05 each).
        fps: the video's frame rate: the smoothing's time step where frames come without timestamps.
    """

    def __init__(self, config: TrackerConfig | None = None, sigmas: np.ndarray | None = None, fps: float = 25.0):
        config = TrackerConfig() if config is None else config
        if not isinstance(config, TrackerConfig):
            raise ConfigError(f"config must be a TrackerConfig, got {type(config).__name__}")
        self.config, self.fps = config, float(fps)
        OneEuroFilter(fps=fps)  # checks the frame rate
        self.sigmas = None if sigmas is None else np.asarray(sigmas, np.float64)
        self.tracks: dict[int, _Track] = {}
        self._next_id = 1
        self._pending: np.ndarray | None = None  # per box of the last boxes(): its track id, or -1 for the detector's

    def reset(self) -> None:
        """Forget every track (a new video); ids go on from where they were."""
        self.tracks.clear()
        self._pending = None

    @property
    def following(self) -> int:
        """How many people the last frame's poses give a box for (0: only a detector can find anyone)."""
        return sum(t.missing == 0 and t.next_box is not None for t in self.tracks.values())

    def boxes(self, detections: np.ndarray | None, image_shape: tuple[int, ...]) -> np.ndarray:
        """The N×5 (xyxy, score) boxes to run the pose model on this frame: ``detections`` (N×5, or N×4 scored 1;
        None between detections) merged with the boxes of the tracks seen last frame, clipped to the image."""
        h, w = image_shape[:2]
        live = [t for t in self.tracks.values() if t.missing == 0 and t.next_box is not None]
        tracked = np.array([[*t.next_box, t.score] for t in live]).reshape(-1, 5)
        ids = np.array([t.track_id for t in live], np.int64)
        if detections is not None:
            det = np.asarray(detections, np.float64)
            det = det.reshape(-1, det.shape[-1]) if det.size else np.zeros((0, 5))
            if det.shape[1] == 4:
                det = np.concatenate([det, np.ones((len(det), 1))], 1)
            if det.shape[1] != 5:
                raise InputShapeError(f"detections must be N×4 or N×5 (xyxy, score), got shape {det.shape}")
            pairs = greedy_pairs(iou_matrix(tracked[:, :4], det[:, :4]), self.config.merge_iou_thr)
            covered = np.isin(np.arange(len(tracked)), [r for r, _ in pairs])
            tracked, ids = tracked[~covered], ids[~covered]
            boxes = np.concatenate([det, tracked])
            ids = np.concatenate([np.full(len(det), -1, np.int64), ids])
        else:
            boxes = tracked
        boxes = boxes.copy()
        boxes[:, :4] = np.clip(boxes[:, :4], 0, [w, h, w, h])
        keep = (boxes[:, 2] > boxes[:, 0] + 1) & (boxes[:, 3] > boxes[:, 1] + 1)
        self._pending = ids[keep]
        return boxes[keep]

    def update(self, poses: PoseResult, timestamp: float | None = None) -> TrackResult:
        """The tracked people of this frame, from the poses the pose model found in :meth:`boxes`' boxes (in their
        order). ``timestamp``: seconds, for the smoothing (None: frames are ``1/fps`` apart)."""
        cfg = self.config
        n, k = len(poses), poses.keypoints.shape[1] if poses.keypoints.ndim == 3 else 0
        origin = self._pending if self._pending is not None and len(self._pending) == n else np.full(n, -1)
        self._pending = None
        sigmas = oks_sigmas(k, self.sigmas)
        min_kp = cfg.min_keypoints if cfg.min_keypoints is not None else math.ceil(k / 2)
        kp_boxes, confident = keypoint_boxes(poses.keypoints, poses.scores, cfg.keypoint_thr, min_kp)
        # 1. the poses of tracked boxes whose person has gone, then duplicates
        alive = np.nonzero((origin < 0) | confident)[0]
        if len(alive):
            areas = (poses.boxes[alive, 2:] - poses.boxes[alive, :2]).prod(1)
            inst = instance_scores(poses.scores[alive], poses.box_scores[alive])
            alive = alive[oks_nms(poses.keypoints[alive], inst, areas, cfg.oks_nms_thr, sigmas)]
        pose_boxes = np.where(confident[alive, None], kp_boxes[alive], poses.boxes[alive])
        # 2. greedy matching against the tracks' predicted boxes
        tracks = list(self.tracks.values())
        if cfg.match == "iou":
            sim = iou_matrix(np.array([t.predicted_box() for t in tracks]).reshape(-1, 4), pose_boxes)
        else:
            shift = np.array([t.velocity * (t.missing + 1) for t in tracks]).reshape(-1, 1, 2)
            moved = np.array([t.keypoints for t in tracks]).reshape(-1, k, 2) + shift
            areas = (pose_boxes[:, 2:] - pose_boxes[:, :2]).prod(1)
            sim = oks_matrix(moved, poses.keypoints[alive], areas[None], sigmas)
        matched = dict((c, tracks[r]) for r, c in greedy_pairs(sim, cfg.match_thr))
        out_ids, out_kps, rows = [], [], []
        for j, i in enumerate(alive):
            box = pose_boxes[j]
            track = matched.get(j)
            if track is None:
                weak = origin[i] >= 0 or poses.box_scores[i] < cfg.new_track_thr or not confident[i]
                if weak or (box[2:] - box[:2]).prod() < cfg.min_area:
                    continue  # 3. not enough to start a track on
                track = _Track(self._next_id, box, poses.keypoints[i], float(poses.box_scores[i]), None)
                if cfg.smoothing is not None:
                    track.smoother = OneEuroFilter(cfg.smoothing, self.fps)
                self.tracks[track.track_id] = track
                self._next_id += 1
            else:
                step = ((box[:2] + box[2:]) - (track.box[:2] + track.box[2:])) / 2 / (track.missing + 1)
                track.velocity = cfg.velocity_weight * step + (1 - cfg.velocity_weight) * track.velocity
                track.box, track.keypoints, track.missing = box, poses.keypoints[i], 0
                if origin[i] < 0:  # a detector box: its score is the one to carry on
                    track.score = float(poses.box_scores[i])
            track.next_box = self._grown(box) + np.tile(track.velocity, 2) if confident[i] else None
            kps = poses.keypoints[i]
            if track.smoother is not None:
                kps = track.smoother.filter(kps, timestamp)
            out_ids.append(track.track_id)
            out_kps.append(kps)
            rows.append(i)
        # 4. tracks not seen this frame
        seen = set(out_ids)
        for track in tracks:
            if track.track_id not in seen:
                track.missing += 1
                if track.missing > cfg.max_missing:
                    del self.tracks[track.track_id]
        order = np.argsort(np.asarray(out_ids, np.int64), kind="stable")
        rows_a = np.asarray(rows, np.int64)[order]
        return TrackResult(
            np.asarray(out_kps, np.float64).reshape(-1, k, 2)[order],
            poses.scores[rows_a],
            poses.boxes[rows_a],
            poses.box_scores[rows_a],
            np.asarray(out_ids, np.int64)[order],
        )

    def _grown(self, box: np.ndarray) -> np.ndarray:
        centre, half = (box[:2] + box[2:]) / 2, (box[2:] - box[:2]) / 2 * self.config.box_grow
        return np.concatenate([centre - half, centre + half])
