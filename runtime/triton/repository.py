"""A Triton model repository from a model package (``swinpose-export --triton DIR``, ``swinpose-serve``).

    DIR/swinpose_net/config.pbtxt   the network: tensorrt_plan, onnxruntime_onnx, or the Python backend running
    DIR/swinpose_net/1/...          ONNX Runtime (model.plan | model.onnx | model.py + model.onnx)
    DIR/swinpose/config.pbtxt       the pipeline (Python backend): image (+ boxes) → keypoints + scores + boxes
    DIR/swinpose/1/model.py, model.json
                   (+ detector.json, detector_io.json with a detector)
    DIR/swinpose_det/config.pbtxt   with ``detector``: the person detector (Python backend, ONNX Runtime)
    DIR/swinpose_det/1/model.py, model.onnx

The detector (a detector package, ``swinpose-export --detector FILE --out DET``) is a model of its own so that
Triton's dynamic batcher puts the images of concurrent requests together, as ``swinpose_net`` does their crops; the
pipeline calls it through BLS for requests without boxes and decodes its outputs with
:class:`runtime.detection.Detector`'s own code. It always runs in the Python backend
(:mod:`runtime.triton.network_model`, the same model file as the Python network), because detector files are
mostly exported with their batch fixed at 1 (the bundled detector's input is 1×3×256×320): Triton's
``onnxruntime_onnx`` and ``tensorrt_plan`` backends batch only a graph whose first axis is dynamic, whereas the
Python model takes a batch of queued requests in one execution and runs a fixed-batch graph one image at a time
inside it (a dynamic-batch graph in one run). It runs on the CPU: a detector package's TensorRT engine is not used.
The detector file is opened once as the runtime opens it (checked against its ``detector.json``), and its batch
axis must be 1 or dynamic.

The repository is built beside ``DIR`` and swapped in whole (:func:`runtime.files.replace_folder`), so an
interrupted write leaves the old repository or the new one; every config is parsed back through ``tritonclient``'s
``model_config_pb2`` (when installed) and checked against the package before the swap.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from runtime.detection import Detector, DetectorSpec
from runtime.errors import ConfigError, MissingDependencyError
from runtime.files import check_replaceable_folder, fault_point, replace_folder, staging_folder
from runtime.package import PackageSpec, read_package
from runtime.triton.config import (
    DET,
    DETECTOR_IO_JSON,
    NET,
    PIPELINE,
    DetectorIO,
    ServingOptions,
    detector_config,
    network_config,
    parse_config,
    pipeline_config,
)

__all__ = ["write_repository", "check_repository", "check_repository_folder", "open_detector", "MODEL_PY"]

#: the model.py Triton loads: the model is runtime's; SWINPOSE_PYTHONPATH (set by swinpose-serve) is where runtime
#: and its libraries are, since Triton's Python stub ignores PYTHONPATH
MODEL_PY = '''"""Triton Python-backend model: {what}. Written by swinpose; the code is runtime/triton/{module}.py."""
import os
import sys

for _path in reversed([p for p in os.environ.get("SWINPOSE_PYTHONPATH", "").split(os.pathsep) if p]):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from runtime.triton.{module} import TritonPythonModel  # noqa: E402,F401
'''


def check_repository_folder(out: Path) -> None:
    """``out`` can become a repository: absent, empty, or one swinpose wrote (it is replaced whole)."""
    check_replaceable_folder(out, lambda name: name in (NET, PIPELINE, DET), "--triton", "a swinpose model repository")


def open_detector(detector: str | Path, o: ServingOptions) -> tuple[DetectorSpec, DetectorIO]:
    """The detector package ``detector`` as the repository serves it: opened as the runtime opens it (its file
    checked against ``detector.json``, its layout, person class and input size resolved, ``o``'s decoding
    settings checked), and its graph's tensors, whose batch axis must be 1 or dynamic (:class:`DetectorIO`)."""
    with Detector(detector, score_thr=o.det_score_thr, iou_thr=o.det_iou_thr, top_k=o.det_top_k) as found:
        if found.package is None:
            raise ConfigError(
                f"{detector} is a detector file, not a detector package; package it first: "
                f"swinpose-export --detector {detector} --out DET, then pass DET"
            )
        return found.package, DetectorIO(tuple(found.backend.inputs), tuple(found.backend.outputs))


def _check_detector(folder: Path, pipe: Any, io: DetectorIO | None) -> None:
    """The pipeline's detector parameter, BOXES optional, and the detector model's I/O against ``io``."""
    params = {k: v.string_value for k, v in pipe.parameters.items()}
    named = params.get("detector", "")
    if named != (DET if io is not None else ""):
        raise ConfigError(f"{folder / PIPELINE}: its detector parameter {named!r} does not fit the repository")
    boxes = next((t for t in pipe.input if t.name == "BOXES"), None)
    if boxes is None or not boxes.optional:
        raise ConfigError(f"{folder / PIPELINE}: BOXES must be an optional input (the detector finds the boxes)")
    if io is None:
        return
    det = parse_config((folder / DET / "config.pbtxt").read_text())
    want = [(t.name, list(t.shape[1:])) for t in (*io.inputs, *io.outputs)]
    have = [(t.name, list(t.dims)) for t in (*det.input, *det.output)]
    if have != want or det.max_batch_size < 1 or not det.HasField("dynamic_batching"):
        raise ConfigError(
            f"{folder / DET}: its I/O {have} (max batch {det.max_batch_size}) is not the detector's {want} with "
            "a batch and Triton's dynamic batcher"
        )


def check_repository(folder: Path, spec: PackageSpec, detector: DetectorIO | None = None) -> None:
    """Parse every config with Triton's ModelConfig protobuf and check their I/O against the package (and the
    detector's tensors ``detector``, where the repository serves one)."""
    net = parse_config((folder / NET / "config.pbtxt").read_text())
    pipe = parse_config((folder / PIPELINE / "config.pbtxt").read_text())
    want = [(spec.input.name, list(spec.input.shape[1:])), (spec.output.name, list(spec.output.shape[1:]))]
    have = [(t.name, list(t.dims)) for t in (*net.input, *net.output)]
    if have != want or net.max_batch_size != spec.batch.max:
        raise ConfigError(
            f"{folder / NET}: its I/O {have} (max batch {net.max_batch_size}) is not the package's "
            f"{want} (max batch {spec.batch.max})"
        )
    k = spec.num_keypoints
    outputs = {t.name: list(t.dims) for t in pipe.output}
    if outputs != {"KEYPOINTS": [-1, k, 2], "SCORES": [-1, k], "BOXES_OUT": [-1, 5]}:
        raise ConfigError(
            f"{folder / PIPELINE}: outputs {outputs} are not N×{k}×2 keypoints, N×{k} scores and N×5 boxes"
        )
    _check_detector(folder, pipe, detector)


def write_repository(
    package: str | Path,
    out: str | Path,
    options: ServingOptions | None = None,
    check: bool = True,
    detector: str | Path | None = None,
) -> Path:
    """Write the model repository of ``package`` to ``out`` (see the module's docstring); returns ``out``.
    ``check``: parse the configs back with tritonclient (skipped, with a log line, where it is not installed).
    ``detector``: a detector package folder to serve as ``swinpose_det``, so that requests may leave out boxes."""
    spec = read_package(package)
    o = (options or ServingOptions()).resolve(spec)
    out = Path(out)
    check_repository_folder(out)
    det_spec, io = open_detector(detector, o) if detector is not None else (None, None)
    staging = staging_folder(out)
    try:
        net = staging / NET / "1"
        net.mkdir(parents=True)
        (staging / NET / "config.pbtxt").write_text(network_config(spec, o))
        if o.network == "tensorrt":
            shutil.copyfile(spec.engine_path, net / "model.plan")
        else:
            shutil.copyfile(spec.onnx_path, net / "model.onnx")
        if o.network == "python":
            (net / "model.py").write_text(MODEL_PY.format(what="the network on ONNX Runtime", module="network_model"))
        fault_point("repository-network")
        pipe = staging / PIPELINE / "1"
        pipe.mkdir(parents=True)
        (staging / PIPELINE / "config.pbtxt").write_text(pipeline_config(spec, o, detector=io is not None))
        (pipe / "model.py").write_text(MODEL_PY.format(what="the pose pipeline", module="pipeline_model"))
        spec.write(pipe)  # model.json, which the pipeline model reads (runtime.package.PACKAGE_JSON)
        if det_spec is not None and io is not None:
            det_spec.write(pipe)  # detector.json: the layout, person class and input size the pipeline decodes with
            (pipe / DETECTOR_IO_JSON).write_text(json.dumps(io.to_dict(), indent=2) + "\n")
            det = staging / DET / "1"
            det.mkdir(parents=True)
            (staging / DET / "config.pbtxt").write_text(detector_config(io, o))
            shutil.copyfile(det_spec.onnx_path, det / "model.onnx")
            (det / "model.py").write_text(
                MODEL_PY.format(what="the person detector on ONNX Runtime", module="network_model")
            )
            fault_point("repository-detector")
        if check:
            try:
                check_repository(staging, spec, io)
            except MissingDependencyError as e:
                import logging

                logging.getLogger(__name__).info("configs not parsed back: %s", e)
        replace_folder(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out
