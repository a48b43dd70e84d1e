"""Synthetic videos with ground-truth tracks: swinpose-synth's figures walking across a still scene.

Figures walk in from outside the frame or start inside it, at their own speed and depth, some past each other (the
first two meet mid-video, one in front of the other), some out of the frame before the end. A pillar may stand in
the scene, drawn over whoever walks behind it, so that people vanish for a few frames and come out again. Each
figure keeps its build, clothes and arm pose from frame to frame (they come from its own seed); its legs and arms
swing with its stride.

Ground truth per frame is what :func:`~swinpose.data.synthetic.render_image` gives an image: keypoints with honest
visibility from the instance map, the box of the visible pixels and their area; a figure with no visible pixel is
not in that frame's annotations. Annotations are PoseTrack18-style JSON (``images`` with ``frame_id`` and
``vid_id``, ``annotations`` with ``track_id``), written beside each video.

Everything is a function of the seed: video ``v`` uses ``np.random.default_rng([seed, 2, v])``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from runtime.errors import ConfigError
from runtime.files import atomic_path, write_json_atomic
from swinpose.data.synthetic import (
    _OCCLUDER,
    PERSON_CATEGORY,
    _background,
    _draw_figure,
    _Painter,
    _pose,
    _rot,
    annotate,
    coco_annotation,
)

__all__ = ["VideoConfig", "render_video", "write_videos"]

logger = logging.getLogger(__name__)

_VIDEO_SPLIT = 2  # the rng stream of videos, beside the image splits' 0 (train) and 1 (val)
_LEGS = ((11, 13, 15, 1.0), (12, 14, 16, -1.0))  # hip, knee, ankle, swing sign
_ARMS = ((5, 7, 9, -0.6), (6, 8, 10, 0.6))  # arms swing against the legs, less far


@dataclass(frozen=True)
class VideoConfig:
    """What a synthetic video holds. Sizes in pixels, speeds in pixels per frame."""

    size: tuple[int, int] = (448, 320)  # (W, H)
    frames: int = 60
    fps: float = 25.0
    people: int = 3
    min_height: float = 130.0
    max_height: float = 220.0
    min_speed: float = 1.5
    max_speed: float = 4.0
    stride: float = 0.12  # a third of the legs' swing amplitude in radians (arms swing 0.6 of it, the other way)
    p_pillar: float = 0.5  # chance of a pillar that hides whoever passes behind it
    quality: int = 95  # MJPG quality of the frames

    def __post_init__(self) -> None:
        if self.frames < 1 or self.people < 0 or min(self.size) < 64:
            raise ConfigError(f"a video needs >= 1 frame, >= 0 people and a size of at least 64 px, got {self}")
        if not 0 < self.fps:
            raise ConfigError(f"fps must be positive, got {self.fps}")


@dataclass(frozen=True)
class _Walker:
    seed: tuple[int, ...]
    height: float
    y: float  # pelvis height in the frame
    x0: float  # pelvis x at frame 0
    speed: float  # px per frame, signed
    phase: float


def _walkers(rng: np.random.Generator, cfg: VideoConfig, seed: int, video: int) -> list[_Walker]:
    w, h = cfg.size
    out = []
    for i in range(cfg.people):
        height = float(rng.uniform(cfg.min_height, min(cfg.max_height, 0.95 * h)))
        speed = float(rng.uniform(cfg.min_speed, cfg.max_speed)) * (1 if rng.random() < 0.5 else -1)
        y = float(rng.uniform(0.55, 0.7) * h)
        if i < 2:  # the first two meet mid-video, one a little lower (in front, drawn later)
            speed = abs(speed) * (1 if i == 0 else -1)
            y = 0.6 * h + 12 * i
            x0 = w / 2 - speed * cfg.frames / 2 + (i - 0.5) * 10
        elif rng.random() < 0.5:  # walks in from outside the frame
            x0 = -0.3 * height if speed > 0 else w + 0.3 * height
        else:
            x0 = float(rng.uniform(0.1, 0.9) * w)
        out.append(_Walker((seed, _VIDEO_SPLIT, video, i), height, y, x0, speed, float(rng.uniform(0, 2 * np.pi))))
    return sorted(out, key=lambda p: p.y)  # farther (higher in the frame) drawn first


def _swing(kp: np.ndarray, angle: float) -> np.ndarray:
    """Legs and arms rotated about hips and shoulders by ±``angle`` radians: one moment of the stride."""
    kp = kp.copy()
    for chain in (*_LEGS, *_ARMS):
        root, mid, end, sign = chain
        deg = np.degrees(sign * angle)
        for j in (mid, end):
            kp[j] = kp[root] + _rot(kp[j] - kp[root], deg)
    return kp


def render_video(seed: int, video: int, cfg: VideoConfig = VideoConfig()):
    """The frames of video ``video`` and their people, one frame at a time.

    Yields:
        (frame H×W×3 uint8 BGR, people): ``people`` a list of dicts with ``track_id`` (the figure, from 1),
        ``keypoints`` (K×3: x, y, v), ``bbox`` (x, y, w, h of the visible pixels) and ``area``.
    """
    rng = np.random.default_rng([seed, _VIDEO_SPLIT, video])
    w, h = cfg.size
    background = _background(rng, w, h)
    walkers = _walkers(rng, cfg, seed, video)
    pillar = None
    if rng.random() < cfg.p_pillar:
        width = float(rng.uniform(0.35, 0.5) * np.mean([p.height for p in walkers] or [cfg.min_height]))
        left = float(rng.uniform(0.25, 0.75) * w - width / 2)
        pillar = np.array([[left, -1], [left + width, -1], [left + width, h + 1], [left, h + 1]])
        pillar_colour = tuple(int(v) for v in rng.integers(40, 200, 3))
    track_ids = {p.seed: n + 1 for n, p in enumerate(sorted(walkers, key=lambda p: p.seed))}
    for t in range(cfg.frames):
        noise = np.random.default_rng([seed, _VIDEO_SPLIT, video, 1_000_000 + t]).normal(0, 3, background.shape)
        p = _Painter(np.clip(background + noise, 0, 255).astype(np.uint8))
        drawn = []
        for pid, walker in enumerate(walkers, 1):
            figure = np.random.default_rng(walker.seed)  # the same build, clothes and arms every frame
            root = np.array([walker.x0 + walker.speed * t, walker.y])
            kp, geom = _pose(figure, root, walker.height, float(figure.normal(0, 3)))
            stride = 2 * np.pi * abs(walker.speed) / (0.9 * walker.height)  # radians of the cycle per frame
            kp = _swing(kp, cfg.stride * 3 * np.sin(walker.phase + stride * t))
            _draw_figure(p, figure, kp, geom, pid)
            drawn.append((pid, walker, kp, geom))
        if pillar is not None:
            p.poly(pillar, pillar_colour, _OCCLUDER)
        people = []
        for pid, walker, kp, geom in drawn:
            found = annotate(p.ids, pid, kp, geom)
            if found is not None:
                people.append(dict(track_id=track_ids[walker.seed], **found))
        yield p.image, people


def write_videos(
    root: str | Path, count: int, seed: int = 0, cfg: VideoConfig = VideoConfig(), progress: bool = True
) -> list[tuple[Path, Path]]:
    """Write ``root/videos/NNN.avi`` (MJPG) and ``root/annotations/video_NNN.json`` for ``count`` videos.

    Returns (video, annotation file) pairs. Each video is written to a temporary name and renamed, its annotations
    after it, so that an interrupted run leaves no video that looks annotated.
    """
    root = Path(root)
    written = []
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=count * cfg.frames, desc="synthetic videos", unit="frame")
    for v in range(count):
        video = root / "videos" / f"{v:03d}.avi"
        images, anns = [], []
        with atomic_path(video) as tmp:
            writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"MJPG"), cfg.fps, cfg.size)
            if not writer.isOpened():
                raise OSError(f"OpenCV cannot write MJPG video to {tmp}; check free space and permissions")
            writer.set(cv2.VIDEOWRITER_PROP_QUALITY, cfg.quality)
            for t, (frame, people) in enumerate(render_video(seed, v, cfg)):
                writer.write(frame)
                image_id = v * 100_000 + t
                images.append(
                    dict(
                        id=image_id,
                        file_name=f"{video.name}#{t}",
                        frame_id=t,
                        vid_id=v,
                        width=cfg.size[0],
                        height=cfg.size[1],
                    )
                )
                anns += [coco_annotation(person, len(anns) + n + 1, image_id) for n, person in enumerate(people)]
                if bar is not None:
                    bar.update()
            writer.release()
        info = dict(
            description=f"swinpose synthetic video {v}, seed {seed}",
            seed=seed,
            fps=cfg.fps,
            frames=cfg.frames,
            video=video.name,
        )
        ann = root / "annotations" / f"video_{v:03d}.json"
        write_json_atomic(ann, dict(info=info, images=images, annotations=anns, categories=[PERSON_CATEGORY]))
        written.append((video, ann))
    if bar is not None:
        bar.close()
    logger.info("wrote %d synthetic videos of %d frames to %s", count, cfg.frames, root / "videos")
    return written
