"""The Python runtime on arm64, the CPU of every Jetson: PoseEngine under ``qemu-aarch64`` on Debian's arm64 Python with
aarch64 wheels of numpy, OpenCV and ONNX Runtime (``benchmarks.emulation.arm64``), against this x86 host.

Two CPU models, one emulated process each (tests/emulated.py): ``cortex-a57`` (Jetson Nano and TX2: ARMv8.0, int8
pairs summed in int16) and ``neoverse-n1`` (dot products, as Jetson Orin). Each runs the bundled model's fp32 and int8
packages over the four COCO sample photos with their 14 ground-truth boxes, from the image files, and again from
this host's own crops. The bounds come from what each stage guarantees, so the verdict is the same on any host:

* **crops**: OpenCV's bilinear ``warpAffine`` interpolates in fixed point at 1/32 pixel; two builds may put a source
  coordinate one 1/32 step apart, which moves a pixel by at most 255/32 < 8 grey levels.
* **the network** on the same crops: the export's gates against PyTorch (``export.parity.FP32_GATE`` on fp32
  heatmaps, ``export.parity.SHIFT_LIMITS`` on int8 keypoints), the promises every package makes; the int8 kernels
  themselves are exact on both arm64 families (``test_int8_cpu.py``, op by op).
* **decoding**: the same numpy code on the same heatmaps, so the same keypoints up to float64 rounding.
* **end to end**: fp32 keypoints are held to the bounds the C++ pipeline meets against PoseEngine, whose crops differ
  the same way (tests/test_cpp.py); int8 keypoints move where a rounding difference flips a requantization step, so
  their bound is the int8 gate's median.
"""

from __future__ import annotations

import numpy as np
import pytest

from export.parity import FP32_GATE, compare_heatmaps, shift_limit
from runtime import PoseEngine, read_package

ARM64 = ["cortex-a57", "neoverse-n1"]
#: one 1/32-pixel step of warpAffine's fixed-point coordinates across a full-range edge, in grey levels
CROP_LEVELS = 255 / 32


@pytest.fixture(scope="module")
def pytorch_heatmaps(emulated):
    """PyTorch's fp32 heatmaps on this host's crops of the photos (the reference of the export's gates)."""
    return emulated.pytorch()


def _input_pixels(shift: np.ndarray, matrices: np.ndarray) -> np.ndarray:
    """N×K keypoint distances in image pixels → in network-input pixels, through each crop's N×2×3 affine."""
    return shift * np.sqrt(np.abs(np.linalg.det(matrices[:, :, :2])))[:, None]


@pytest.mark.parametrize("precision", ["fp32", "int8"])
@pytest.mark.parametrize("cpu", ARM64)
def test_arm64_crops_and_decoding_are_the_hosts(emulated, bundled_packages, cpu, precision):
    """Pre-processing and decoding on arm64: crops within 1/32 pixel of warpAffine rounding of the host's, and
    keypoints that are the host's decoding of arm64's own heatmaps."""
    run, host = emulated.results(cpu), emulated.host(precision)
    pre = read_package(bundled_packages[precision]).preprocess
    std = np.array(pre.std)[None, :, None, None] * 255 / pre.pixel_scale
    assert run[f"{precision}:inputs"].shape == host.inputs.shape
    levels = np.abs(run[f"{precision}:inputs"] - host.inputs) * std
    assert levels.max() <= CROP_LEVELS, f"crops differ by {levels.max():.1f} grey levels"
    with PoseEngine(bundled_packages[precision]) as engine:
        keypoints, scores = engine.decode(run[f"{precision}:heatmaps"], host.matrices)
    assert np.abs(run[f"{precision}:keypoints"] - keypoints).max() <= 1e-6
    assert np.abs(run[f"{precision}:scores"] - scores).max() <= 1e-6


@pytest.mark.parametrize("cpu", ARM64)
def test_arm64_fp32_network_passes_the_exports_gate(emulated, pytorch_heatmaps, cpu):
    """The fp32 graph on arm64, fed this host's crops, is within the export's fp32 gate of PyTorch, as ONNX Runtime
    here is."""
    assert np.abs(emulated.host("fp32").heatmaps - pytorch_heatmaps).max() <= FP32_GATE
    assert np.abs(emulated.results(cpu)["fp32:given_heatmaps"] - pytorch_heatmaps).max() <= FP32_GATE


@pytest.mark.parametrize("cpu", ARM64)
def test_arm64_int8_network_passes_the_exports_gate(emulated, bundled_packages, pytorch_heatmaps, cpu):
    """The int8 graph on arm64, fed this host's crops: its confident keypoints are within the export's int8 gate of
    PyTorch's (median shift at most 1/4 heatmap pixel), as this host's are. Its integer kernels are exact (the op
    test); the rest of the graph is fp32, whose rounding differs from this host's and now and then flips a
    requantization step."""
    codec = read_package(bundled_packages["int8"]).codec
    for heatmaps in (emulated.host("int8").heatmaps, emulated.results(cpu)["int8:given_heatmaps"]):
        parity = compare_heatmaps(pytorch_heatmaps, heatmaps, codec)
        assert parity.confident_keypoints > 100 and parity.median_kpt_px <= shift_limit("int8", codec), parity


@pytest.mark.parametrize("precision", ["fp32", "int8"])
@pytest.mark.parametrize("cpu", ARM64)
def test_arm64_pose_engine_gives_the_hosts_keypoints(emulated, bundled_packages, cpu, precision):
    """End to end, from the JPEG files, over the confident keypoints (the host's fp32 score ≥ 0.3), in network-input
    pixels. fp32: the bounds the C++ pipeline meets for its crop difference (median 0.1 px, p99 0.5 px, at most 1 %
    over 1 px); int8: the int8 gate's median."""
    run, host = emulated.results(cpu), emulated.host(precision)
    sure = emulated.host("fp32").scores >= 0.3
    shift = _input_pixels(np.linalg.norm(run[f"{precision}:keypoints"] - host.keypoints, axis=-1), host.matrices)
    assert sure.sum() > 100
    if precision == "fp32":
        assert np.median(shift[sure]) <= 0.1 and np.percentile(shift[sure], 99) <= 0.5
        assert (shift[sure] > 1).mean() <= 0.01
    else:
        assert np.median(shift[sure]) <= shift_limit("int8", read_package(bundled_packages["int8"]).codec)
