"""The ``swinpose_net`` network model where Triton has no ONNX Runtime backend (the ``tritonserver`` of the
``nvidia-pytriton`` wheel): the CPU runtime :func:`runtime.backends.default_cpu_backend` picks (ONNX Runtime, or
OpenVINO on AVX-512 x86 where it is installed) inside the Python backend. Triton's dynamic batcher hands ``execute``
several requests; their crops run as one batch."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from runtime.backends import default_cpu_backend, open_backend
from runtime.triton.pipeline_model import model_parameters, to_numpy, to_tensor

__all__ = ["TritonPythonModel"]


class TritonPythonModel:
    def initialize(self, args: dict[str, str]) -> None:
        import triton_python_backend_utils as pb  # only inside Triton's Python backend

        self.pb = pb
        config = json.loads(args["model_config"])
        threads = int(model_parameters(config).get("threads") or 0)
        path = Path(args["model_repository"]) / args["model_version"] / "model.onnx"
        self.backend = open_backend(default_cpu_backend(), path, "cpu", threads)
        self.input, self.output = config["input"][0]["name"], config["output"][0]["name"]

    def execute(self, requests: list[Any]) -> list[Any]:
        arrays = [to_numpy(self.pb.get_input_tensor_by_name(r, self.input)) for r in requests]
        heatmaps = self.backend.infer({self.input: np.concatenate(arrays)})[self.output]
        responses, start = [], 0
        for a in arrays:
            part = heatmaps[start : start + len(a)]
            responses.append(self.pb.InferenceResponse([to_tensor(self.pb, self.output, part)]))
            start += len(a)
        return responses

    def finalize(self) -> None:
        self.backend.close()
