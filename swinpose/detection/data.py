"""Person boxes of a COCO keypoint split, letterboxed the way the runtime letterboxes (one implementation:
:mod:`runtime.detection.letterbox`), for training the bundled detector."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import Tensor

from runtime.detection.letterbox import letterbox_preset
from runtime.errors import DataError

__all__ = ["PersonBoxes", "PRESET", "collate"]

PRESET = "ultralytics"  # what the exported graph takes (swinpose.detection.model)


class PersonBoxes(torch.utils.data.Dataset):
    """Item ``i``: (``[3, H, W]`` float32 RGB in 0..1, ``{"boxes": [M, 4] x1 y1 x2 y2 in network pixels,
    "labels": [M] zeros}``). Crowd boxes and boxes under 1 px are left out; an image without people has M = 0.

    Args:
        ann_file, image_dir: the split (``swinpose.data.coco.find_split``).
        input_size: (H, W) of the network input.
        flip: mirror each image with probability 0.5, drawn from ``torch``'s generator (seed it for repeatable runs).
    """

    def __init__(self, ann_file: Path, image_dir: Path, input_size: tuple[int, int], flip: bool = False) -> None:
        data = json.loads(Path(ann_file).read_text())
        if not isinstance(data, dict) or "images" not in data or "annotations" not in data:
            raise DataError(f"{ann_file} lacks 'images'/'annotations'; is it a COCO person_keypoints file?")
        self.images = [(int(im["id"]), Path(image_dir) / im["file_name"]) for im in data["images"]]
        self.boxes: dict[int, list[list[float]]] = {i: [] for i, _ in self.images}
        for ann in data["annotations"]:
            x, y, w, h = ann["bbox"]
            if not ann.get("iscrowd", 0) and w >= 1 and h >= 1 and int(ann["image_id"]) in self.boxes:
                self.boxes[int(ann["image_id"])].append([x, y, x + w, y + h])
        self.input_size, self.flip = input_size, flip
        self.letterbox = letterbox_preset(PRESET)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[Tensor, dict[str, Tensor]]:
        image_id, path = self.images[i]
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise DataError(f"cannot read image {path}")
        boxes = np.array(self.boxes[image_id], np.float64).reshape(-1, 4)
        if self.flip and bool(torch.rand(()) < 0.5):
            image = np.ascontiguousarray(image[:, ::-1])
            boxes = np.stack([image.shape[1] - boxes[:, 2], boxes[:, 1], image.shape[1] - boxes[:, 0], boxes[:, 3]], 1)
        x, geometry = self.letterbox(image, self.input_size)
        target = {
            "boxes": torch.from_numpy(geometry.to_network(boxes)).float(),
            "labels": torch.zeros(len(boxes), dtype=torch.int64),
        }
        return torch.from_numpy(x[0]), target


def collate(batch: list) -> tuple[list[Tensor], list[dict[str, Tensor]]]:
    """torchvision detection models take lists of images and targets."""
    images, targets = zip(*batch)
    return list(images), list(targets)
