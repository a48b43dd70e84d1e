"""A Triton model repository from a model package (``swinpose-export --triton DIR``, ``swinpose-serve``).

    DIR/swinpose_net/config.pbtxt   the network: tensorrt_plan, onnxruntime_onnx, or the Python backend running
    DIR/swinpose_net/1/...          ONNX Runtime (model.plan | model.onnx | model.py + model.onnx)
    DIR/swinpose/config.pbtxt       the pipeline (Python backend): image + boxes → keypoints + scores
    DIR/swinpose/1/model.py, model.json

The repository is built beside ``DIR`` and swapped in whole (:func:`runtime.files.replace_folder`), so an
interrupted write leaves the old repository or the new one; every config is parsed back through ``tritonclient``'s
``model_config_pb2`` (when installed) and checked against the package before the swap.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from runtime.errors import ConfigError, MissingDependencyError
from runtime.files import check_replaceable_folder, fault_point, replace_folder, staging_folder
from runtime.package import PackageSpec, read_package
from runtime.triton.config import NET, PIPELINE, ServingOptions, network_config, parse_config, pipeline_config

__all__ = ["write_repository", "check_repository", "check_repository_folder", "MODEL_PY"]

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
    check_replaceable_folder(out, lambda name: name in (NET, PIPELINE), "--triton", "a swinpose model repository")


def check_repository(folder: Path, spec: PackageSpec) -> None:
    """Parse both configs with Triton's ModelConfig protobuf and check their I/O against the package."""
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
    if outputs != {"KEYPOINTS": [-1, k, 2], "SCORES": [-1, k]}:
        raise ConfigError(f"{folder / PIPELINE}: outputs {outputs} are not N×{k}×2 keypoints and N×{k} scores")


def write_repository(
    package: str | Path, out: str | Path, options: ServingOptions | None = None, check: bool = True
) -> Path:
    """Write the model repository of ``package`` to ``out`` (see the module's docstring); returns ``out``.
    ``check``: parse the configs back with tritonclient (skipped, with a log line, where it is not installed)."""
    spec = read_package(package)
    o = (options or ServingOptions()).resolve(spec)
    out = Path(out)
    check_repository_folder(out)
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
        (staging / PIPELINE / "config.pbtxt").write_text(pipeline_config(spec, o))
        (pipe / "model.py").write_text(MODEL_PY.format(what="the pose pipeline", module="pipeline_model"))
        spec.write(pipe)  # model.json, which the pipeline model reads (runtime.package.PACKAGE_JSON)
        if check:
            try:
                check_repository(staging, spec)
            except MissingDependencyError as e:
                import logging

                logging.getLogger(__name__).info("configs not parsed back: %s", e)
        replace_folder(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out
