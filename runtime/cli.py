"""``swinpose-infer --package DIR INPUT``: poses on an image, a folder of images or a video, with PoseEngine.

Writes a skeleton overlay per image (``<name>.jpg``) or one overlay video (``<stem>_poses.mp4``), and
``results.json`` in COCO keypoint-results format. ``--boxes`` gives person boxes: a COCO detection-results list
(``image_id`` = the image's numeric file stem, or the frame index; ``bbox`` x, y, w, h), a COCO annotation file
(its ground-truth person boxes, by ``file_name``), or a dict mapping a file name (or frame index) to N×4 ``xyxy``
(+ score) boxes. Without it, each image is one person box.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable, Iterator
from pathlib import Path

import cv2
import numpy as np

from runtime.errors import DataError, InputError
from runtime.exitcodes import run_guarded
from runtime.files import IMAGE_SUFFIXES, atomic_path, write_json_atomic
from runtime.transforms import xyxy_to_xywh

PROG = "swinpose-infer"
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm")


def _progress(items: Iterable, total: int | None, desc: str) -> Iterable:
    try:
        from tqdm import tqdm
    except ImportError:  # the runtime needs only numpy and OpenCV; the bar is a nicety
        return items
    return tqdm(items, total=total, desc=desc, unit="frame" if desc == "video" else "img")


def _image_id(name: str, index: int) -> int:
    stem = Path(name).stem
    return int(stem) if stem.isdigit() else index


def load_boxes(path: Path | None, score_thr: float) -> dict[str, np.ndarray] | None:
    """Person boxes by image key (file name, numeric stem, or frame index as a string): N×5 xyxy + score."""
    if path is None:
        return None
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise DataError(f"cannot read boxes from {path} ({e}); pass a COCO detection-results JSON") from e
    rows: dict[str, list] = {}
    if isinstance(data, list):  # COCO detection results
        for det in data:
            if det.get("category_id", 1) == 1:
                x, y, w, h = det["bbox"]
                rows.setdefault(str(det["image_id"]), []).append([x, y, x + w, y + h, det.get("score", 1.0)])
    elif isinstance(data, dict) and "annotations" in data:  # COCO ground truth: its person boxes, by file name
        names = {im["id"]: im["file_name"] for im in data.get("images", [])}
        for ann in data["annotations"]:
            if ann.get("category_id", 1) == 1 and not ann.get("iscrowd", 0) and ann["image_id"] in names:
                x, y, w, h = ann["bbox"]
                rows.setdefault(names[ann["image_id"]], []).append([x, y, x + w, y + h, 1.0])
    elif isinstance(data, dict):
        for key, boxes in data.items():
            rows[str(key)] = [list(b) + [1.0] if len(b) == 4 else list(b) for b in boxes]
    else:
        raise DataError(f"{path} must hold a list of COCO detections or a dict of boxes per image")
    try:
        arrays = {k: np.asarray(v, np.float64).reshape(-1, 5) for k, v in rows.items()}
    except ValueError as e:
        raise DataError(f"{path}: every box must be [x1, y1, x2, y2] or [x1, y1, x2, y2, score] ({e})") from e
    return {k: b[b[:, 4] >= score_thr] for k, b in arrays.items()}


def _boxes_for(boxes: dict[str, np.ndarray] | None, name: str, index: int) -> np.ndarray | None:
    if boxes is None:
        return None
    for key in (name, Path(name).stem, str(_image_id(name, index)), str(index)):
        if key in boxes:
            return boxes[key]
    return np.zeros((0, 5))  # the detector found nobody here


def _frames(source: Path) -> Iterator[tuple[str, np.ndarray]]:
    capture = cv2.VideoCapture(str(source))
    if not capture.isOpened():
        raise DataError(f"OpenCV cannot open the video {source}; check the file and its codec")
    try:
        index = 0
        while True:
            ok, frame = capture.read()
            if not ok:
                return
            yield str(index), frame
            index += 1
    finally:
        capture.release()


def run(args: argparse.Namespace) -> int:
    from runtime.draw import draw_poses
    from runtime.engine import PoseEngine, prepare_image

    source: Path = args.input
    if not source.exists():
        raise InputError(f"{source} does not exist; pass an image, a folder of images or a video")
    out: Path = args.out
    boxes = load_boxes(args.boxes, args.det_score_thr)
    results: list[dict] = []
    with PoseEngine(args.package, backend=args.backend, device=args.device, flip_test=args.flip_test) as engine:
        skeleton = list(engine.keypoints.skeleton)

        def pose(image: np.ndarray, name: str, index: int) -> np.ndarray:
            image = prepare_image(image)  # gray, BGRA and 16-bit files become the BGR the overlay is drawn on
            result = engine(image, _boxes_for(boxes, name, index))
            for entry in result.to_coco(_image_id(name, index)):
                results.append({**entry, "file_name": name})
            xywh = xyxy_to_xywh(result.boxes)
            return draw_poses(image, result.keypoints, result.scores, skeleton, args.threshold, xywh)

        if source.suffix.lower() in VIDEO_SUFFIXES:
            capture = cv2.VideoCapture(str(source))
            fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
            total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) or None
            capture.release()
            with atomic_path(out / f"{source.stem}_poses.mp4") as tmp:
                writer = None
                for i, (name, frame) in enumerate(_progress(_frames(source), total, "video")):
                    if writer is None:
                        size = (frame.shape[1], frame.shape[0])
                        writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
                    writer.write(pose(frame, name, i))
                if writer is None:
                    raise DataError(f"{source} has no frames OpenCV can decode")
                writer.release()
        else:
            if source.is_dir():
                files = sorted(p for p in source.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
                if not files:
                    raise InputError(f"{source} holds no images ({'/'.join(IMAGE_SUFFIXES)})")
            else:
                files = [source]
            for i, file in enumerate(_progress(files, len(files), "images")):
                image = cv2.imread(str(file), cv2.IMREAD_UNCHANGED)
                if image is None:
                    raise DataError(f"{file} cannot be decoded as an image; remove or replace it")
                drawn = pose(image, file.name, i)
                ok, encoded = cv2.imencode(".jpg", drawn)
                with atomic_path(out / f"{file.stem}.jpg") as tmp:
                    tmp.write_bytes(encoded.tobytes())
    write_json_atomic(out / "results.json", results)
    print(f"{PROG}: {len(results)} people in {source} → {out}/ (overlays, results.json)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    p.add_argument("--package", type=Path, required=True, help="model package folder from swinpose-export")
    p.add_argument("input", type=Path, help="an image, a folder of images, or a video")
    p.add_argument("--boxes", type=Path, help="person boxes: COCO detection results, or {name: [[x1,y1,x2,y2,s]]}")
    p.add_argument("--det-score-thr", type=float, default=0.0, help="drop boxes scored below this")
    p.add_argument("--out", type=Path, default=Path("infer_out"), help="output folder (default infer_out/)")
    p.add_argument("--threshold", type=float, default=0.3, help="keypoint score below which nothing is drawn")
    p.add_argument("--backend", default="auto")
    p.add_argument("--device", default="cpu")
    p.add_argument("--flip-test", action="store_true", help="average in the mirrored crops' heatmaps")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_guarded(PROG, run, args)


if __name__ == "__main__":
    raise SystemExit(main())
