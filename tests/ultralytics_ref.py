"""Ultralytics as the reference for its own detector layouts (test-only: Ultralytics is AGPL-3.0, and no library module
imports it; test_detection.py checks that).

Its own exporter writes the files (random weights, the person bias spread so that boxes score on both sides of the
threshold), and its own pre- and post-processing (``LetterBox``, ``non_max_suppression`` with its ``TorchNMS``,
``scale_boxes``) decodes them, on the ONNX Runtime outputs of the same files. The README's test command installs it
(``pip install --no-deps ultralytics ultralytics-thop``). Without it the tests skip locally and fail on CI.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pytest

#: COCO's 80 classes, as a trained Ultralytics model names them (person first); the rest are placeholders
NAMES = {0: "person", **{i: f"class{i}" for i in range(1, 80)}}
#: gains on the head's last box and person convolutions of a random model, whose features vary little
BOX_GAIN, PERSON_GAIN = 8.0, 20.0


def ultralytics():
    """The ``ultralytics`` module, offline, with its settings in a temporary folder."""
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ.setdefault("YOLO_CONFIG_DIR", tempfile.mkdtemp(prefix="swinpose-ultralytics-"))
    try:
        from swinpose.detection.torchvision_ops import declare_missing_ops

        declare_missing_ops()  # Ultralytics imports torchvision
        import ultralytics as module
    except ImportError:
        reason = "Ultralytics is not installed (pip install --no-deps ultralytics ultralytics-thop)"
        if os.environ.get("CI"):
            pytest.fail(f"CI must check the Ultralytics layouts but {reason}; see the README's test command")
        pytest.skip(reason)
    return module


def export_yolo(cfg: str, folder: Path, imgsz: int = 320, seed: int = 0, **options) -> Path:
    """A random-weight Ultralytics model from its ``cfg`` yaml (``yolov8n.yaml``, ``yolov10n.yaml`` ...) exported to
    ONNX in ``folder`` with Ultralytics' exporter and ``options`` (``nms=True``, ``end2end=True``, ``dynamic=True``)."""
    ultralytics()
    import torch
    from torchvision_shim import provide_nms
    from ultralytics import YOLO
    from ultralytics.utils.nms import TorchNMS

    if options.get("nms"):
        provide_nms(TorchNMS.nms)  # the nms=True export traces torchvision's NMS; the graph holds ONNX's
    torch.manual_seed(seed)
    yolo = YOLO(cfg)
    yolo.model.names = dict(NAMES)
    rng = np.random.default_rng(seed)
    head = yolo.model.model[-1]
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():  # PyTorch's default init fades the image out over YOLO's depth (boxes and scores tie)
        for module in yolo.model.modules():
            if isinstance(module, torch.nn.Conv2d) and module.weight.requires_grad:
                fan_in = module.weight[0].numel()
                module.weight.normal_(0.0, (2.0 / fan_in) ** 0.5, generator=generator)
        for branch in [head.cv2, *([head.one2one_cv2] if hasattr(head, "one2one_cv2") else [])]:
            for stage in branch:
                stage[-1].weight.mul_(BOX_GAIN)
        for branch in [head.cv3, *([head.one2one_cv3] if hasattr(head, "one2one_cv3") else [])]:
            for stage in branch:
                conv = stage[-1]  # person on both sides of the threshold, the other classes below it
                conv.weight[0].mul_(PERSON_GAIN)
                bias = rng.uniform(-8.0, -4.0, conv.bias.shape)
                bias[0] = rng.uniform(-1.5, 0.0)
                conv.bias.copy_(torch.from_numpy(bias.astype(np.float32)))
    folder.mkdir(parents=True, exist_ok=True)
    cwd = os.getcwd()
    os.chdir(folder)  # the exporter writes beside the yaml's name
    try:
        out = yolo.export(format="onnx", imgsz=imgsz, simplify=False, verbose=False, **options)
    finally:
        os.chdir(cwd)
    return Path(folder) / Path(out).name


def letterbox(image: np.ndarray, imgsz: int) -> np.ndarray:
    """Ultralytics' LetterBox of a BGR image, as its ONNX predictor applies it (no ``auto`` minimum rectangle)."""
    ultralytics()
    from ultralytics.data.augment import LetterBox

    return LetterBox((imgsz, imgsz), auto=False, stride=32)(image=image)


def reference_boxes(
    onnx_path: Path, image: np.ndarray, imgsz: int, conf: float, iou: float, max_det: int, end2end: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Ultralytics' person boxes (N×4 xyxy image pixels) and scores for ``image``: its LetterBox, the file on ONNX
    Runtime, its ``non_max_suppression`` (person column, ``multi_label``) and ``scale_boxes``."""
    ultralytics()
    import onnxruntime as ort
    import torch
    from ultralytics.utils import ops
    from ultralytics.utils.nms import non_max_suppression

    padded = letterbox(image, imgsz)
    x = np.ascontiguousarray(padded[..., ::-1].transpose(2, 0, 1)[None], np.float32) / 255
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    y = session.run(None, {session.get_inputs()[0].name: x})[0]
    (pred,) = non_max_suppression(
        torch.from_numpy(y), conf, iou, classes=[0], multi_label=True, max_det=max_det, end2end=end2end
    )
    boxes = ops.scale_boxes(padded.shape[:2], pred[:, :4].clone(), image.shape)
    return boxes.numpy().astype(np.float64), pred[:, 4].numpy().astype(np.float64)
