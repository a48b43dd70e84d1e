"""The TensorRT backend and PoseEngine on it, against the recording fake of tensorrt and cuda-python.

The fake's execution context runs the ONNX the engine was built from (ONNX Runtime) on the bytes at the device
addresses the backend set, so the whole path is exercised: pinned host buffers, async copies on one stream,
``set_input_shape``/``set_tensor_address``/``execute_async_v3``, and copies back.
"""

from __future__ import annotations

import dataclasses
import json
import shutil

import numpy as np
import pytest
from fake_tensorrt import FakeCudart, add_fake_engine, make_fake_tensorrt

import runtime.backends
import runtime.backends.cuda
import runtime.backends.tensorrt
from runtime import PoseEngine
from runtime.errors import BackendError, InputShapeError, MissingDependencyError, PackageError

_REAL_IMPORT = runtime.backends.tensorrt._import_tensorrt


@pytest.fixture
def cudart(monkeypatch):
    fake = FakeCudart()
    monkeypatch.setattr(runtime.backends.cuda, "load_cudart", lambda: fake)
    return fake


@pytest.fixture
def trt_package(bundled_packages, cudart, monkeypatch, tmp_path):
    """A copy of the fp32 package with a (fake) TensorRT 11.4 engine built for the package's batch range."""
    package = tmp_path / "pk"
    shutil.copytree(bundled_packages["fp32"], package)
    add_fake_engine(package, "11.4", cudart)
    runtime_trt = make_fake_tensorrt("11.4", cudart)
    monkeypatch.setattr(runtime.backends.tensorrt, "_import_tensorrt", lambda flavor="standard": runtime_trt)
    return package, runtime_trt


def test_tensorrt_backend_buffer_plumbing_is_exact_and_freed(trt_package, cudart):
    """The fake engine computes with ONNX Runtime, so this tests the TensorRT backend's plumbing, not TensorRT's
    numerics: host → device copies, tensor addresses, shapes within the profile, split runs, flip-test batches and
    device → host copies must give ONNX Runtime's results bit for bit, and close() must free every buffer. (Real
    engines' numerics are tests/test_trt_real.py's, on a GPU.)"""
    package, trt = trt_package
    image = np.random.default_rng(0).integers(0, 256, (240, 320, 3), dtype=np.uint8)
    boxes = np.array([[10, 20, 120, 230], [150, 5, 300, 200], [0, 0, 320, 240]], np.float64)
    with PoseEngine(package, flip_test=True) as cpu:
        expected = cpu(image, boxes)
    with PoseEngine(package, device="cuda:0", flip_test=True) as gpu:
        assert gpu.backend.name == "tensorrt"
        got = gpu(image, boxes)
        many = gpu(image, np.tile(boxes, (12, 1)))  # 36 crops: two runs within the engine's 1..32 profile
    assert np.array_equal(got.keypoints, expected.keypoints) and np.array_equal(got.scores, expected.scores)
    assert np.array_equal(many.keypoints[:3], expected.keypoints)
    assert trt.record.executions == 2 + 4  # (plain + flipped) × (1 run, then 2 runs)
    assert cudart.memory == {} and cudart.pinned == {} and cudart.streams == set()  # all freed by close()


def test_tensorrt_backend_checks_shapes_devices_and_engine_origin(trt_package, cudart, monkeypatch):
    package, _ = trt_package
    with runtime.backends.tensorrt.TrtBackend(package / "model.engine") as backend:
        assert [s.name for s in backend.inputs] == ["input"] and backend.profile["input"][2] == (32, 3, 128, 96)
        with pytest.raises(InputShapeError, match="outside the engine's profile"):
            backend.infer({"input": np.zeros((33, 3, 128, 96), np.float32)})
    with pytest.raises(BackendError, match="TensorRT runs on a GPU"):
        runtime.backends.tensorrt.TrtBackend(package / "model.engine", device="cpu")
    other = make_fake_tensorrt("10.3", cudart)  # the engine was built by the fake 11.4
    monkeypatch.setattr(runtime.backends.tensorrt, "_import_tensorrt", lambda flavor="standard": other)
    with pytest.raises(BackendError, match="built by another TensorRT version or for another GPU"):
        PoseEngine(package, device="cuda:0")
    assert cudart.memory == {} and cudart.streams == set()


def test_engine_batch_range_must_match_model_json(trt_package):
    package, _ = trt_package
    meta = json.loads((package / "model.json").read_text())
    meta["batch"]["max"] = 64
    (package / "model.json").write_text(json.dumps(meta))
    with pytest.raises(PackageError, match="was built for 1..32"):
        PoseEngine(package, device="cuda:0")


def test_cuda_graph_replay_matches_plain_execution_and_is_freed(trt_package, cudart):
    """cuda_graph=True: the first call of each batch size runs plainly and captures a graph; later calls of that size
    launch the graph (no new enqueue), with the same keypoints as ONNX Runtime; close() destroys every graph."""
    package, trt = trt_package
    image = np.random.default_rng(1).integers(0, 256, (200, 160, 3), dtype=np.uint8)
    boxes = np.array([[5, 5, 150, 190], [20, 40, 100, 160]], np.float64)
    with PoseEngine(package) as cpu:
        expected = [cpu(image, boxes), cpu(image, boxes[:1])]
    with PoseEngine(package, device="cuda:0", backend_options={"cuda_graph": True}) as gpu:
        for _ in range(3):
            got = [gpu(image, boxes), gpu(image, boxes[:1])]
            for g, e in zip(got, expected):
                assert np.array_equal(g.keypoints, e.keypoints) and np.array_equal(g.scores, e.scores)
        assert len(gpu.backend._graphs) == 2 and len(cudart.graph_execs) == 2
    assert trt.record.captures == 2  # one per batch size
    assert trt.record.executions == 2 + 2 * 2  # the two plain first runs, then 4 replays
    assert cudart.launches == 4
    assert cudart.graphs == {} and cudart.graph_execs == {} and cudart.memory == {} and cudart.streams == set()


def test_cuda_graph_capture_failure_is_an_error_not_a_hang(trt_package, cudart, monkeypatch):
    package, _ = trt_package
    monkeypatch.setattr(cudart, "cudaGraphInstantiate", lambda graph, flags: (cudart.cudaError_t(1), 0))
    with runtime.backends.tensorrt.TrtBackend(package / "model.engine", cuda_graph=True) as backend:
        with pytest.raises(BackendError, match="cuda_graph=False"):
            backend.infer({"input": np.zeros((2, 3, 128, 96), np.float32)})
        assert cudart.capturing == {} and cudart.graphs == {}  # the capture was ended and its graph destroyed
    assert cudart.streams == set()


def test_an_engine_is_run_by_the_module_of_its_flavour(trt_package, monkeypatch):
    """model.json's engine.flavor picks the module; a runtime without it refuses the engine with what runs it."""
    package, runtime_trt = trt_package
    asked = []
    monkeypatch.setattr(
        runtime.backends.tensorrt, "_import_tensorrt", lambda flavor="standard": asked.append(flavor) or runtime_trt
    )
    PoseEngine(package, device="cuda:0").close()
    meta = json.loads((package / "model.json").read_text())
    meta["engine"] = {**(meta["engine"] or {}), "flavor": "rtx"}
    (package / "model.json").write_text(json.dumps(meta))
    with PoseEngine(package, device="cuda:0") as engine:
        assert engine.backend.flavor == "rtx"
    assert asked == ["standard", "rtx"]
    monkeypatch.setattr(runtime.backends.tensorrt, "_import_tensorrt", _REAL_IMPORT)
    rtx = runtime.backends.TENSORRT_FLAVORS["rtx"]
    missing = dataclasses.replace(rtx, module="no_such_tensorrt_rtx")
    monkeypatch.setitem(runtime.backends.TENSORRT_FLAVORS, "rtx", missing)
    with pytest.raises(MissingDependencyError, match=r"built by TensorRT-RTX.*--trt-flavor standard.*swinpose\[rtx\]"):
        PoseEngine(package, device="cuda:0")
    meta["engine"]["flavor"] = "tensorrt-99"
    (package / "model.json").write_text(json.dumps(meta))
    with pytest.raises(PackageError, match="engine.flavor 'tensorrt-99' is not one of .* upgrade swinpose"):
        PoseEngine(package, device="cuda:0")  # refused when the package is read, before any backend
    with pytest.raises(BackendError, match="flavour 'tensorrt-99'"):  # and by the backend opened directly
        runtime.backends.tensorrt.TrtBackend(package / "model.engine", flavor="tensorrt-99")
