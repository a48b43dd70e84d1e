"""The person detector in the Triton repository (``swinpose_det``): requests without boxes on a real
``tritonserver`` (the ``nvidia-pytriton`` wheel's, started by ``swinpose-serve --detector``) give what the in-process
pipeline gives (:class:`runtime.detection.Detector`, then :class:`runtime.PoseEngine`, both on ONNX Runtime), the
detector model batches concurrent requests, and bad requests get errors naming the problem. Configs are parsed by
``tritonclient``'s ``model_config_pb2``, the protobuf Triton itself reads."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import cv2
import numpy as np
import pytest
from test_triton import run_clients

from runtime import PoseEngine
from runtime.backends.base import TensorSpec
from runtime.detection import Detector, DetectorSpec, read_detector_package
from runtime.errors import ConfigError, PackageError
from runtime.files import FAULT_ENV
from runtime.triton.config import DET, DETECTOR_IO_JSON, NET, PIPELINE, DetectorIO, ServingOptions, parse_config
from runtime.triton.repository import write_repository

pytest.importorskip("tritonclient.grpc", reason="tritonclient is in the dev extra: pip install -e '.[dev]'")

#: the server runs the same ONNX graphs on the same ONNX Runtime (one thread each, as the reference) on the same
#: letterboxed image and crops, so its boxes are the Detector's to the bit and its keypoints PoseEngine's (it gets
#: those boxes in float64, not rounded); what differs is the float32 of Triton's output tensors: box corners and
#: keypoints up to 640 px round by at most 3.1e-5 px (half an ulp at 512..1024), scores in 0..1 by 6e-8
TOLERANCE_PX, TOLERANCE_SCORE = 1e-4, 1e-6


@pytest.fixture(scope="module")
def images(synthetic_root):
    """The synthetic val split's 8 images (the bundled detector finds 1 to 6 people in each), path → BGR array."""
    return {p: cv2.imread(str(p)) for p in sorted((synthetic_root / "val").glob("*.jpg"))}


@pytest.fixture(scope="module")
def reference(bundled_packages, detector_package, images):
    """The in-process pipeline's answer for each image, plain and flip-tested: (detections N×5, PoseResult)."""
    out = {}
    with Detector(detector_package, threads=1) as detector:
        found = {p: detector(image).with_scores() for p, image in images.items()}
    for flip in (False, True):
        with PoseEngine(bundled_packages["fp32"], flip_test=flip, threads=1) as engine:
            out[flip] = {p: (found[p], engine(image, found[p])) for p, image in images.items()}
    return out


@pytest.fixture(scope="module")
def server(bundled_packages, detector_package, tmp_path_factory):
    """``swinpose-serve --detector`` itself, on a repository it writes; stopped with SIGTERM, as a user stops it."""
    from runtime.triton.server import find_tritonserver, free_port

    try:
        find_tritonserver()
    except Exception as e:  # noqa: BLE001 - the reason is the skip message
        pytest.skip(f"no tritonserver can run here: {e}")
    repo = tmp_path_factory.mktemp("triton_det") / "repo"
    http, grpc, metrics = (free_port() for _ in range(3))
    cmd = [sys.executable, "-m", "runtime.triton.cli", "--package", str(bundled_packages["fp32"])]
    cmd += ["--repository", str(repo), "--detector", str(detector_package), "--threads", "1"]
    cmd += ["--http-port", str(http), "--grpc-port", str(grpc), "--metrics-port", str(metrics)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    for line in proc.stdout:  # until READY and its hints are printed, or the end of its output when it exits
        lines.append(line)
        if "Ctrl-C or SIGTERM stops it" in line:
            break
    else:
        proc.wait()
        text = "".join(lines)
        if "tritonserver exited with code" in text or "was not ready after" in text:
            pytest.skip(f"tritonserver cannot run on this machine: {text[-2000:]}")
        pytest.fail(f"swinpose-serve --detector exited {proc.returncode}:\n{text}")
    yield {"http": f"127.0.0.1:{http}", "grpc": f"127.0.0.1:{grpc}", "repo": repo, "printed": "".join(lines)}
    proc.send_signal(signal.SIGTERM)
    rest = proc.communicate(timeout=60)[0]
    assert proc.returncode == 0 and "stopped" in rest, rest


def _client(server, protocol="http"):
    from runtime.triton.client import TritonPoseClient

    return TritonPoseClient(server[protocol], protocol)


def _statistics(server, model):
    with _client(server) as client:  # closed: an open HTTP connection holds tritonserver's exit for 30 s
        return client.statistics(model)


def _assert_same(got, want_boxes, want):
    assert got.boxes.shape == (len(want_boxes), 4) and len(want_boxes) > 0
    assert np.abs(got.boxes - want_boxes[:, :4]).max() <= TOLERANCE_PX
    assert np.abs(got.box_scores - want_boxes[:, 4]).max() <= TOLERANCE_SCORE
    assert np.abs(got.keypoints - want.keypoints).max() <= TOLERANCE_PX
    assert np.abs(got.scores - want.scores).max() <= TOLERANCE_SCORE


def test_the_repository_holds_the_detector_with_dynamic_batching(bundled_packages, detector_package, tmp_path):
    """The detector model's config parses as Triton's and holds the graph's I/O without its batch (the bundled
    detector's 1×3×256×320 → 5×1700), a batch and the dynamic batcher; the pipeline takes BOXES as optional and
    carries the detector package's settings; an interrupted write leaves the old repository."""
    repo = write_repository(bundled_packages["fp32"], tmp_path / "repo", detector=detector_package)
    det = parse_config((repo / DET / "config.pbtxt").read_text())
    assert det.backend == "python" and det.max_batch_size == ServingOptions().detector_max_batch
    assert [(t.name, list(t.dims)) for t in (*det.input, *det.output)] == [
        ("images", [3, 256, 320]),
        ("output0", [5, 1700]),
    ]
    assert det.HasField("dynamic_batching") and det.instance_group[0].kind == 2  # KIND_CPU
    assert (repo / DET / "1" / "model.onnx").read_bytes() == read_detector_package(
        detector_package
    ).onnx_path.read_bytes()
    pipe = parse_config((repo / PIPELINE / "config.pbtxt").read_text())
    assert {t.name: t.optional for t in pipe.input}["BOXES"]
    assert {t.name: list(t.dims) for t in pipe.output}["BOXES_OUT"] == [-1, 5]
    assert pipe.parameters["detector"].string_value == DET
    carried = DetectorSpec.from_dict(json.loads((repo / PIPELINE / "1" / "detector.json").read_text()), repo)
    assert carried.to_dict() == read_detector_package(detector_package).to_dict()
    io = DetectorIO.from_dict(json.loads((repo / PIPELINE / "1" / DETECTOR_IO_JSON).read_text()))
    assert io.inputs == (TensorSpec("images", (1, 3, 256, 320), "float32"),)

    plain = write_repository(bundled_packages["fp32"], tmp_path / "plain")  # no detector: none in the repository
    assert not (plain / DET).exists()
    assert parse_config((plain / PIPELINE / "config.pbtxt").read_text()).parameters["detector"].string_value == ""

    code = (
        "import sys; from runtime.triton.repository import write_repository; "
        "write_repository(sys.argv[1], sys.argv[2], detector=sys.argv[3])"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(bundled_packages["fp32"]), str(plain), str(detector_package)],
        env={**os.environ, FAULT_ENV: "repository-detector"},
        capture_output=True,
        text=True,
    )
    assert done.returncode == -9, done.stderr
    assert not (plain / DET).exists() and (plain / NET / "config.pbtxt").is_file()  # the old repository, whole


def test_detectors_the_repository_cannot_serve_are_refused(bundled_packages, detector_package, tmp_path, capsys):
    from export.cli import main as export_main

    with pytest.raises(PackageError, match="is a pose model package"):
        write_repository(bundled_packages["fp32"], tmp_path / "r1", detector=bundled_packages["fp32"])
    onnx_file = read_detector_package(detector_package).onnx_path
    with pytest.raises(ConfigError, match="not a detector package; package it first"):
        write_repository(bundled_packages["fp32"], tmp_path / "r2", detector=onnx_file)
    with pytest.raises(ConfigError, match="batch axis first, fixed at 1 or dynamic"):
        DetectorIO((TensorSpec("images", (2, 3, 64, 64), "float32"),), (TensorSpec("out", (2, 5, 9), "float32"),))
    with pytest.raises(ConfigError, match="det_score_thr must be between 0 and 1"):
        write_repository(bundled_packages["fp32"], tmp_path / "r3", ServingOptions(det_score_thr=2.0))
    assert not any(tmp_path.iterdir())  # every refusal came before anything was written
    # swinpose-export refuses before the export's slow work
    for argv, message in (
        (["--weights", "bundled", "--triton-detector", str(detector_package)], "add --triton DIR"),
        (["--detector", "bundled", "--triton-detector", str(detector_package)], "--triton-detector: for pose models"),
        (
            [
                "--weights",
                "bundled",
                "--triton",
                str(tmp_path / "t"),
                "--triton-detector",
                str(bundled_packages["fp32"]),
            ],
            "is a pose model package",
        ),
    ):
        assert export_main([*argv, "--out", str(tmp_path / "pk"), "--quiet"]) == 1
        assert message in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_an_image_without_boxes_gives_the_in_process_pipelines_people(server, images, reference, protocol):
    """Each image, encoded (and one decoded, one flip-tested), without boxes: the server's detector boxes and their
    poses are the in-process Detector's and PoseEngine's within float32 rounding (:data:`TOLERANCE_PX`)."""
    assert "('photo.jpg').boxes" in server["printed"]  # swinpose-serve tells how to call it without boxes
    with _client(server, protocol) as client:
        for path in images:
            _assert_same(client(path), *reference[False][path])
        first = next(iter(images))
        _assert_same(client(images[first]), *reference[False][first])  # a decoded BGR array
        _assert_same(client(first, flip_test=True), *reference[True][first])


def test_concurrent_clients_without_boxes_are_batched_in_the_detector(server, images, reference):
    """16 clients, each its own client object, 4 requests each without boxes: every answer is the in-process
    pipeline's, and the detector model ran fewer executions than it got requests, so Triton's dynamic batcher put
    concurrent requests' images together."""
    paths = list(images)

    def request(client, i: int, j: int) -> None:
        path = paths[(i + j) % len(paths)]
        _assert_same(client(path), *reference[False][path])

    requests, executions = run_clients(
        lambda protocol: _client(server, protocol), lambda: _statistics(server, DET), request
    )
    assert requests == 64 and executions < requests, (requests, executions)


def test_bad_requests_without_boxes_get_errors_and_the_server_keeps_serving(server, images, reference):
    import tritonclient.http as tc

    raw = tc.InferenceServerClient(server["http"])
    path = next(iter(images))
    data = np.frombuffer(path.read_bytes(), np.uint8)

    def tensor(name, array, dtype):
        t = tc.InferInput(name, list(array.shape), dtype)
        t.set_data_from_numpy(array)
        return t

    cases = {
        "garbage bytes": ([tensor("IMAGE_BYTES", np.frombuffer(os.urandom(5000), np.uint8), "UINT8")], "not an image"),
        "truncated file": ([tensor("IMAGE_BYTES", data[: len(data) // 2], "UINT8")], "send the whole file"),
        "no image": ([tensor("FLIP_TEST", np.array([False]), "BOOL")], "exactly one of IMAGE_BYTES"),
        "empty box list": (
            [tensor("IMAGE_BYTES", data, "UINT8"), tensor("BOXES", np.zeros((0, 4), np.float32), "FP32")],
            "leave BOXES out",
        ),
    }
    with _client(server) as client:
        try:
            for name, (inputs, message) in cases.items():
                with pytest.raises(tc.InferenceServerException) as e:
                    raw.infer(PIPELINE, inputs)
                assert message in str(e.value), (name, str(e.value))
                _assert_same(client(path), *reference[False][path])  # still serving
        finally:
            raw.close()
        nobody = client(np.full((240, 320, 3), 114, np.uint8))  # the letterbox's own grey: no people, no error
        assert nobody.keypoints.shape == (0, 17, 2) and nobody.boxes.shape == (0, 4) and nobody.scores.shape == (0, 17)
    stats = _statistics(server, DET)
    assert int(stats["inference_stats"]["fail"].get("count", 0)) == 0  # no bad request reached the detector
