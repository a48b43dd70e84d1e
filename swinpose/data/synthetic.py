"""Synthetic COCO-format keypoint data: rendered human-like figures with the 17 COCO keypoints.

Each figure comes from a kinematic skeleton (body height, torso lean, shoulder/hip width foreshortened by yaw,
shoulder abduction, elbow and knee flexion, leg spread, head tilt and yaw), drawn with limb thickness proportional
to its size, random skin/clothing colours and stripe textures. Images hold several figures at random scales and
rotations, cut by the image border (truncation) and covered by random occluders drawn on top.

Visibility flags are set honestly from what was drawn: every primitive also goes into an instance-id map, so a
keypoint is ``v=2`` when its own figure is on top at that pixel, ``v=1`` when another figure, an occluder or (for
face points) the figure's own head hides it, and ``v=0`` with (0, 0) when it lies outside the image. ``bbox`` is
the box of the figure's visible pixels and ``area`` their count, as COCO derives both from the segmentation.

Everything is a function of the seed: image ``i`` of a split uses ``np.random.default_rng([seed, split, i])``,
so a smaller set is a prefix of a larger one made with the same seed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from runtime.errors import ConfigError
from runtime.files import atomic_path, write_json_atomic
from runtime.keypoints import COCO_KEYPOINTS, COCO_SKELETON

__all__ = ["SyntheticConfig", "render_image", "write_dataset", "SPLITS"]

logger = logging.getLogger(__name__)

SPLITS = {"train": 0, "val": 1}
_OCCLUDER = 255
_K = len(COCO_KEYPOINTS)
#: the one category of every annotation file written here (images and videos)
PERSON_CATEGORY = dict(
    id=1,
    name="person",
    supercategory="person",
    keypoints=list(COCO_KEYPOINTS),
    skeleton=[[a + 1, b + 1] for a, b in COCO_SKELETON],
)


@dataclass(frozen=True)
class SyntheticConfig:
    """What a synthetic image looks like. Sizes are in pixels."""

    min_size: tuple[int, int] = (320, 240)  # (W, H) range of image sizes
    max_size: tuple[int, int] = (448, 352)
    max_people: int = 3
    min_height: float = 90.0  # standing height of a figure
    max_height: float = 300.0
    roll_std: float = 12.0  # degrees of whole-body rotation for most figures
    p_large_roll: float = 0.1  # share of figures rotated anywhere in ±90°
    p_occluder: float = 0.35  # chance per figure of an occluder drawn over it
    jpeg_quality: int = 92


def _rot(v: np.ndarray, deg: float) -> np.ndarray:
    """Rotate a 2-vector counter-clockwise on screen (y points down) by ``deg`` degrees."""
    t = np.deg2rad(deg)
    c, s = np.cos(t), np.sin(t)
    return np.array([c * v[0] + s * v[1], -s * v[0] + c * v[1]])


class _Painter:
    """Draws every primitive on the RGB canvas and on the instance-id map at once."""

    def __init__(self, image: np.ndarray) -> None:
        self.image = image
        self.ids = np.zeros(image.shape[:2], np.uint8)
        self.shift = 4  # sub-pixel drawing: coordinates are given in 1/16 pixel

    def _p(self, xy: np.ndarray) -> tuple[int, int]:
        return int(round(xy[0] * 16)), int(round(xy[1] * 16))

    def limb(self, a: np.ndarray, b: np.ndarray, thick: float, color, pid: int) -> None:
        t = max(int(round(thick)), 1)
        for img, val in ((self.image, color), (self.ids, pid)):
            cv2.line(img, self._p(a), self._p(b), val, t, cv2.LINE_AA if img is self.image else cv2.LINE_8, self.shift)
            for p in (a, b):
                cv2.circle(img, self._p(p), int(round(thick * 8)), val, -1, cv2.LINE_8, self.shift)

    def poly(self, pts: np.ndarray, color, pid: int) -> None:
        q = np.round(np.asarray(pts) * 16).astype(np.int32)
        cv2.fillPoly(self.image, [q], color, cv2.LINE_AA, self.shift)
        cv2.fillPoly(self.ids, [q], pid, cv2.LINE_8, self.shift)

    def disc(self, c: np.ndarray, r: float, color, pid: int | None) -> None:
        cv2.circle(self.image, self._p(c), max(int(round(r * 16)), 8), color, -1, cv2.LINE_AA, self.shift)
        if pid is not None:
            cv2.circle(self.ids, self._p(c), max(int(round(r * 16)), 8), pid, -1, cv2.LINE_8, self.shift)


def _colour(rng: np.random.Generator, lo: int = 0, hi: int = 256) -> tuple[int, int, int]:
    return tuple(int(v) for v in rng.integers(lo, hi, 3))


def _skin(rng: np.random.Generator) -> tuple[int, int, int]:
    tone = rng.uniform(0, 1)
    base = np.array([60, 90, 140]) + tone * np.array([140, 130, 105])  # BGR from dark brown to pale
    return tuple(int(v) for v in np.clip(base + rng.normal(0, 8, 3), 0, 255))


def _pose(rng: np.random.Generator, root: np.ndarray, height: float, roll: float) -> tuple[np.ndarray, dict]:
    """Keypoints (17×2, image pixels) of one figure and the geometry needed to draw it."""
    up = _rot(np.array([0.0, -1.0]), roll)
    yaw = rng.uniform(-60, 60)
    wfac = np.cos(np.deg2rad(yaw)) * 0.8 + 0.2
    spine = _rot(up, rng.normal(0, 8))
    right = np.array([-spine[1], spine[0]])  # image-right when upright
    pelvis = root
    neck = pelvis + 0.30 * height * spine
    kp = np.zeros((_K, 2))
    # the person's left side is on the image right: the figure faces the camera
    kp[5], kp[6] = neck + 0.12 * height * wfac * right, neck - 0.12 * height * wfac * right
    kp[11], kp[12] = pelvis + 0.08 * height * wfac * right, pelvis - 0.08 * height * wfac * right
    down = -spine
    for side, (s, e, w) in ((1, (5, 7, 9)), (-1, (6, 8, 10))):
        abduct = rng.uniform(-15, 170) if rng.random() < 0.6 else rng.uniform(-15, 45)
        upper = _rot(down, side * abduct)
        fore = _rot(upper, rng.choice([-1, 1]) * rng.uniform(0, 145))
        kp[e] = kp[s] + 0.17 * height * rng.uniform(0.65, 1.0) * upper
        kp[w] = kp[e] + 0.15 * height * rng.uniform(0.65, 1.0) * fore
    for side, (h, k, a) in ((1, (11, 13, 15)), (-1, (12, 14, 16))):
        thigh = _rot(down, side * (rng.uniform(-8, 40) if rng.random() < 0.8 else rng.uniform(-20, 90)))
        shin = _rot(thigh, -side * rng.uniform(0, 100) * (rng.random() < 0.6))
        kp[k] = kp[h] + 0.24 * height * rng.uniform(0.6, 1.0) * thigh
        kp[a] = kp[k] + 0.23 * height * rng.uniform(0.6, 1.0) * shin
    head_up = _rot(spine, rng.normal(0, 12))
    head_r = 0.065 * height
    head = neck + 0.04 * height * head_up + head_r * head_up
    head_right = np.array([-head_up[1], head_up[0]])
    face_hidden = np.zeros(_K, bool)
    # face points sit on a sphere: azimuth 0 faces the camera, the person's left (+) is on the image right
    for idx, azimuth, rise, radius in (
        (0, 0, -0.15, 1.1),
        (1, 32, 0.2, 0.95),
        (2, -32, 0.2, 0.95),
        (3, 95, 0.05, 1.0),
        (4, -95, 0.05, 1.0),
    ):
        a = np.deg2rad(yaw + azimuth)
        kp[idx] = head + head_r * (radius * np.sin(a) * head_right + rise * head_up)
        face_hidden[idx] = np.cos(a) < (0.15 if idx < 3 else -0.3)
    geom = dict(height=height, head=head, head_r=head_r, head_up=head_up, face_hidden=face_hidden, yaw=yaw)
    return kp, geom


def _draw_figure(p: _Painter, rng: np.random.Generator, kp: np.ndarray, g: dict, pid: int) -> None:
    hgt, skin = g["height"], _skin(rng)
    shirt, pants, shoes = _colour(rng), _colour(rng), _colour(rng, 0, 120)
    sleeve = shirt if rng.random() < 0.5 else skin
    leg_lo = pants if rng.random() < 0.7 else skin
    for h, k, a in ((11, 13, 15), (12, 14, 16)):
        p.limb(kp[h], kp[k], 0.075 * hgt, pants, pid)
        p.limb(kp[k], kp[a], 0.06 * hgt, leg_lo, pid)
        p.disc(kp[a], 0.035 * hgt, shoes, pid)
    torso = np.array([kp[5], kp[6], kp[12], kp[11]])
    centre = torso.mean(0)
    p.poly(centre + (torso - centre) * 1.12, shirt, pid)
    if rng.random() < 0.4:  # stripes on the shirt
        dark = tuple(int(v * 0.6) for v in shirt)
        for t in np.linspace(0.15, 0.85, int(rng.integers(2, 5))):
            p.limb(kp[5] + t * (kp[11] - kp[5]), kp[6] + t * (kp[12] - kp[6]), 0.015 * hgt, dark, pid)
    for s, e, w in ((5, 7, 9), (6, 8, 10)):
        p.limb(kp[s], kp[e], 0.055 * hgt, shirt, pid)
        p.limb(kp[e], kp[w], 0.045 * hgt, sleeve, pid)
        p.disc(kp[w], 0.03 * hgt, skin, pid)
    head, r, up = g["head"], g["head_r"], g["head_up"]
    p.limb(head - up * r * 0.6, head - up * r * 1.6, 0.05 * hgt, skin, pid)  # neck
    for idx in (3, 4):  # ears first, so the head covers a hidden one
        p.disc(kp[idx], 0.3 * r, tuple(int(v * 0.85) for v in skin), pid)
    p.disc(head, r, skin, pid)
    hair = _colour(rng, 0, 90)
    cv2.ellipse(
        p.image,
        p._p(head),
        (int(r * 16), int(r * 16 * 0.7)),
        float(np.degrees(np.arctan2(up[1], up[0]))),
        -90,
        90,
        hair,
        -1,
        cv2.LINE_AA,
        p.shift,
    )
    for idx in (3, 4):
        if not g["face_hidden"][idx]:
            p.disc(kp[idx], 0.28 * r, tuple(int(v * 0.85) for v in skin), pid)
    for idx, col in ((1, (30, 30, 30)), (2, (30, 30, 30)), (0, tuple(int(v * 0.6) for v in skin))):
        if not g["face_hidden"][idx]:
            p.disc(kp[idx], (0.16 if idx else 0.2) * r, col, None)


def _background(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    c0, c1 = np.array(_colour(rng), np.float32), np.array(_colour(rng), np.float32)
    t = np.linspace(0, 1, h if rng.random() < 0.5 else w, dtype=np.float32)
    ramp = c0 + t[:, None] * (c1 - c0)
    img = np.broadcast_to(ramp[:, None] if len(t) == h else ramp[None], (h, w, 3)).copy()
    img += rng.normal(0, 6, (h, w, 3)).astype(np.float32)
    img = np.clip(img, 0, 255).astype(np.uint8)
    for _ in range(int(rng.integers(3, 10))):  # clutter: boxes, discs and lines that are not people
        col, x, y = _colour(rng), int(rng.integers(0, w)), int(rng.integers(0, h))
        kind = rng.integers(3)
        if kind == 0:
            cv2.rectangle(img, (x, y), (x + int(rng.integers(10, 120)), y + int(rng.integers(10, 120))), col, -1)
        elif kind == 1:
            cv2.circle(img, (x, y), int(rng.integers(5, 50)), col, -1, cv2.LINE_AA)
        else:
            end = (int(rng.integers(0, w)), int(rng.integers(0, h)))
            cv2.line(img, (x, y), end, col, int(rng.integers(2, 12)), cv2.LINE_AA)
    return img


def _occluder(p: _Painter, rng: np.random.Generator, kp: np.ndarray, height: float) -> None:
    c = kp[rng.integers(_K)] + rng.normal(0, 0.1 * height, 2)
    half = rng.uniform(0.06, 0.18, 2) * height
    pts = c + _rot(np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]]) * half, rng.uniform(0, 90))
    p.poly(pts, _colour(rng), _OCCLUDER)


def annotate(ids: np.ndarray, pid: int, kp: np.ndarray, geom: dict) -> dict | None:
    """Figure ``pid``'s annotation from the instance map ``ids`` (H×W): ``keypoints`` K×3 (x, y, v; v = 2 where the
    figure is on top at that pixel, 1 where something hides it, 0 with (0, 0) outside the image), ``bbox`` (x, y, w,
    h) of its visible pixels and ``area`` their count; None where no pixel of it is visible."""
    h, w = ids.shape
    mask = ids == pid
    area = int(mask.sum())
    if area == 0:
        return None
    ys, xs = np.nonzero(mask)
    xi = np.clip(np.round(kp[:, 0]).astype(int), 0, w - 1)
    yi = np.clip(np.round(kp[:, 1]).astype(int), 0, h - 1)
    inside = (kp[:, 0] >= 0) & (kp[:, 0] <= w - 1) & (kp[:, 1] >= 0) & (kp[:, 1] <= h - 1)
    on_top = (ids[yi, xi] == pid) & ~geom["face_hidden"]
    v = np.where(inside, np.where(on_top, 2, 1), 0)
    kps = np.concatenate([np.where(inside[:, None], kp, 0.0), v[:, None]], 1)
    box = [float(xs.min()), float(ys.min()), float(xs.max() - xs.min() + 1), float(ys.max() - ys.min() + 1)]
    return dict(keypoints=kps, bbox=box, area=area)


def coco_annotation(person: dict, ann_id: int, image_id: int) -> dict:
    """The COCO annotation entry of one :func:`annotate` result (with its ``track_id`` where it has one)."""
    kps = person["keypoints"]
    extra = {"track_id": person["track_id"]} if "track_id" in person else {}
    return dict(
        id=ann_id,
        image_id=image_id,
        category_id=1,
        **extra,
        iscrowd=0,
        keypoints=[round(float(v), 2) for v in kps.reshape(-1)],
        num_keypoints=int((kps[:, 2] > 0).sum()),
        bbox=[round(v, 2) for v in person["bbox"]],
        area=float(person["area"]),
    )


def render_image(
    seed: int, split: str, index: int, cfg: SyntheticConfig = SyntheticConfig()
) -> tuple[np.ndarray, list]:
    """One synthetic image and its person annotations.

    Returns:
        image: H×W×3 uint8 BGR.
        people: list of dicts with ``keypoints`` (K×3: x, y, v), ``bbox`` (x, y, w, h) and ``area``; figures that
        ended up with no visible pixel are dropped.
    """
    if split not in SPLITS:
        raise ConfigError(f"unknown split {split!r}; use one of {sorted(SPLITS)}")
    rng = np.random.default_rng([seed, SPLITS[split], index])
    w = int(rng.integers(cfg.min_size[0], cfg.max_size[0] + 1))
    h = int(rng.integers(cfg.min_size[1], cfg.max_size[1] + 1))
    p = _Painter(_background(rng, w, h))
    n = int(rng.integers(1, cfg.max_people + 1))
    people = []
    for pid in range(1, n + 1):
        height = float(np.exp(rng.uniform(np.log(cfg.min_height), np.log(min(cfg.max_height, 1.1 * h)))))
        roll = rng.uniform(-90, 90) if rng.random() < cfg.p_large_roll else rng.normal(0, cfg.roll_std)
        root = np.array([rng.uniform(0.0, 1.0) * w, rng.uniform(0.3, 0.9) * h])
        kp, geom = _pose(rng, root, height, roll)
        _draw_figure(p, rng, kp, geom, pid)
        if rng.random() < cfg.p_occluder:
            _occluder(p, rng, kp, height)
        people.append((pid, kp, geom))
    image = cv2.GaussianBlur(p.image, (3, 3), 0) if rng.random() < 0.3 else p.image
    out = [a for pid, kp, geom in people if (a := annotate(p.ids, pid, kp, geom)) is not None]
    return image, out


def write_dataset(
    root: str | Path,
    num_train: int,
    num_val: int,
    seed: int = 0,
    cfg: SyntheticConfig = SyntheticConfig(),
    progress: bool = True,
) -> dict[str, Path]:
    """Write ``root/{train,val}/*.jpg`` and ``root/annotations/person_keypoints_{train,val}.json``.

    Returns the annotation file of each split written. Images are written to temporary names and renamed, and the
    annotation file last, so an interrupted run leaves no split that looks complete.
    """
    root = Path(root)
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    written = {}
    for split, count in (("train", num_train), ("val", num_val)):
        if count <= 0:
            continue
        (root / split).mkdir(exist_ok=True)
        images, anns = [], []
        it = range(count)
        if progress:
            from tqdm import tqdm

            it = tqdm(it, desc=f"synthetic {split}", unit="img")
        for i in it:
            image, people = render_image(seed, split, i, cfg)
            image_id = i + 1
            name = f"{image_id:012d}.jpg"
            with atomic_path(root / split / name) as tmp:
                if not cv2.imwrite(str(tmp), image, [cv2.IMWRITE_JPEG_QUALITY, cfg.jpeg_quality]):
                    raise OSError(f"could not write {tmp}; check free space and permissions")
            images.append(dict(id=image_id, file_name=name, width=image.shape[1], height=image.shape[0]))
            anns += [coco_annotation(person, len(anns) + n + 1, image_id) for n, person in enumerate(people)]
        info = dict(description=f"swinpose synthetic figures, seed {seed}, split {split}", version="1", seed=seed)
        ann_file = root / "annotations" / f"person_keypoints_{split}.json"
        write_json_atomic(ann_file, dict(info=info, images=images, annotations=anns, categories=[PERSON_CATEGORY]))
        logger.info("wrote %d %s images with %d people to %s", len(images), split, len(anns), root / split)
        written[split] = ann_file
    return written
