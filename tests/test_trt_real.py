"""A real TensorRT build of the bundled model's packages: runs wherever ``tensorrt`` imports and a CUDA GPU answers.

Skipped on CPU machines (CI, and every machine of this project so far: TensorRT cannot be installed there). The
engine is deserialised again and its I/O checked against model.json; running it belongs to runtime.PoseEngine.
"""

from __future__ import annotations

import pytest

from export.package import ExportOptions, export_package
from runtime.package import read_package


def _gpu_tensorrt():
    trt = pytest.importorskip("tensorrt", reason="TensorRT is not installed")
    try:
        from cuda.bindings import runtime as cudart
    except ImportError:
        pytest.skip("cuda-python is not installed (pip install 'swinpose[trt]')")
    err, count = cudart.cudaGetDeviceCount()
    if err != cudart.cudaError_t.cudaSuccess or count == 0:
        pytest.skip("no CUDA device")
    return trt


@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
def test_real_tensorrt_engine_matches_model_json(tmp_path, synthetic_root, precision):
    trt = _gpu_tensorrt()
    calib = synthetic_root / "annotations" / "person_keypoints_train.json" if precision == "int8" else None
    options = ExportOptions(precision, calib_data=calib, calib_size=32, parity_crops=8, batch=(1, 4, 8), engine=True)
    export_package("bundled", tmp_path / precision, options)
    spec = read_package(tmp_path / precision)
    engine = trt.Runtime(trt.Logger(trt.Logger.WARNING)).deserialize_cuda_engine(spec.engine_path.read_bytes())
    assert engine is not None
    names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
    assert names == [spec.input_name, spec.output_name]
    profile = [tuple(d) for d in engine.get_tensor_profile_shape(spec.input_name, 0)]
    assert profile == [(1, 3, 128, 96), (4, 3, 128, 96), (8, 3, 128, 96)]
    assert tuple(engine.get_tensor_shape(spec.output_name))[1:] == (17, 32, 24)


def test_real_tensorrt_pose_engine_matches_onnxruntime(tmp_path):
    _gpu_tensorrt()
    import numpy as np

    from runtime import PoseEngine

    export_package("bundled", tmp_path / "pk", ExportOptions("fp32", batch=(1, 4, 8), engine=True))
    image = np.random.default_rng(0).integers(0, 256, (240, 320, 3), dtype=np.uint8)
    boxes = np.array([[10, 20, 120, 230], [150, 5, 300, 200]], np.float64)
    with PoseEngine(tmp_path / "pk") as cpu, PoseEngine(tmp_path / "pk", device="cuda:0") as gpu:
        assert gpu.backend.name == "tensorrt"
        expected = cpu(image, boxes).keypoints
        assert np.abs(gpu(image, boxes).keypoints - expected).max() < 0.05
    with PoseEngine(tmp_path / "pk", device="cuda:0", backend_options={"cuda_graph": True}) as graph:
        plain = graph(image, boxes).keypoints  # runs plainly and captures
        assert np.array_equal(graph(image, boxes).keypoints, plain)  # replays the captured graph
        assert len(graph.backend._graphs) == 1 and np.abs(plain - expected).max() < 0.05
