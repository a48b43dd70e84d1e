"""``swinpose-infer --package DIR INPUT``: poses on an image, a folder of images or a video, with PoseEngine.

Writes a skeleton overlay per image (``<name>.jpg``) or one overlay video (``<stem>_poses.mp4``), and
``results.json`` in COCO keypoint-results format. ``--boxes`` gives person boxes (:mod:`runtime.boxes`): a COCO
annotation file (its ground-truth boxes, matched by ``file_name``, sub-paths relative to INPUT, and scored under
its image ``id``), COCO detection results (by ``image_id``: through ``--ann``'s file names when given, else the
image's numeric file stem), or a dict mapping a file name (or frame index) to N×4 ``xyxy`` (+ score) boxes. Images
and boxes that match nothing are counted in a warning. ``--detector`` (a detector package or file) finds the
people instead (:class:`runtime.pipeline.PosePipeline`: its boxes, MMPose's instance scores, OKS-NMS); ``--boxes``
wins when both are given. With neither, each image is one person box.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np

from runtime.backends import backend_choices
from runtime.boxes import BoxIndex, read_boxes
from runtime.detection.detector import DEFAULT_IOU_THR, DEFAULT_SCORE_THR
from runtime.errors import DataError, InputError
from runtime.exitcodes import nonnegative_int, positive_int, run_guarded, unit_interval
from runtime.files import IMAGE_SUFFIXES, atomic_path, check_output_folder, write_json_atomic
from runtime.images import read_image
from runtime.results import OKS_NMS_THR
from runtime.transforms import xyxy_to_xywh
from runtime.video import VIDEO_SUFFIXES, FrameSource, is_live

PROG = "swinpose-infer"
logger = logging.getLogger(PROG)


def _progress(items: Iterable, total: int | None, desc: str) -> Iterable:
    try:
        from tqdm import tqdm
    except ImportError:  # the runtime needs only numpy and OpenCV; the bar is a nicety
        return items
    return tqdm(items, total=total, desc=desc, unit="img" if desc == "images" else "frame", smoothing=0.1)


def _image_id(name: str, index: int) -> int:
    stem = Path(name).stem
    return int(stem) if stem.isdigit() else index


def load_boxes(path: Path | None, score_thr: float, annotations: Path | None = None) -> BoxIndex | None:
    """The ``--boxes`` file as a :class:`~runtime.boxes.BoxIndex` (None without one)."""
    if path is None:
        if annotations is not None:
            raise InputError("--ann maps the image ids of --boxes detections to file names; pass --boxes too")
        return None
    return read_boxes(path, score_thr, annotations)


def _boxes_for(boxes: BoxIndex | None, rel: str, index: int) -> tuple[np.ndarray | None, int, bool]:
    """The boxes of the image at ``rel`` (None: one box, the whole image), its image id for the results, and
    whether the boxes file has an entry for it."""
    if boxes is None:
        return None, _image_id(rel, index), True
    key, image_id = boxes.match(rel)
    if key is None:
        return np.zeros((0, 5)), _image_id(rel, index), False  # nothing for this image (counted by the caller)
    if image_id is None:
        image_id = int(key) if key.isdigit() else _image_id(rel, index)
    return boxes.boxes[key], image_id, True


def _report_matches(boxes: BoxIndex | None, missed: list[str], count: int, what: str) -> None:
    """Say which images got no boxes and which boxes matched no image; refuse a run where nothing matched."""
    if boxes is None:
        return
    unused = boxes.unmatched()
    if missed and len(missed) == count:
        ann = ", or --ann with the annotation file of its image ids" if boxes.kind == "detections" else ""
        raise DataError(
            f"none of the {count} {what} matched an entry of {boxes.source} ({len(boxes)} entries, e.g. "
            f"{', '.join(sorted(boxes.boxes)[:3])}): pass the image root its file names are relative "
            f"to{ann}"
        )
    if missed:
        logger.warning(
            "%s: %d of %d %s have no entry in %s (e.g. %s): they got no people",
            PROG,
            len(missed),
            count,
            what,
            boxes.source,
            ", ".join(missed[:3]),
        )
    if unused:
        logger.warning(
            "%s: %d entries of %s with boxes matched no image here (e.g. %s)",
            PROG,
            len(unused),
            boxes.source,
            ", ".join(unused[:3]),
        )


def input_size(text: str) -> tuple[int, int]:
    """``HxW`` or ``S`` (square) as (H, W), for ``--det-input-size``."""
    try:
        parts = [int(v) for v in text.lower().split("x")]
    except ValueError:
        parts = []
    if len(parts) == 1:
        parts *= 2
    if len(parts) != 2 or min(parts) <= 0:
        raise argparse.ArgumentTypeError(f"expected HxW (e.g. 640x640) or one side, got {text!r}")
    return parts[0], parts[1]


def open_pipeline(args: argparse.Namespace, engine):
    """The :class:`~runtime.pipeline.PosePipeline` of ``--detector`` on ``engine`` (None without one)."""
    if args.detector is None:
        return None
    from runtime.detection import Detector
    from runtime.pipeline import PosePipeline

    score_thr = DEFAULT_SCORE_THR if args.det_score_thr is None else args.det_score_thr
    detector = Detector(
        args.detector,
        layout=args.det_format,
        person_class=args.person_class,
        input_size=args.det_input_size,
        score_thr=score_thr,
        iou_thr=args.det_iou_thr,
        device=args.device,
    )
    return PosePipeline(engine, detector, oks_thr=args.oks_thr)


def run(args: argparse.Namespace) -> int:
    from runtime.draw import draw_poses
    from runtime.engine import PoseEngine, prepare_image

    source = _source(args)
    if args.bf16 and (args.backend not in ("auto", "openvino") or args.device != "cpu"):
        raise InputError(
            f"--bf16 is OpenVINO's precision hint on the CPU, not {args.backend} on {args.device}: drop --backend "
            "and --device, or drop --bf16"
        )
    if args.detector is not None and str(args.detector) == "bundled" and not Path("bundled").exists():
        raise InputError(
            "the bundled detector is packaged first, where PyTorch is installed: swinpose-export "
            "--detector bundled --out det; then pass --detector det"
        )
    video = is_live(source) or Path(source).suffix.lower() in VIDEO_SUFFIXES
    _check_tracking(args, video)
    out: Path = check_output_folder(args.out)
    boxes = load_boxes(args.boxes, args.det_score_thr or 0.0, args.ann)
    if boxes is not None and args.detector is not None:
        logger.warning("%s: --boxes gives the people, so the detector %s is not run", PROG, args.detector)
        args.detector = None
    results: list[dict] = []
    missed: list[str] = []
    with contextlib.ExitStack() as stack:
        backend, options = args.backend, None
        if args.bf16:
            backend, options = "openvino", {"precision": "bf16"}
        engine = stack.enter_context(
            PoseEngine(
                args.package,
                backend=backend,
                device=args.device,
                flip_test=args.flip_test,
                backend_options=options,
            )
        )
        skeleton = list(engine.keypoints.skeleton)
        pipeline = open_pipeline(args, engine)
        if pipeline is not None:
            stack.enter_context(pipeline)  # the detector, and the engine again (closing twice does nothing)

        def pose(image: np.ndarray, rel: str, index: int) -> np.ndarray:
            image = prepare_image(image)  # gray, BGRA and 16-bit files become the BGR the overlay is drawn on
            person_boxes, image_id, matched = _boxes_for(boxes, rel, index)
            if not matched:
                missed.append(rel)
            result = engine(image, person_boxes) if pipeline is None else pipeline(image)
            for entry in result.to_coco(image_id):
                results.append({**entry, "file_name": rel})
            xywh = xyxy_to_xywh(result.boxes)
            return draw_poses(image, result.keypoints, result.scores, skeleton, args.threshold, xywh)

        if video:
            if args.track:
                tracking = open_tracking(args, engine, pipeline)

                def frame_poses(frame: np.ndarray, index: int, fps: float) -> np.ndarray:
                    result = tracking(frame, index / fps)
                    for entry in result.to_coco(index, frame=index):
                        results.append({**entry, "file_name": str(index)})
                    xywh = xyxy_to_xywh(result.boxes)
                    return draw_poses(
                        frame, result.keypoints, result.scores, skeleton, args.threshold, xywh, result.track_ids
                    )
            else:

                def frame_poses(frame: np.ndarray, index: int, fps: float) -> np.ndarray:
                    return pose(frame, str(index), index)

            read, problem = _run_video(source, out, frame_poses)
            _report_matches(boxes, missed, read, "frames")
        else:
            source = Path(source)  # _source checked that it exists
            problem, read = None, 0
            if source.is_dir():
                walk = source.rglob("*") if boxes is not None and boxes.kind == "annotations" else source.iterdir()
                files = sorted(p for p in walk if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
                if not files:
                    raise InputError(f"{source} holds no images ({'/'.join(IMAGE_SUFFIXES)})")
                root = source
            else:
                files, root = [source], source.parent
            bad: list[str] = []
            for i, file in enumerate(_progress(files, len(files), "images")):
                rel = file.relative_to(root).as_posix()
                try:
                    image = read_image(file)
                except DataError as e:
                    if not args.skip_bad:
                        raise DataError(f"{e}; or pass --skip-bad to skip such images with a count") from e
                    bad.append(rel)
                    continue
                drawn = pose(image, rel, i)
                ok, encoded = cv2.imencode(".jpg", drawn)
                with atomic_path((out / rel).with_suffix(".jpg")) as tmp:
                    tmp.write_bytes(encoded.tobytes())
            if bad:
                logger.warning(
                    "%s: skipped %d of %d images that do not decode whole (--skip-bad): %s",
                    PROG,
                    len(bad),
                    len(files),
                    ", ".join(bad[:5]),
                )
            _report_matches(boxes, missed, len(files) - len(bad), "images")
    write_json_atomic(out / "results.json", results)
    if problem is not None:
        raise DataError(f"{problem}; the poses of the {read} frames read are in {out}/ (overlay, results.json)")
    print(f"{PROG}: {len(results)} people in {source} → {out}/ (overlays, results.json)")
    return 0


def _source(args: argparse.Namespace) -> str:
    """The one input: INPUT (a file or folder) or --source (a video file, camera index or stream URL)."""
    if (args.input is None) == (args.source is None):
        raise InputError(
            "pass one input: INPUT (an image, a folder of images or a video) or --source (a video, a "
            "camera index such as 0, or a stream URL)"
        )
    if args.input is not None:
        if not args.input.exists():
            raise InputError(f"{args.input} does not exist; pass an image, a folder of images or a video")
        return str(args.input)
    if not is_live(args.source) and not Path(args.source).is_file():
        raise InputError(f"--source {args.source} is not a camera index, a URL or a video file")
    return args.source


def _check_tracking(args: argparse.Namespace, video: bool) -> None:
    """Refuse tracking options that cannot apply (argparse has checked each value already)."""
    if args.det_interval is not None and args.det_interval > 1 and not args.track:
        raise InputError("--det-interval takes the boxes between detections from the tracked poses: add --track")
    if args.smooth and not args.track:
        raise InputError("--smooth filters each tracked person's keypoints: add --track")
    if args.track and not video:
        raise InputError("--track follows people across the frames of a video; pass a video file or --source")
    if args.track and args.detector is None:
        raise InputError(
            "--track finds people with a detector: pass --detector (a detector package or file; "
            "swinpose-export --detector bundled --out det packages the bundled one)"
        )
    if args.track and args.boxes is not None:
        raise InputError("--track takes its boxes from --detector and the tracked poses; drop --boxes")


def open_tracking(args: argparse.Namespace, engine, pipeline):
    """The :class:`~runtime.tracking.TrackingPipeline` of ``--track`` on the open engine and detector."""
    from runtime.tracking import OneEuroConfig, TrackerConfig, TrackingPipeline

    config = TrackerConfig(smoothing=OneEuroConfig() if args.smooth else None)
    return TrackingPipeline(engine, pipeline.detector, args.det_interval or 1, config)  # frames carry timestamps


def _run_video(source: str, out: Path, frame_poses) -> tuple[int, str | None]:
    """Write ``<name>_poses.mp4``: each frame of ``source`` as ``frame_poses(frame, index, fps)`` draws it.
    Returns the frames read and why they stopped early (None: they did not). What was read is kept either way:
    a camera stopped with Ctrl-C, a stream that drops, a truncated file."""
    with FrameSource(source) as frames:
        with atomic_path(out / f"{frames.name}_poses.mp4") as tmp:
            writer = None
            try:
                for index, frame in _progress(frames, frames.total, frames.name):
                    drawn = frame_poses(frame, index, frames.fps)
                    if writer is None:
                        size = (frame.shape[1], frame.shape[0])
                        writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), frames.fps, size)
                    writer.write(drawn)
            except KeyboardInterrupt:
                if not frames.live:
                    raise
                logger.warning("%s: stopped with Ctrl-C after %d frames", PROG, frames.read)
            if writer is None:
                raise DataError(frames.problem or f"{source} gave no frames")
            writer.release()
    return frames.read, frames.problem


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    p.add_argument("--package", type=Path, required=True, help="model package folder from swinpose-export")
    p.add_argument("input", type=Path, nargs="?", help="an image, a folder of images, or a video")
    p.add_argument(
        "--source",
        help="a video from elsewhere instead of INPUT: a camera index (0) or a stream URL (rtsp://...), or a file",
    )
    p.add_argument(
        "--track",
        action="store_true",
        help="follow people across a video's frames: results get a track_id and frame, the overlay the ids",
    )
    p.add_argument(
        "--det-interval",
        type=positive_int,
        metavar="N",
        help="with --track, run the detector every N frames (default 1); between, boxes come from the tracked poses",
    )
    p.add_argument(
        "--smooth",
        action="store_true",
        help="with --track, smooth each person's keypoints with a One Euro filter (less jitter, little lag)",
    )
    p.add_argument(
        "--boxes",
        type=Path,
        help="person boxes: a COCO annotation file, COCO detection results, or {name: [[x1,y1,x2,y2,s]]}",
    )
    p.add_argument(
        "--ann",
        type=Path,
        help="the COCO annotation file whose image ids --boxes detections use (maps them to file names)",
    )
    p.add_argument(
        "--det-score-thr",
        type=unit_interval,
        help=f"drop boxes scored below this (default: 0 for --boxes, {DEFAULT_SCORE_THR} for --detector)",
    )
    p.add_argument(
        "--detector",
        type=Path,
        help="a detector package (swinpose-export --detector) or a person "
        "detector file (.onnx, .engine) that finds the people when --boxes is not given",
    )
    p.add_argument(
        "--det-format",
        help="the detector's output layout, where the file does not tell (ultralytics, "
        "ultralytics-e2e, yolov5, yolox, mmdeploy-yolox, mmdeploy-rtmdet, efficientnms)",
    )
    p.add_argument(
        "--person-class",
        type=nonnegative_int,
        help="the detector's class index of people (default: the class named 'person', else 0)",
    )
    p.add_argument(
        "--det-input-size", type=input_size, help="HxW the detector takes, for a dynamic input that does not record it"
    )
    p.add_argument(
        "--det-iou-thr",
        type=unit_interval,
        default=DEFAULT_IOU_THR,
        help="box NMS IoU, where the detector has no NMS of its own",
    )
    p.add_argument(
        "--oks-thr",
        type=unit_interval,
        default=OKS_NMS_THR,
        help="OKS above which a detected pose is a duplicate of a better one",
    )
    p.add_argument("--out", type=Path, default=Path("infer_out"), help="output folder (default infer_out/)")
    p.add_argument("--threshold", type=unit_interval, default=0.3, help="keypoint score below which nothing is drawn")
    p.add_argument(
        "--backend",
        choices=backend_choices(),
        default="auto",
        help="what runs the package (auto: its engine on a GPU, else its ONNX on the CPU's fastest runtime: "
        "OpenVINO on AVX-512 x86 where installed, else ONNX Runtime; $SWINPOSE_CPU_BACKEND pins it)",
    )
    p.add_argument("--device", default="cpu")
    p.add_argument("--flip-test", action="store_true", help="average in the mirrored crops' heatmaps")
    p.add_argument(
        "--bf16",
        action="store_true",
        help="run the package's ONNX on OpenVINO with its bf16 precision hint (CPUs with avx512_bf16 or amx_bf16; "
        "elsewhere an error names them)",
    )
    p.add_argument(
        "--skip-bad",
        action="store_true",
        help="skip images that do not decode whole (counted), instead of stopping at the first",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    return run_guarded(PROG, run, args)


if __name__ == "__main__":
    raise SystemExit(main())
