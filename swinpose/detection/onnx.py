"""The bundled detector → ONNX: :class:`~swinpose.detection.model.DetectorGraph`, batch 1, opset 18, ending
before NMS in the ``ultralytics`` layout, with the class names in Ultralytics' ``names`` metadata form."""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from runtime.errors import ExportError
from runtime.files import atomic_path
from swinpose.detection.model import DetectorConfig, DetectorGraph

__all__ = ["INPUT_NAME", "OUTPUT_NAME", "detector_onnx", "open_detector", "LAYOUT"]

logger = logging.getLogger(__name__)

INPUT_NAME, OUTPUT_NAME = "images", "output0"
LAYOUT = "ultralytics"
OPSET = 18  # the dynamo exporter's own; converting this graph down to 17 fails in onnx's version converter


def detector_onnx(model: nn.Module, cfg: DetectorConfig, out: Path) -> Path:
    """Write the export graph of a trained FCOS ``model`` to ``out`` atomically; returns ``out``."""
    import onnx

    graph = DetectorGraph(model.eval(), cfg).eval()
    h, w = cfg.input_size
    example = torch.zeros(1, 3, h, w)
    chatter = io.StringIO()
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(chatter), torch.no_grad():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(
                graph,
                (example,),
                dynamo=True,
                opset_version=OPSET,
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
            )
    except Exception as e:  # the exporter raises many types
        raise ExportError(
            f"torch.onnx.export failed for the detector {cfg.name} ({type(e).__name__}: {str(e)[:500]})"
        ) from e
    logger.debug("torch.onnx.export: %s", chatter.getvalue().strip())
    proto = program.model_proto
    for key, value in (("names", "{0: 'person'}"), ("imgsz", str([h, w])), ("swinpose_detector", cfg.name)):
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(proto, full_check=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        onnx.save(proto, str(tmp))
    return out


def open_detector(value: str | Path, folder: Path, **options: Any):
    """A :class:`runtime.detection.Detector` on ONNX Runtime for ``value``: swinpose detector weights (``"bundled"``,
    a ``.safetensors`` file) exported to ONNX in ``folder`` first, or a detector package or file as the runtime
    opens it. ``options`` go to the Detector (``layout``, ``score_thr`` ...)."""
    from runtime.detection import Detector
    from swinpose.detection.weights import load_detector, resolve_detector

    path = resolve_detector(value)
    if path.suffix.lower() == ".safetensors":
        model, cfg, _ = load_detector(path)
        path = detector_onnx(model, cfg, folder / "detector.onnx")
    return Detector(path, backend="onnxruntime", **options)
