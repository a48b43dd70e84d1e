"""The default CPU runtime (runtime.backends.default_cpu_backend): the rule on given CPUs, its override, and
PoseEngine's ``backend="auto"`` following it. The suite pins the default (tests/conftest.py); these tests unset the
pin, and the one that opens an engine compares it with the rule's answer for this host, so its verdict is the same
on any host."""

from __future__ import annotations

import pytest

from runtime import PoseEngine
from runtime.backends import CPU_BACKEND_ENV, default_cpu_backend
from runtime.errors import ConfigError

_AVX512 = {"AVX2", "FMA3", "AVX512F", "AVX512BW", "AVX512DQ", "AVX512VL"}


@pytest.mark.parametrize(
    ("features", "machine", "installed", "backend"),
    [
        (_AVX512 | {"AVX512VNNI", "AVX512BF16"}, "x86_64", True, "openvino"),  # Zen 4, Sapphire Rapids
        (_AVX512, "x86_64", True, "openvino"),  # Skylake-X
        ({"AVX2", "FMA3"}, "x86_64", True, "onnxruntime"),  # AVX2 only: OpenVINO not measured there
        (_AVX512, "x86_64", False, "onnxruntime"),  # OpenVINO not installed
        ({"ASIMD", "ASIMDDP"}, "aarch64", True, "onnxruntime"),  # arm64: not measured
    ],
)
def test_the_rule_picks_openvino_on_avx512_x86_where_installed(monkeypatch, features, machine, installed, backend):
    monkeypatch.delenv(CPU_BACKEND_ENV, raising=False)
    assert default_cpu_backend(features, machine, installed) == backend


def test_the_environment_pins_the_choice(monkeypatch):
    monkeypatch.setenv(CPU_BACKEND_ENV, "openvino")
    assert default_cpu_backend({"AVX2"}, "x86_64", False) == "openvino"
    monkeypatch.setenv(CPU_BACKEND_ENV, "tensorrt")
    with pytest.raises(ConfigError, match="SWINPOSE_CPU_BACKEND='tensorrt' must be one of"):
        default_cpu_backend()


def test_pose_engine_auto_follows_the_rule_on_this_host(bundled_packages, monkeypatch):
    monkeypatch.delenv(CPU_BACKEND_ENV, raising=False)
    here = default_cpu_backend()
    for path in (bundled_packages["fp32"], bundled_packages["fp32"] / "model.onnx", bundled_packages["int8"]):
        with PoseEngine(path) as engine:
            assert engine.backend.name == here, path
    with PoseEngine(bundled_packages["fp32"], backend="onnxruntime") as engine:  # a named backend is kept
        assert engine.backend.name == "onnxruntime"


def test_an_openvino_option_on_onnxruntime_names_the_backend_that_takes_it(bundled_packages):
    with pytest.raises(ConfigError, match=r"onnxruntime backend: .*precision is an option of the openvino backend"):
        PoseEngine(bundled_packages["fp32"], backend="onnxruntime", backend_options={"precision": "bf16"})
