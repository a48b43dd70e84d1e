"""Video benchmark: ms per frame and frames/s of the tracking pipeline, beside the detector-free and tracker-free
pipelines, on swinpose-synth's walkers, with the tracking metrics of each run.

For each number of people, one synthetic video (``VideoConfig``: walkers in an 800×450 scene) is rendered in memory
and run through each mode, from its first frame to its last, in interleaved rounds (:mod:`benchmarks.timing`'s
reasoning: a slow spell of the shared machine falls on every mode alike):

* ``pose``: the pose engine on the ground-truth boxes of each frame (no detector, no tracker);
* ``detect+pose``: :class:`~runtime.PosePipeline`, the detector and the pose engine on every frame (no tracker);
* ``tracked``: :class:`~runtime.tracking.TrackingPipeline` at each ``det_interval``.

A frame's time is the whole call's wall time. Frames/s is 1000 / the mean (with a detector every N frames, frame times
are two-valued, so the median alone would hide the detection frames). Tracked rows also give coverage, id switches
and false positives against the video's ground truth (:mod:`swinpose.track_eval`).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.machine import describe_machine, library_versions
from benchmarks.schema import HEADER, NUM, OPT_NUM, Schema
from benchmarks.timing import Stats

__all__ = ["VideoSettings", "run_video", "VIDEO_SCHEMA", "VIDEO_SCHEMA_ID"]

VIDEO_SCHEMA_ID = "swinpose-bench/video/1"
_FPS = 25.0  # the synthetic videos' frame rate: the tracked modes' timestamps
#: what a video report holds (:mod:`benchmarks.schema`)
VIDEO_SCHEMA: Schema = (
    {**HEADER, "settings": dict, "rows": list},
    {
        "rows": {
            "ok": {
                "mode": str,
                "people": int,
                "det_interval": (int, type(None)),
                "frames": int,
                "mean_ms": NUM,
                "median_ms": NUM,
                "p90_ms": NUM,
                "fps": NUM,
                "detector_runs_per_frame": NUM,
                "crops_per_frame": NUM,
                "coverage": OPT_NUM,
                "id_switches": (int, type(None)),
                "false_positives": (int, type(None)),
            }
        }
    },
)


@dataclass(frozen=True)
class VideoSettings:
    """What :func:`run_video` measures."""

    people: list[int] = field(default_factory=lambda: [1, 4, 16])
    intervals: list[int] = field(default_factory=lambda: [1, 5, 10])
    frames: int = 60
    rounds: int = 3
    threads: int = 0
    seed: int = 0


def _video(people: int, frames: int, seed: int):
    from swinpose.data.synthetic_video import VideoConfig, render_video
    from swinpose.track_eval import FramePeople

    cfg = VideoConfig(
        size=(800, 450), frames=frames, fps=_FPS, people=people, min_height=90, max_height=160, p_pillar=0.0
    )
    images, truth, boxes = [], [], []
    for image, persons in render_video(seed, 1000 + people, cfg):
        images.append(image)
        truth.append(FramePeople.from_annotations(persons))
        xywh = np.array([p["bbox"] for p in persons], np.float64).reshape(-1, 4)
        boxes.append(np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], 1))
    return images, truth, boxes


@dataclass
class _Pass:
    """One mode's pass over a video: each frame's ms, the detector runs and crops, and its tracking score."""

    ms: list[float]
    detector_runs: int
    crops: int
    score: Any = None


def _one_pass(mode: tuple[str, int | None], video: tuple, engine: Any, pipeline: Any) -> _Pass:
    """Run ``mode`` (name, det_interval) over ``video`` (frames, ground truth, ground-truth boxes) from frame 0."""
    from runtime.tracking import TrackerConfig, TrackingPipeline
    from swinpose.track_eval import FramePeople, score_tracks

    images, truth, gt_boxes = video
    name, interval = mode
    done = _Pass([], 0, 0)
    tracking = TrackingPipeline(engine, pipeline.detector, interval, TrackerConfig()) if name == "tracked" else None
    pred = []
    for t, image in enumerate(images):
        start = time.perf_counter()
        if name == "pose":
            engine(image, gt_boxes[t]) if len(gt_boxes[t]) else None
            done.crops += len(gt_boxes[t])
        elif name == "detect+pose":
            found = pipeline.detect([image])[0]
            pipeline.poses([image], [found])
            done.detector_runs, done.crops = done.detector_runs + 1, done.crops + len(found)
        else:
            r = tracking(image, t / _FPS)
            pred.append(FramePeople(r.track_ids, r.keypoints))
        done.ms.append(1e3 * (time.perf_counter() - start))
    if tracking is not None:
        done.detector_runs, done.crops = tracking.stats.detector_runs, tracking.stats.poses
        done.score = score_tracks([(truth, pred)])
    return done


def run_video(
    package: str | Path, detector: str | Path, settings: VideoSettings = VideoSettings(), progress: bool = True
) -> dict[str, Any]:
    """The video report (:data:`VIDEO_SCHEMA`) of ``package`` and ``detector`` on this machine's CPU."""
    from runtime import PoseEngine, PosePipeline
    from runtime.detection import Detector

    s = settings
    rows = []
    bar = None
    modes = [("pose", None), ("detect+pose", 1), *(("tracked", n) for n in s.intervals)]
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(s.people) * s.rounds * len(modes), desc="video bench", unit="run")
    with PoseEngine(package, threads=s.threads) as engine, Detector(detector, threads=s.threads) as det:
        pipeline = PosePipeline(engine, det)
        for people in s.people:
            video = _video(people, s.frames, s.seed)
            images, _, gt_boxes = video
            for _ in range(3):  # warm-up: the first runs of each network allocate and pick kernels
                pipeline.poses([images[0]], [pipeline.detect([images[0]])[0]])
                engine(images[0], gt_boxes[0]) if len(gt_boxes[0]) else None
            times: dict[tuple, list[float]] = {m: [] for m in modes}
            last: dict[tuple, _Pass] = {}
            for _ in range(s.rounds):
                for mode in modes:
                    last[mode] = _one_pass(mode, video, engine, pipeline)
                    times[mode] += last[mode].ms
                    if bar is not None:
                        bar.update()
            for mode in modes:
                st, done, score = Stats.of(times[mode]), last[mode], last[mode].score
                rows.append(
                    {
                        "mode": mode[0],
                        "people": people,
                        "det_interval": mode[1],
                        "frames": len(images),
                        "mean_ms": round(st.mean, 3),
                        "median_ms": round(st.median, 3),
                        "p90_ms": round(st.p90, 3),
                        "fps": round(1e3 / st.mean, 2),
                        "detector_runs_per_frame": round(done.detector_runs / len(images), 3),
                        "crops_per_frame": round(done.crops / len(images), 3),
                        "coverage": None if score is None else round(score.coverage, 4),
                        "id_switches": None if score is None else score.id_switches,
                        "false_positives": None if score is None else score.false_positives,
                        "status": "ok",
                    }
                )
    if bar is not None:
        bar.close()
    return {
        "schema": VIDEO_SCHEMA_ID,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": describe_machine(),
        "versions": library_versions(),
        "settings": {**asdict(s), "package": str(package), "detector": str(detector)},
        "rows": rows,
    }


def video_tables(report: dict[str, Any]) -> list[tuple[str, list[str], list[list[str]]]]:
    header = ["mode", "people", "det every", "ms/frame", "median ms", "p90 ms", "frames/s", "det runs/frame",
              "crops/frame", "coverage", "id switches", "false pos."]  # fmt: skip
    rows = []
    for r in report["rows"]:
        cells = [r["mode"], r["people"], r["det_interval"], r["mean_ms"], r["median_ms"], r["p90_ms"], r["fps"],
                 r["detector_runs_per_frame"], r["crops_per_frame"], r["coverage"], r["id_switches"],
                 r["false_positives"]]  # fmt: skip
        rows.append(["-" if c is None else (f"{c:.2f}" if isinstance(c, float) else str(c)) for c in cells])
    return [("ms per frame and frames/s on synthetic walkers", header, rows)]


def plot_video(report: dict[str, Any], axes: Any) -> None:
    for mode in dict.fromkeys((r["mode"], r["det_interval"]) for r in report["rows"]):
        rs = [r for r in report["rows"] if (r["mode"], r["det_interval"]) == mode]
        label = mode[0] if mode[0] != "tracked" else f"tracked, det every {mode[1]}"
        axes[0].plot([r["people"] for r in rs], [r["mean_ms"] for r in rs], "o-", label=label)
        if mode[0] == "tracked":
            axes[1].plot([r["people"] for r in rs], [r["coverage"] for r in rs], "o-", label=label)
    axes[0].set(xlabel="people", ylabel="ms per frame", xscale="log", title="video: ms per frame")
    axes[1].set(xlabel="people", ylabel="coverage", xscale="log", title="tracked person-frames")
    for ax in axes:
        ax.legend(fontsize=7)
