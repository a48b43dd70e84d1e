"""A network in the Python backend, on ONNX Runtime: the ``swinpose_net`` network model where Triton has no ONNX
Runtime backend (the ``tritonserver`` of the ``nvidia-pytriton`` wheel), and the ``swinpose_det`` detector model
always. The CPU runtime is the one :func:`runtime.backends.default_cpu_backend` picks (ONNX Runtime, or OpenVINO on
AVX-512 x86 where it is installed). Triton's dynamic batcher hands ``execute`` several requests; their inputs run
as one batch, or, for a graph whose batch axis is fixed (detectors exported at batch 1, as most are), one graph
batch at a time inside the one execution, with every output the config names returned per request."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from runtime.backends import default_cpu_backend, open_backend
from runtime.triton.pipeline_model import model_parameters, to_numpy, to_tensor

__all__ = ["TritonPythonModel", "run_batched"]


def run_batched(infer: Any, name: str, inputs: np.ndarray, fixed_batch: int) -> dict[str, np.ndarray]:
    """``infer({name: B×...})`` over ``inputs`` (B×...): in one call, or, where the graph's batch axis is fixed at
    ``fixed_batch`` (> 0, which must divide B), in calls of that many; each output is B×... in the inputs' order."""
    if fixed_batch <= 0 or len(inputs) == fixed_batch:
        return infer({name: inputs})
    parts = [infer({name: inputs[i : i + fixed_batch]}) for i in range(0, len(inputs), fixed_batch)]
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


class TritonPythonModel:
    def initialize(self, args: dict[str, str]) -> None:
        import triton_python_backend_utils as pb  # only inside Triton's Python backend

        self.pb = pb
        config = json.loads(args["model_config"])
        threads = int(model_parameters(config).get("threads") or 0)
        path = Path(args["model_repository"]) / args["model_version"] / "model.onnx"
        self.backend = open_backend(default_cpu_backend(), path, "cpu", threads)
        self.input = config["input"][0]["name"]
        self.outputs = [o["name"] for o in config["output"]]
        self.fixed_batch = self.backend.inputs[0].shape[0]  # -1: dynamic

    def execute(self, requests: list[Any]) -> list[Any]:
        arrays = [to_numpy(self.pb.get_input_tensor_by_name(r, self.input)) for r in requests]
        results = run_batched(self.backend.infer, self.input, np.concatenate(arrays), self.fixed_batch)
        responses, start = [], 0
        for a in arrays:
            tensors = [to_tensor(self.pb, n, results[n][start : start + len(a)]) for n in self.outputs]
            responses.append(self.pb.InferenceResponse(tensors))
            start += len(a)
        return responses

    def finalize(self) -> None:
        self.backend.close()
