"""The tracker, the One Euro filter and the tracking metrics, on hand-made sequences (no model).

References: the ``OneEuroFilter`` package (the filter's authors' implementation) for the smoothing; sequences whose
right answer is known by construction (who walks where, who is hidden when) for the tracker; hand-counted id switches
and coverage for the metrics.
"""

from __future__ import annotations

import numpy as np
import pytest
from OneEuroFilter import OneEuroFilter as ReferenceOneEuro

from runtime.engine import PoseResult
from runtime.errors import ConfigError, InputShapeError
from runtime.tracking import OneEuroConfig, OneEuroFilter, PoseTracker, TrackerConfig, iou_matrix, keypoint_boxes
from swinpose.track_eval import FramePeople, score_tracks

IMAGE = (480, 640, 3)
#: a standing figure's 17 COCO keypoints, as offsets from its pelvis in units of its height
TEMPLATE = np.array(
    [
        [0, -0.62], [0.03, -0.64], [-0.03, -0.64], [0.06, -0.62], [-0.06, -0.62],
        [0.12, -0.45], [-0.12, -0.45], [0.16, -0.25], [-0.16, -0.25], [0.18, -0.05], [-0.18, -0.05],
        [0.08, 0.0], [-0.08, 0.0], [0.09, 0.24], [-0.09, 0.24], [0.1, 0.47], [-0.1, 0.47],
    ]
)  # fmt: skip
ARMS_UP = TEMPLATE.copy()
ARMS_UP[[7, 8, 9, 10], 1] = [-0.65, -0.65, -0.85, -0.85]  # a second person, told apart by pose only


def _person(centre: tuple[float, float], height: float = 160.0, template: np.ndarray = TEMPLATE) -> np.ndarray:
    return np.asarray(centre) + template * height


class _World:
    """People at known places; a 'pose model' that, for each box, gives the pose of the visible person whose pelvis
    is inside it (the one nearest its centre), or low-scored noise where nobody is."""

    def __init__(self, tracker: PoseTracker) -> None:
        self.tracker = tracker

    def frame(self, people: dict[str, np.ndarray], detect: bool, detect_only: set[str] | None = None) -> dict:
        """One frame: ``people`` name → K×2 keypoints (hidden people are left out). Returns name → track id."""
        dets = None
        if detect:
            dets = [
                [*(kp.min(0) - 8), *(kp.max(0) + 8), 0.9]
                for name, kp in people.items()
                if detect_only is None or name in detect_only
            ]
            dets = np.array(dets).reshape(-1, 5)
        boxes = self.tracker.boxes(dets, IMAGE)
        kps, scores, owner = [], [], []
        for box in boxes:
            centre = (box[:2] + box[2:4]) / 2
            inside = {
                n: np.linalg.norm(kp[11:13].mean(0) - centre)
                for n, kp in people.items()
                if box[0] <= kp[11:13].mean(0)[0] <= box[2] and box[1] <= kp[11:13].mean(0)[1] <= box[3]
            }
            if inside:
                name = min(inside, key=inside.get)
                kps.append(people[name])
                scores.append(np.full(17, 0.9))
                owner.append(name)
            else:
                kps.append(np.tile(centre, (17, 1)))
                scores.append(np.full(17, 0.1))
                owner.append(None)
        result = PoseResult(
            np.array(kps).reshape(-1, 17, 2), np.array(scores).reshape(-1, 17), boxes[:, :4], boxes[:, 4]
        )
        tracked = self.tracker.update(result)
        names = {}
        for tid, kp in zip(tracked.track_ids, tracked.keypoints):
            match = [n for n, p in people.items() if np.allclose(p, kp)]
            assert len(match) == 1, "a tracked pose is one person's"
            names[match[0]] = int(tid)
        return names


# --- the One Euro filter --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("config", [OneEuroConfig(), OneEuroConfig(1.7, 0.3, 30.0), OneEuroConfig(0.5, 0.0, 2.0)])
def test_one_euro_is_the_reference_implementation(config):
    """Against the authors' OneEuroFilter package, value by value: a noisy walk sampled at 25 fps with two dropped
    frames (so the time step changes), 17×2 values at once here, each its own scalar filter there."""
    rng = np.random.default_rng(0)
    times = np.delete(np.arange(1, 61) / 25.0, [20, 41])  # frames 20 and 41 never came; t > 0 for the reference
    signal = np.cumsum(rng.normal(0, 3, (len(times), 17, 2)), 0) + rng.normal(0, 1, (len(times), 17, 2))
    ours = OneEuroFilter(config, fps=25)
    refs = [ReferenceOneEuro(25, config.min_cutoff, config.beta, config.d_cutoff) for _ in range(34)]
    for t, x in zip(times, signal):
        got = ours.filter(x, t)
        want = np.array([f(v, t) for f, v in zip(refs, x.reshape(-1))]).reshape(17, 2)
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-9)


def test_one_euro_by_hand():
    """min_cutoff 1 Hz, beta 0, 10 fps: alpha = 1/(1 + (1/2π)/0.1) = 0.38586; 0 → 1 → 1 gives 0, α, α + α(1 - α)."""
    f = OneEuroFilter(OneEuroConfig(1.0, 0.0, 1.0), fps=10)
    a = 1 / (1 + (1 / (2 * np.pi)) / 0.1)
    out = [float(f.filter(np.array([v]))[0]) for v in (0.0, 1.0, 1.0)]
    assert out == pytest.approx([0.0, a, a + a * (1 - a)], abs=1e-12)


def test_one_euro_is_frame_rate_aware_and_checks_its_input():
    """The same motion sampled at 25 and at 50 fps settles the same way in time, not in samples."""
    at25, at50 = OneEuroFilter(OneEuroConfig(1.0, 0.0, 1.0), 25), OneEuroFilter(OneEuroConfig(1.0, 0.0, 1.0), 50)
    at25.filter(np.zeros(1), 0.0)
    at50.filter(np.zeros(1), 0.0)
    v25 = [at25.filter(np.ones(1), t / 25)[0] for t in range(1, 26)][-1]  # one second later
    v50 = [at50.filter(np.ones(1), t / 50)[0] for t in range(1, 51)][-1]
    assert abs(v25 - v50) < 0.02 and 0.9 < v25 < 1  # 1 - e^(-2π) ≈ 0.998 in continuous time
    with pytest.raises(ConfigError, match="timestamps must increase"):
        at25.filter(np.ones(1), 0.5)
    with pytest.raises(ConfigError, match="shape"):
        at25.filter(np.ones(2), 2.0)
    with pytest.raises(ConfigError, match="min_cutoff must be > 0"):
        OneEuroConfig(min_cutoff=0)
    with pytest.raises(ConfigError, match="frame rate"):
        OneEuroFilter(fps=0)


# --- the tracker ----------------------------------------------------------------------------------------------------


def test_a_person_hidden_for_fewer_than_max_missing_frames_keeps_their_id():
    """A walker vanishes for 6 frames (behind something: no detection, no pose) and comes out 18 px further on: the
    same id. Hidden for more than max_missing frames, the next sighting is a new id, and ids are never reused."""
    world = _World(PoseTracker(TrackerConfig(max_missing=10)))
    ids = []
    for t in range(30):
        people = {} if 10 <= t < 16 else {"a": _person((100 + 3 * t, 300))}
        ids.append(world.frame(people, detect=True).get("a"))
    assert set(ids) - {None} == {1} and ids[10:16] == [None] * 6
    world = _World(PoseTracker(TrackerConfig(max_missing=3)))
    ids = [world.frame({} if 10 <= t < 16 else {"a": _person((100 + 3 * t, 300))}, True).get("a") for t in range(30)]
    assert set(ids[:10]) == {1} and set(ids[16:]) == {2}


@pytest.mark.parametrize("match", ["oks", "iou"])
def test_two_people_crossing_keep_their_ids(match):
    """A walks right and B left along the same line, through each other at frame 20 (their boxes overlap for 14
    frames); each keeps their id on the far side, detected every frame or every fifth."""
    for det_interval in (1, 5):
        world = _World(PoseTracker(TrackerConfig(match=match)))
        seen = {"a": set(), "b": set()}
        for t in range(40):
            people = {"a": _person((200 + 6 * t, 300)), "b": _person((440 - 6 * t, 305), template=ARMS_UP)}
            for name, tid in world.frame(people, detect=t % det_interval == 0).items():
                seen[name].add(tid)
        assert seen == {"a": {1}, "b": {2}}, (match, det_interval, seen)


def test_between_detections_the_tracked_boxes_follow_and_a_missed_detection_drops_nobody():
    """Detector every 10th frame: a fast walker (8 px/frame) is followed by its own boxes in between; on a detection
    frame that misses them, the tracked box keeps them under the same id. A person who walks in between detections
    is found at the next one."""
    world = _World(PoseTracker())
    for t in range(40):
        people = {"a": _person((80 + 8 * t, 300))}
        if t >= 13:
            people["b"] = _person((560, 280), template=ARMS_UP)
        detect_only = {"b"} if t == 20 else None  # frame 20's detections miss a
        got = world.frame(people, detect=t % 10 == 0, detect_only=detect_only)
        assert got.get("a") == 1
        assert got.get("b") == (None if t < 20 else 2)


def test_ids_live_in_a_dict_so_a_departure_does_not_renumber_anyone():
    """rtmlib #74: an id used as a list index. Here track 1 leaves and is forgotten; track 2 keeps its id, and the
    next newcomer gets 3."""
    tracker = PoseTracker(TrackerConfig(max_missing=2))
    world = _World(tracker)
    for t in range(10):
        people = {"a": _person((120, 300))} if t < 3 else {}  # found first: id 1
        people["b"] = _person((450, 300), template=ARMS_UP)
        if t >= 8:
            people["c"] = _person((250, 290))
        got = world.frame(people, detect=True)
        assert got["b"] == 2 and (t >= 3 or got["a"] == 1) and (t < 8 or got["c"] == 3)
    assert sorted(tracker.tracks) == [2, 3]


def test_what_starts_no_track():
    """A person smaller than min_area, a weak detection (below new_track_thr) and a pose with too few confident
    keypoints start no track; a strong detection of a large enough person does."""
    tracker = PoseTracker(TrackerConfig(min_area=1000, new_track_thr=0.5))
    kp = np.stack([_person((100, 300), 30), _person((300, 300)), _person((500, 300)), _person((200, 100))])
    scores = np.full((4, 17), 0.9)
    scores[3, :9] = 0.2  # 8 of 17 confident: fewer than ceil(17/2)
    boxes = np.concatenate([kp.min(1) - 5, kp.max(1) + 5], 1)
    tracker.boxes(np.concatenate([boxes, [[0.9], [0.3], [0.9], [0.9]]], 1), IMAGE)
    out = tracker.update(PoseResult(kp, scores, boxes, np.array([0.9, 0.3, 0.9, 0.9])))
    assert out.track_ids.tolist() == [1] and np.allclose(out.keypoints[0], kp[2])


def test_duplicates_of_one_person_are_one_track():
    """The detector's box and the tracked box of one person (IoU under merge_iou_thr) give two poses; OKS-NMS keeps
    one, so the person is one track, and the detector's box score is what the track carries on."""
    tracker = PoseTracker(TrackerConfig(merge_iou_thr=0.95))
    world = _World(tracker)
    for _ in range(5):
        assert world.frame({"a": _person((300, 300))}, detect=True) == {"a": 1}
    assert len(tracker.tracks) == 1 and tracker.tracks[1].score == 0.9


def test_smoothing_follows_each_track_with_its_own_filter():
    """With smoothing, each track's keypoints are its own One Euro filter's output on the frames' timestamps."""
    config = OneEuroConfig()
    tracker = PoseTracker(TrackerConfig(smoothing=config), fps=25)
    reference = {1: OneEuroFilter(config, 25), 2: OneEuroFilter(config, 25)}
    rng = np.random.default_rng(1)
    for t in range(12):
        kp = np.stack([_person((150 + 2 * t, 300)), _person((450, 300), template=ARMS_UP)])
        kp = kp + rng.normal(0, 2, kp.shape)
        boxes = np.concatenate([kp.min(1) - 5, kp.max(1) + 5], 1)
        tracker.boxes(np.concatenate([boxes, np.full((2, 1), 0.9)], 1) if t == 0 else None, IMAGE)
        out = tracker.update(PoseResult(kp, np.full((2, 17), 0.9), boxes, np.full(2, 0.9)), t / 25)
        assert out.track_ids.tolist() == [1, 2]
        for i, tid in enumerate(out.track_ids):
            np.testing.assert_allclose(out.keypoints[i], reference[int(tid)].filter(kp[i], t / 25), atol=1e-12)


def test_keypoint_boxes_and_iou_by_hand():
    kp = np.array([[[10.0, 20.0], [30.0, 60.0], [100.0, 100.0]]])
    boxes, ok = keypoint_boxes(kp, np.array([[0.9, 0.6, 0.2]]), thr=0.5, min_count=2, grow=1.5)
    assert ok.tolist() == [True] and boxes.tolist() == [[5.0, 10.0, 35.0, 70.0]]  # centre (20, 40), 20×40 × 1.5
    assert keypoint_boxes(kp, np.array([[0.9, 0.2, 0.2]]), 0.5, 2)[1].tolist() == [False]
    iou = iou_matrix(np.array([[0, 0, 10, 10.0]]), np.array([[5, 0, 15, 10.0], [20, 20, 30, 30.0]]))
    assert iou.tolist() == [[50 / 150, 0.0]]


def test_bad_tracker_settings_and_detections_are_refused():
    with pytest.raises(ConfigError, match="match must be one of"):
        TrackerConfig(match="hungarian")
    with pytest.raises(ConfigError, match="match_thr must be between 0 and 1"):
        TrackerConfig(match_thr=1.5)
    with pytest.raises(ConfigError, match="max_missing must be a whole number"):
        TrackerConfig(max_missing=-1)
    with pytest.raises(ConfigError, match="box_grow must be a number >= 1"):
        TrackerConfig(box_grow=0.5)
    with pytest.raises(InputShapeError, match="N×4 or N×5"):
        PoseTracker().boxes(np.zeros((2, 3)), IMAGE)
    assert TrackerConfig.from_dict(TrackerConfig(smoothing=OneEuroConfig()).to_dict()) == TrackerConfig(
        smoothing=OneEuroConfig()
    )


# --- the metrics ----------------------------------------------------------------------------------------------------


def _frame(ids, centres, visible=True):
    kp = np.array([_person(c) for c in centres]).reshape(len(ids), 17, 2)
    return FramePeople(np.array(ids), kp, np.full((len(ids), 17), visible), np.full(len(ids), 160.0 * 60))


def test_tracking_metrics_by_hand():
    """Two people, 4 frames. Predictions: frame 0 both (ids 7, 8), frame 1 only one, frame 2 the ids swapped, frame 3
    both right again plus a ghost: 8 person-frames, 7 covered, 2 switches at frame 2 and 2 back at frame 3, 1 false
    positive; a person too hidden to count (visible False) neither counts as missed nor as a false positive."""
    a, b = (100, 300), (400, 300)
    truth = [_frame([1, 2], [a, b]) for _ in range(4)] + [_frame([3], [(250, 300)], visible=False)]
    pred = [
        _frame([7, 8], [a, b]),
        _frame([7], [a]),
        _frame([8, 7], [a, b]),
        _frame([7, 8, 9], [a, b, (250, 100)]),
        _frame([], []),
    ]
    score = score_tracks([(truth, pred)])
    assert (score.person_frames, score.covered, score.id_switches, score.false_positives) == (8, 7, 4, 1)
    assert score.coverage == 7 / 8 and score.predicted_ids == 3 and score.true_tracks == 2
