"""Write the C++ tests' golden files from the Python runtime (numpy/OpenCV/ONNX Runtime only).

    swinpose-export --weights bundled --out /tmp/pk --onnx-only --quiet
    python runtime/cpp/tests/make_golden.py --package /tmp/pk

Writes to runtime/cpp/tests/golden/: model.json (the package's), image.png (a shipped COCO photo, lossless so that
C++ decodes the same pixels), boxes.txt (its GT person boxes, xyxy), affines.txt, inputs.f32 (N×3×H×W normalised
crops), heatmaps.f32 (ONNX Runtime's output on them), keypoints_dark.txt and keypoints_quarter.txt (x y score in
image pixels, N×K rows), and noisy_heatmaps.f32 with noisy_keypoints.txt: seeded noisy and negative N×K×h×w maps,
where DARK needs the whole-map blur and rescale, with their DARK keypoints (x y score in input pixels).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
from pathlib import Path

import cv2
import numpy as np

from runtime.backends import open_backend
from runtime.engine import prepare_boxes
from runtime.package import read_package
from runtime.transforms import xyxy_to_xywh

ROOT = Path(__file__).resolve().parents[3]
PHOTO = ROOT / "tests" / "data" / "coco-val2017-sample" / "000000196141.jpg"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--package", type=Path, required=True)
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "golden")
    args = p.parse_args()
    spec = read_package(args.package)
    args.out.mkdir(parents=True, exist_ok=True)
    shutil.copy(args.package / "model.json", args.out / "model.json")
    image = cv2.resize(cv2.imread(str(PHOTO)), None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)  # small fixture
    cv2.imwrite(str(args.out / "image.png"), image)
    ann = json.loads((PHOTO.parent / "test_coco.json").read_text())["annotations"]
    boxes = (
        np.array(
            [
                [a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2], a["bbox"][1] + a["bbox"][3]]
                for a in ann
                if a["image_id"] == 196141
            ][:3]
        )
        * 0.5
    )
    boxes = np.concatenate([boxes, [[-15.0, 150.0, 60.25, 230.0]]])  # one box partly outside: clipped
    xyxy, _ = prepare_boxes(boxes, image.shape)
    crops, affines = spec.preprocess.crop(image, xyxy_to_xywh(xyxy))
    inputs = spec.preprocess.normalize(crops)
    with open_backend("onnxruntime", spec.onnx_path) as backend:
        heatmaps = backend.infer({spec.input_name: inputs})[spec.output_name]
    np.savetxt(args.out / "boxes.txt", boxes, fmt="%.6f")
    np.savetxt(args.out / "affines.txt", affines.reshape(-1, 6), fmt="%.17g")
    inputs.astype("<f4").tofile(args.out / "inputs.f32")
    heatmaps.astype("<f4").tofile(args.out / "heatmaps.f32")
    for name, dark in (("dark", True), ("quarter", False)):
        codec = dataclasses.replace(spec.codec, use_dark=dark)
        xy, scores = codec.decode_to_image(heatmaps, affines)
        rows = np.concatenate([xy.reshape(-1, 2), scores.reshape(-1, 1)], 1)
        np.savetxt(args.out / f"keypoints_{name}.txt", rows, fmt="%.17g")
    rng = np.random.default_rng(0)
    h, w = spec.codec.heatmap_size
    noisy = rng.normal(0, 0.3, (3, len(ann[0]["keypoints"]) // 3, h, w)).astype(np.float32)
    noisy[0] = -np.abs(noisy[0])
    noisy.astype("<f4").tofile(args.out / "noisy_heatmaps.f32")
    codec = spec.codec
    xy, scores = codec.decode(noisy)
    rows = np.concatenate([codec.heatmap_to_input(xy).reshape(-1, 2), scores.reshape(-1, 1)], 1)
    np.savetxt(args.out / "noisy_keypoints.txt", rows, fmt="%.17g")
    print(f"wrote {len(boxes)} boxes' golden files to {args.out}")


if __name__ == "__main__":
    main()
