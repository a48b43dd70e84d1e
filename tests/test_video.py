"""Video end to end: the bundled detector and pose model tracking swinpose-synth's walkers, swinpose-infer on
videos, and videos that break. References: the videos' ground-truth tracks (swinpose.track_eval), the frame counts
OpenCV's writer put in the files, and the exit codes and messages the README promises.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil

import cv2
import numpy as np
import pytest

from runtime import PoseEngine
from runtime.cli import main as infer_main
from runtime.detection import Detector
from runtime.tracking import TrackerConfig, TrackingPipeline
from runtime.video import FrameSource
from swinpose.data.synthetic_video import VideoConfig, render_video, write_videos
from swinpose.track_eval import FramePeople, read_video_annotations, score_tracks

CONFIG = VideoConfig(frames=40, people=3)


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    return write_videos(tmp_path_factory.mktemp("videos"), 3, seed=0, cfg=CONFIG, progress=False)


def _infer(*argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = infer_main([str(a) for a in argv])
        except SystemExit as e:  # argparse's usage errors
            code = e.code
    return code, out.getvalue() + err.getvalue()


def _read(path):
    capture, frames = cv2.VideoCapture(str(path)), []
    while True:
        ok, frame = capture.read()
        if not ok:
            return frames
        frames.append(frame)


def test_synthetic_videos_are_deterministic_and_their_truth_is_honest(videos):
    """The same seed renders the same frames; every annotated person has visible pixels, and their track ids are
    the walkers' (1..people); the first two walkers cross (their pelvises swap sides)."""
    video, ann = videos[0]
    info, truth = read_video_annotations(ann)
    assert info["frames"] == CONFIG.frames == len(truth) == len(_read(video))
    again = [frame for frame, _ in render_video(0, 0, CONFIG)]
    first = next(iter(render_video(0, 0, CONFIG)))[0]
    assert np.array_equal(again[0], first)
    ids = {int(i) for f in truth for i in f.ids}
    assert ids <= set(range(1, CONFIG.people + 1))
    data = json.loads(ann.read_text())
    assert all(a["area"] > 0 and a["bbox"][2] > 0 for a in data["annotations"])
    frames = list(render_video(0, 0, CONFIG))
    x = lambda t, tid: [p["keypoints"][11:13, 0].mean() for p in frames[t][1] if p["track_id"] == tid]  # noqa: E731
    tid_a, tid_b = 1, 2
    early, late = (x(0, tid_a), x(0, tid_b)), (x(-1, tid_a), x(-1, tid_b))
    if all(early) and all(late):
        assert (early[0][0] < early[1][0]) != (late[0][0] < late[1][0])


@pytest.fixture(scope="module")
def tracked(bundled_packages, detector_package, videos):
    """Coverage and id switches of the bundled models on the 3 videos at det_interval 1, 5 and 10."""
    scores = {}
    with PoseEngine(bundled_packages["fp32"]) as engine, Detector(detector_package) as detector:
        for interval in (1, 5, 10):
            pairs = []
            for video, ann in videos:
                pipeline = TrackingPipeline(engine, detector, interval, TrackerConfig())
                pred = []
                for t, frame in enumerate(_read(video)):
                    r = pipeline(frame, t / CONFIG.fps)
                    pred.append(FramePeople(r.track_ids, r.keypoints))
                pairs.append((read_video_annotations(ann)[1], pred))
            scores[interval] = (score_tracks(pairs), pipeline.stats)
    return scores


def test_tracking_covers_the_walkers_with_few_id_switches(tracked):
    """Bounds with a margin under what the bundled models did (det_interval 1: coverage 0.847, 4 switches, 5 false
    positives; 5: 0.796, 4, 6; 10: 0.759, 2, 6; on 274 person-frames of 9 walkers): the pipeline finds most walkers
    and keeps their ids, detecting every 5th or 10th frame costs some coverage, and the detector runs at least every
    det_interval frames (more often only while nobody is tracked)."""
    for interval, (score, stats) in tracked.items():
        assert score.person_frames > 200
        assert score.coverage >= {1: 0.77, 5: 0.72, 10: 0.68}[interval], (interval, score)
        assert score.id_switches <= 10, (interval, score)
        assert score.false_positives <= 0.08 * score.person_frames, (interval, score)
        assert stats.detector_runs >= CONFIG.frames / interval
    assert tracked[1][1].detector_runs == CONFIG.frames
    assert tracked[10][1].poses < tracked[1][1].poses  # fewer crops without the detector's extras


def test_swinpose_infer_tracks_a_video(bundled_packages, detector_package, videos, tmp_path):
    """--track --det-interval 5 --smooth: an overlay of every frame, and results with track_id and frame whose ids and
    keypoints are the in-process pipeline's on the same frames."""
    video = videos[1][0]
    code, text = _infer(
        "--package", bundled_packages["fp32"], video, "--detector", detector_package, "--track",
        "--det-interval", 5, "--smooth", "--out", tmp_path / "out",
    )  # fmt: skip
    assert code == 0, text
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results and all({"track_id", "frame", "keypoints", "score"} <= set(r) for r in results)
    assert len(_read(tmp_path / "out" / f"{video.stem}_poses.mp4")) == CONFIG.frames
    from runtime.tracking import OneEuroConfig

    with PoseEngine(bundled_packages["fp32"]) as engine, Detector(detector_package) as detector:
        pipeline = TrackingPipeline(engine, detector, 5, TrackerConfig(smoothing=OneEuroConfig()))
        want = []
        for t, frame in enumerate(_read(video)):
            r = pipeline(frame, t / CONFIG.fps)
            want += [(t, int(i), np.round(k, 3)) for i, k in zip(r.track_ids, r.keypoints)]
    got = [(r["frame"], r["track_id"], np.reshape(r["keypoints"], (-1, 3))[:, :2]) for r in results]
    assert [(f, i) for f, i, _ in got] == [(f, i) for f, i, _ in want]
    assert max(np.abs(a - b).max() for (_, _, a), (_, _, b) in zip(got, want)) <= 1e-3


def _truncated(tmp_path, frames=20):
    path = tmp_path / "cut.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, (448, 320))
    for frame, _ in render_video(0, 2, VideoConfig(frames=frames, people=2)):
        writer.write(frame)
    writer.release()
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def test_a_truncated_video_says_where_it_stopped_and_keeps_what_it_read(bundled_packages, detector_package, tmp_path):
    """Half an MJPG .avi of 20 frames: exit 1 naming the frame it stopped at and how many of the 20 it read; the
    overlay and results of those frames are written all the same."""
    video = _truncated(tmp_path)
    source = FrameSource(video)
    read = sum(1 for _ in source)
    assert 0 < read < 20 and source.total == 20
    code, text = _infer(
        "--package", bundled_packages["fp32"], video, "--detector", detector_package, "--track", "--out",
        tmp_path / "out",
    )  # fmt: skip
    assert code == 1
    assert f"stopped at frame {read}: {read} of the 20 frames" in text and "are in" in text
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results and max(r["frame"] for r in results) == read - 1
    assert len(_read(tmp_path / "out" / "cut_poses.mp4")) == read


def test_a_stream_that_drops_is_reported_and_its_results_kept(bundled_packages, detector_package, tmp_path):
    """--source with a URL is read as a stream (FFmpeg's file:// protocol stands in for rtsp:// here): when it stops,
    the exit is 1, the message says it dropped after N frames, and those N frames' results are there."""
    video = tmp_path / "v.avi"
    shutil.copy(_truncated(tmp_path, 8).with_name("cut.avi"), video)
    read = sum(1 for _ in FrameSource(video))
    code, text = _infer(
        "--package", bundled_packages["fp32"], "--source", f"file://{video}", "--detector", detector_package,
        "--track", "--out", tmp_path / "out",
    )  # fmt: skip
    assert code == 1 and f"dropped after {read} frames" in text, text
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert {r["frame"] for r in results} <= set(range(read)) and (tmp_path / "out" / "stream_poses.mp4").exists()


def test_bad_video_arguments_get_usage_errors_that_say_what_to_do(bundled_packages, detector_package, videos, tmp_path):
    video, package = videos[0][0], bundled_packages["fp32"]
    for bad in ("0", "-3", "two"):
        code, text = _infer("--package", package, video, "--track", "--det-interval", bad, "--detector", "x")
        assert code == 2 and "--det-interval" in text
    cases = [
        (["--det-interval", 5, "--detector", detector_package], "add --track"),
        (["--smooth", "--detector", detector_package], "add --track"),
        (["--track"], "pass --detector"),
    ]
    for extra, message in cases:
        code, text = _infer("--package", package, video, *extra, "--out", tmp_path / "o")
        assert code == 1 and message in text, text
    code, text = _infer("--package", package, "--out", tmp_path / "o")
    assert code == 1 and "pass one input" in text
    image = tmp_path / "a.png"
    cv2.imwrite(str(image), np.zeros((64, 64, 3), np.uint8))
    code, text = _infer("--package", package, image, "--track", "--detector", detector_package, "--out", tmp_path)
    assert code == 1 and "frames of a video" in text
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64)
    code, text = _infer("--package", package, cut, "--out", tmp_path / "o2")
    assert code == 1 and "cannot open the video" in text and "re-encode" in text


def test_the_video_benchmark_reports_every_mode_with_its_counts(bundled_packages, detector_package, tmp_path):
    """swinpose-bench video on a short run: a row per mode and people count that follows the schema, the counts each
    mode implies (the pose-only rows crop the ground-truth people and run no detector, the others run it on every
    frame at det_interval 1 and on at most every frame at 5), and its table, CSV and Markdown."""
    from benchmarks.report import console, markdown, schema_problems, to_csv
    from benchmarks.video import VideoSettings, run_video

    settings = VideoSettings(people=[1, 3], intervals=[1, 5], frames=6, rounds=1)
    report = run_video(bundled_packages["fp32"], detector_package, settings, progress=False)
    assert schema_problems(report) == []
    rows = {(r["mode"], r["people"], r["det_interval"]): r for r in report["rows"]}
    assert len(rows) == 8
    for people in (1, 3):
        pose = rows["pose", people, None]
        assert pose["detector_runs_per_frame"] == 0 and pose["coverage"] is None
        assert rows["detect+pose", people, 1]["detector_runs_per_frame"] == 1
        assert rows["tracked", people, 1]["detector_runs_per_frame"] == 1
        tracked = rows["tracked", people, 5]
        assert tracked["coverage"] is not None and tracked["detector_runs_per_frame"] <= 1.0
        assert all(r["fps"] == pytest.approx(1e3 / r["mean_ms"], rel=0.01) for r in rows.values())
    assert rows["pose", 1, None]["crops_per_frame"] <= 1
    assert "ms per frame" in console(report) and "| tracked |" in "\n".join(markdown(report))
    assert to_csv(report).count("\n") == 9
