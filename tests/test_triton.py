"""Serving on a real Triton Inference Server: the ``tritonserver`` of the ``nvidia-pytriton`` wheel (Python backend
only, so the network model runs ONNX Runtime inside it), started on a repository written from the bundled package.
Configs are parsed by ``tritonclient``'s ``model_config_pb2``, the protobuf Triton itself reads."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from runtime import PoseEngine, read_package
from runtime.errors import BackendError, ConfigError, InputError
from runtime.files import FAULT_ENV
from runtime.package import PackageSpec
from runtime.triton.config import NET, PIPELINE, ServingOptions, parse_config
from runtime.triton.repository import write_repository

pytest.importorskip("tritonclient.grpc", reason="tritonclient is in the dev extra: pip install -e '.[dev]'")

DATA = Path(__file__).parent / "data" / "coco-val2017-sample"
GT = json.loads((DATA / "test_coco.json").read_text())
IMAGES = {im["id"]: DATA / im["file_name"] for im in GT["images"]}
BOXES = {
    i: np.array(
        [
            [a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2], a["bbox"][1] + a["bbox"][3]]
            for a in GT["annotations"]
            if a["image_id"] == i
        ]
    )
    for i in IMAGES
}
#: keypoints come back as float32 (Triton's tensors); image pixels up to 640 round to 3e-5 px, and the server runs
#: the same ONNX Runtime graph on the same crops, so 1e-4 px is the float32 rounding bound with room
TOLERANCE_PX = 1e-4


def test_configs_parse_as_tritons_and_match_the_package(bundled_packages, tmp_path):
    from fake_tensorrt import FakeCudart, add_fake_engine

    package = tmp_path / "pk"
    shutil.copytree(bundled_packages["fp32"], package)
    add_fake_engine(package, "11.4", FakeCudart())
    spec = read_package(package)
    gpu, cpu = 1, 2  # ModelInstanceGroup.Kind: KIND_GPU, KIND_CPU
    for network, platform, kind in (
        ("tensorrt", "tensorrt_plan", gpu),
        ("onnxruntime", "onnxruntime_onnx", cpu),
        ("python", "", cpu),
    ):
        repo = write_repository(package, tmp_path / network, ServingOptions(network=network))
        net = parse_config((repo / NET / "config.pbtxt").read_text())
        assert net.platform == platform and (net.backend == "python") == (network == "python")
        assert [(t.name, list(t.dims)) for t in (*net.input, *net.output)] == [
            (spec.input_name, [3, *spec.input_size]),
            (spec.output_name, [17, *spec.codec.heatmap_size]),
        ]
        assert net.max_batch_size == spec.batch.max and list(net.dynamic_batching.preferred_batch_size) == sorted(
            {spec.batch.opt, spec.batch.max}
        )
        assert net.instance_group[0].kind == kind
        model_file = {"tensorrt": "model.plan", "onnxruntime": "model.onnx", "python": "model.onnx"}[network]
        assert (repo / NET / "1" / model_file).is_file()
        pipe = parse_config((repo / PIPELINE / "config.pbtxt").read_text())
        assert {t.name: list(t.dims) for t in pipe.output} == {
            "KEYPOINTS": [-1, 17, 2],
            "SCORES": [-1, 17],
            "BOXES_OUT": [-1, 5],
        }
        assert {t.name: t.optional for t in pipe.input}["BOXES"]  # without them, the detector's (none here)
        carried = PackageSpec.from_dict(json.loads((repo / PIPELINE / "1" / "model.json").read_text()), repo)
        assert pipe.max_batch_size == 0 and carried.to_dict() == spec.to_dict()  # the package's settings, whole
    with pytest.raises(ConfigError, match="no TensorRT engine"):
        write_repository(bundled_packages["fp32"], tmp_path / "x", ServingOptions(network="tensorrt"))
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("x")
    with pytest.raises(InputError, match=r"holds files that are not a swinpose model repository's \(notes.txt\)"):
        write_repository(package, tmp_path / "mine")


def test_an_interrupted_repository_write_leaves_the_old_repository(bundled_packages, tmp_path):
    repo = write_repository(bundled_packages["fp32"], tmp_path / "repo")
    before = (repo / NET / "config.pbtxt").read_text()
    for step in ("repository-network", "before-replace"):
        code = (
            "import sys; from runtime.triton.repository import write_repository; from runtime.triton.config "
            "import ServingOptions; write_repository(sys.argv[1], sys.argv[2], ServingOptions(max_queue_delay_us=7))"
        )
        done = subprocess.run(
            [sys.executable, "-c", code, str(bundled_packages["fp32"]), str(repo)],
            env={**os.environ, FAULT_ENV: step},
            capture_output=True,
            text=True,
        )
        assert done.returncode == -9, done.stderr
        assert (repo / NET / "config.pbtxt").read_text() == before and (repo / PIPELINE / "1" / "model.json").is_file()
    write_repository(bundled_packages["fp32"], repo, ServingOptions(max_queue_delay_us=7))
    assert "max_queue_delay_microseconds: 7" in (repo / NET / "config.pbtxt").read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["repo"]  # the killed writes' staging folders are gone


@pytest.fixture(scope="module")
def server(bundled_packages, tmp_path_factory):
    from runtime.triton.server import TritonServer, find_tritonserver, free_port

    try:
        find_tritonserver()
    except Exception as e:  # noqa: BLE001 - the reason is the skip message
        pytest.skip(f"no tritonserver can run here: {e}")
    repo = write_repository(
        bundled_packages["fp32"],
        tmp_path_factory.mktemp("triton") / "repo",
        ServingOptions(max_image_bytes=2_000_000, threads=1),
    )
    ports = [free_port() for _ in range(3)]
    srv = TritonServer(repo, "127.0.0.1", *ports)
    try:
        srv.start()
    except BackendError as e:
        pytest.skip(f"tritonserver cannot run on this machine: {e}")
    yield srv
    srv.stop()


def _client(server, protocol="http"):
    from runtime.triton.client import TritonPoseClient

    return TritonPoseClient(server.http_url if protocol == "http" else server.grpc_url, protocol)


@pytest.mark.parametrize("protocol", ["http", "grpc"])
@pytest.mark.parametrize("flip", [False, True], ids=["plain", "flip-test"])
def test_the_server_gives_pose_engines_keypoints(server, bundled_packages, protocol, flip):
    """The same pipeline on the same inputs: the boxes as the client sends them (float32: rounding 280.79 to
    280.7900085 moves the crop, and DARK's second derivatives turn that into up to 4e-3 px) and ONNX Runtime on
    one thread, as the server's network model runs it."""
    with PoseEngine(bundled_packages["fp32"], flip_test=flip, threads=1) as engine, _client(server, protocol) as client:
        for image_id, path in IMAGES.items():
            want = engine(cv2.imread(str(path)), BOXES[image_id].astype(np.float32))
            got = client(path, BOXES[image_id], flip_test=flip)  # the encoded file
            assert np.abs(got.keypoints - want.keypoints).max() <= TOLERANCE_PX
            assert np.abs(got.scores - want.scores).max() <= 1e-5
        image = cv2.imread(str(IMAGES[785]))
        decoded = client(image, BOXES[785], flip_test=flip)  # a decoded BGR array
        want = engine(image, BOXES[785].astype(np.float32))
        assert np.abs(decoded.keypoints - want.keypoints).max() <= TOLERANCE_PX


def run_clients(make_client, statistics, request, clients: int = 16, each: int = 4) -> tuple[int, int]:
    """``clients`` threads, each with its own client (``make_client(protocol)``, gRPC and HTTP in turn) started
    together, each calling ``request(client, thread, call)`` ``each`` times; fails on any error. Returns (requests,
    executions) that ``statistics()`` (a model's Triton statistics) counted meanwhile."""
    before = statistics()
    errors: list[BaseException] = []
    start = threading.Barrier(clients)

    def work(i: int) -> None:
        try:
            with make_client("grpc" if i % 2 else "http") as client:
                start.wait()
                for j in range(each):
                    request(client, i, j)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    after = statistics()
    requests = int(after["inference_stats"]["success"]["count"]) - int(before["inference_stats"]["success"]["count"])
    return requests, int(after["execution_count"]) - int(before["execution_count"])


def test_concurrent_clients_are_batched_together(server):
    """16 clients, each its own client object, 4 requests each: no errors, and the network model ran fewer
    executions than it got requests, so Triton's dynamic batcher put concurrent requests' crops together."""

    def request(client, i: int, _: int) -> None:
        image_id = list(IMAGES)[i % len(IMAGES)]
        assert client(IMAGES[image_id], BOXES[image_id]).keypoints.shape == (len(BOXES[image_id]), 17, 2)

    requests, executions = run_clients(
        lambda protocol: _client(server, protocol), lambda: _client(server).statistics(NET), request
    )
    assert requests == 64 and executions < requests, (requests, executions)


def test_bad_requests_get_errors_and_the_server_keeps_serving(server):
    import tritonclient.http as tc

    photo = IMAGES[196141]
    good = BOXES[196141]
    raw = tc.InferenceServerClient(server.http_url)

    def send(inputs):
        return raw.infer(PIPELINE, inputs)

    def tensor(name, array, dtype):
        t = tc.InferInput(name, list(array.shape), dtype)
        t.set_data_from_numpy(array)
        return t

    data = np.frombuffer(photo.read_bytes(), np.uint8)
    boxes = tensor("BOXES", good.astype(np.float32), "FP32")

    def with_boxes(array):
        return [tensor("IMAGE_BYTES", data, "UINT8"), tensor("BOXES", np.asarray(array, np.float32), "FP32")]

    cases = {
        "wrong dtype": [tensor("IMAGE_BYTES", data.astype(np.float32), "FP32"), boxes],
        "boxes N×3": with_boxes(good[:, :3]),
        "NaN box": with_boxes([[np.nan, 1, 50, 50]]),
        "zero-area box": with_boxes([[10, 10, 10, 50]]),
        "garbage bytes": [tensor("IMAGE_BYTES", np.frombuffer(os.urandom(5000), np.uint8), "UINT8"), boxes],
        "over the size limit": [tensor("IMAGE_BYTES", np.zeros(2_000_001, np.uint8), "UINT8"), boxes],
        "empty box list": with_boxes(np.zeros((0, 4))),
        "no boxes and no detector": [tensor("IMAGE_BYTES", data, "UINT8")],
    }
    messages = {
        "boxes N×3": "N×4",
        "NaN box": "NaN",
        "zero-area box": "no area",
        "garbage bytes": "not an image",
        "over the size limit": "over this server's limit",
        "empty box list": "BOXES is empty",
        "no boxes and no detector": "has no person detector to find them: send BOXES, or write the repository with a "
        "detector package (swinpose-export --weights W --out PK --triton DIR --triton-detector DET",
    }
    with _client(server) as client:
        for name, inputs in cases.items():
            with pytest.raises(tc.InferenceServerException) as e:
                send(inputs)
            assert messages.get(name, "") in str(e.value), (name, str(e.value))
            assert client(photo, good).keypoints.shape == (len(good), 17, 2), name  # still serving


def test_a_killed_server_restarts_with_the_same_answers(server):
    with _client(server) as client:
        want = client(IMAGES[197388], BOXES[197388]).keypoints
    server.kill()
    server.start()
    with _client(server) as client:
        np.testing.assert_array_equal(client(IMAGES[197388], BOXES[197388]).keypoints, want)
