"""Shared fixtures. Test-only environment fixes live here, never in the package."""

from __future__ import annotations

import os
import tempfile

import pytest

# onnxruntime writes to $XDG_CACHE_HOME on import: keep tests from touching the user's cache (OpenVINO's model cache
# goes there too).
os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="swinpose-tests-cache-")
# PoseEngine's default CPU runtime depends on the CPU (runtime.backends.default_cpu_backend): the suite pins it, so
# that no verdict depends on the host; tests/test_default_backend.py checks the rule itself.
os.environ["SWINPOSE_CPU_BACKEND"] = "onnxruntime"

#: the tiers (markers registered in setup.cfg): a test that uses one of these session fixtures is slow (the first
#: use exports the bundled model three times, renders the model card's val split or starts emulated CPUs)
SLOW_FIXTURES = {"bundled_packages", "card_val_root", "card_parity", "emulated", "cached_onnx", "detector_package"}
#: modules whose tests are integration tests as a whole: C++ builds, a Triton server, training runs, whole-model
#: exports and references, real engines
SLOW_MODULES = {
    "test_cpp",
    "test_triton",
    "test_triton_detector",
    "test_train",
    "test_trt_rtx",
    "test_trt_build",
    "test_bundled_detector",
    "test_video",
    "test_mmpose_downstream",
    "test_mmpose_import",
    "test_swin_reference",
    "test_onnx_export",
}
#: modules that run other CPUs under qemu-user
EMULATED_MODULES = {"test_arm64", "test_emulation", "test_int8_cpu"}
#: modules that need a CUDA GPU (they skip without one)
GPU_MODULES = {"test_trt_real"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark each test with its tier: ``slow`` (and ``emulated``, ``gpu``) by its module and its fixtures."""
    for item in items:
        module = item.module.__name__.rpartition(".")[2] if item.module else ""
        marks = set()
        if module in EMULATED_MODULES or "emulated" in item.fixturenames:
            marks |= {"emulated", "slow"}
        if module in GPU_MODULES:
            marks |= {"gpu", "slow"}
        if module in SLOW_MODULES or SLOW_FIXTURES & set(item.fixturenames):
            marks.add("slow")
        for mark in sorted(marks):
            item.add_marker(getattr(pytest.mark, mark))


@pytest.fixture(scope="session")
def timm():
    """timm, the independent reference for the backbone.

    With a CPU torch next to a CUDA build of torchvision (as on this project's CI machines), ``import torchvision``
    fails with "operator torchvision::nms does not exist". timm imports torchvision at load time but its Swin never
    calls nms, so the missing operator schemas are declared before the import. Where torch and torchvision match,
    nothing is declared.
    """
    from swinpose.detection.torchvision_ops import declare_missing_ops

    declare_missing_ops()
    import timm as timm_module

    return timm_module


@pytest.fixture(autouse=True)
def _seeded():
    """Every test starts from the same RNG state, so random weights and inputs are reproducible."""
    import torch

    torch.manual_seed(0)


def _perturb(module) -> None:
    """Move every parameter off its default init (LayerNorm 1/0, zero biases, tiny final conv) so that each one
    is exercised and outputs are large enough for a tolerance to mean something."""
    import torch

    with torch.no_grad():
        for name, p in module.named_parameters():
            scale = 0.5 if name.endswith("relative_position_bias_table") else 0.05
            p.add_(torch.randn_like(p) * scale)


@pytest.fixture(scope="session")
def perturb():
    return _perturb


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory):
    """A small synthetic COCO-layout dataset (train 40 images, val 8): calibration data for the bundled model."""
    from swinpose.data.synthetic import write_dataset

    root = tmp_path_factory.mktemp("synthetic")
    write_dataset(root, 40, 8, seed=5, progress=False)
    return root


@pytest.fixture(scope="session")
def card_val_root(tmp_path_factory):
    """The bundled model card's val split (200 synthetic images, 409 people), rendered from the card's seed."""
    import json

    from swinpose.data.synthetic import write_dataset
    from swinpose.models.pose_io import BUNDLED_WEIGHTS, read_pose_file

    evaluation = json.loads(read_pose_file(BUNDLED_WEIGHTS)[2]["evaluation"])
    root = tmp_path_factory.mktemp("card_val")
    write_dataset(root, 0, evaluation["val_images"], seed=evaluation["seed"], progress=False)
    return root


@pytest.fixture(scope="session")
def bundled_packages(tmp_path_factory, synthetic_root):
    """fp32, fp16 and int8 packages of the bundled model, exported once per test session.

    fp32 goes through the CLI with --opencv (its summary line is kept under "summary"); fp16 checks parity on real
    COCO photos; int8 calibrates on the synthetic train split.
    """
    import contextlib
    import io

    from export.cli import main
    from export.package import ExportOptions, export_package

    out = tmp_path_factory.mktemp("packages")
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        assert main(["--weights", "bundled", "--out", str(out / "fp32"), "--opencv", "--quiet"]) == 0
    photos = os.path.join(os.path.dirname(__file__), "data", "coco-val2017-sample")
    export_package("bundled", out / "fp16", ExportOptions("fp16", parity_data=photos, progress=False))
    calib = synthetic_root / "annotations" / "person_keypoints_train.json"
    options = ExportOptions("int8", calib_data=calib, calib_size=48, parity_crops=16, progress=False)
    export_package("bundled", out / "int8", options)
    return {"fp32": out / "fp32", "fp16": out / "fp16", "int8": out / "int8", "summary": stdout.getvalue()}


@pytest.fixture(scope="session")
def detector_package(tmp_path_factory):
    """The bundled person detector's package (ONNX, and its OpenCV DNN graph for the C++ runtime; no engine),
    exported once per test session."""
    from export.detector import DetectorExportOptions, export_detector

    out = tmp_path_factory.mktemp("bundled_detector") / "det"
    export_detector("bundled", out, DetectorExportOptions(engine=False, opencv=True, progress=False))
    return out


@pytest.fixture(scope="session")
def card_parity(bundled_packages, card_val_root):
    """swinpose-bench's parity report of the fp32, fp16 and int8 packages (ONNX Runtime) against PyTorch on the model
    card's 409 val persons, GT boxes, flip test."""
    from benchmarks.parity import run_parity

    root = card_val_root
    return run_parity(
        bundled_packages["fp32"].parent,
        root / "annotations" / "person_keypoints_val.json",
        root / "val",
        backends=("onnxruntime",),
        progress=False,
    )


@pytest.fixture(scope="session")
def emulated(bundled_packages, tmp_path_factory):
    """Results of one emulated process per CPU model, run on first use (tests/emulated.py)."""
    from emulated import EmulatedRuns

    return EmulatedRuns(bundled_packages, tmp_path_factory.mktemp("emulated"))


@pytest.fixture
def cached_onnx(monkeypatch, bundled_packages):
    """The export's export_onnx (called by export.graphs.fp32_graph) returns the fp32 graph the session fixture
    exported already (for tests of what happens after the export itself, which test_export.py checks)."""
    import onnx

    import export.graphs

    data = onnx.load(str(bundled_packages["fp32"] / "model.onnx")).SerializeToString()
    monkeypatch.setattr(export.graphs, "export_onnx", lambda model, max_batch=64: onnx.ModelProto.FromString(data))
