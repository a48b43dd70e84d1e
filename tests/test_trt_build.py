"""The TensorRT build's control flow, against a recording fake of the tensorrt API of each generation.

TensorRT cannot be installed here (see ../shared/ENVIRONMENT.md); ``tests/test_trt_real.py`` runs the same build on
a real TensorRT wherever one imports with a GPU.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from fake_tensorrt import ENGINE_MAGIC, FakeCudart, make_fake_tensorrt

import export.trt
import runtime.backends.cuda
from export.calibration import CalibrationSet, load_calibration_set
from export.package import ExportOptions, export_package
from export.trt import EngineOptions, TrtFeatures, build_engine
from runtime.codec import HeatmapCodec
from runtime.errors import EngineBuildError
from runtime.package import read_package
from swinpose.defaults import inference_for_codec

#: the bundled model's pre-processing (our training's, at 128×96)
BUNDLED_PRE = inference_for_codec(HeatmapCodec((128, 96), (32, 24), 1.5)).preprocess

# what "auto" picks: weak typing where it is the platform's way (8.6, JetPack's 10.3), strong typing from 10.12 on
AUTO_MODE = {"8.6": "legacy", "10.3": "legacy", "10.13": "typed", "11.4": "typed"}
CHW = (3, 128, 96)


@pytest.fixture
def cudart(monkeypatch):
    fake = FakeCudart()
    monkeypatch.setattr(runtime.backends.cuda, "load_cudart", lambda: fake)
    return fake


@pytest.fixture(scope="module")
def calib(synthetic_root):
    return load_calibration_set(
        synthetic_root / "annotations" / "person_keypoints_train.json", BUNDLED_PRE, 20, progress=False
    )


def _build(packages, trt, tmp_path, precision, calib=None, **options):
    options = {"batch": (1, 4, 16), "workspace_gb": 0.5, **options}
    info = build_engine(
        packages[precision] / "model.onnx",
        packages["fp32"] / "model.onnx",
        tmp_path / "model.engine",
        "input",
        CHW,
        EngineOptions(precision, **options),
        calibration=calib,
        calib_cache=tmp_path / "calibration.trt.cache",
        trt=trt,
    )
    return info, json.loads((tmp_path / "model.engine").read_bytes()[len(ENGINE_MAGIC) :])


@pytest.mark.parametrize("generation", sorted(AUTO_MODE))
@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
def test_auto_mode_builds_each_precision_the_platform_way(
    bundled_packages, cudart, calib, tmp_path, generation, precision
):
    trt = make_fake_tensorrt(generation, cudart)
    info, engine = _build(bundled_packages, trt, tmp_path, precision, calib)
    rec = trt.record
    mode = AUTO_MODE[generation]
    assert info["mode"] == mode and info["tensorrt_version"] == trt.__version__
    assert info["bytes"] == (tmp_path / "model.engine").stat().st_size
    # legacy parses the fp32 graph and sets flags; typed parses the precision's own graph and sets none
    parsed = "fp32" if mode == "legacy" else precision
    assert rec.parsed == [str(bundled_packages[parsed] / "model.onnx")]
    expected_flags = {precision.upper()} if mode == "legacy" and precision != "fp32" else set()
    assert rec.builder_flags == expected_flags and engine["flags"] == sorted(expected_flags)
    assert engine["typed"] == (mode == "typed")
    flags = rec.network_flags[0]
    assert bool(flags & 1) == (generation != "11.4")  # EXPLICIT_BATCH wherever it still exists
    assert bool(flags & 2) == (mode == "typed" and generation != "11.4")  # STRONGLY_TYPED where it is a flag
    assert rec.profiles == [{"input": ((1, *CHW), (4, *CHW), (16, *CHW))}]
    assert rec.workspace == 1 << 29
    assert rec.progress_phases == ([] if generation == "8.6" else ["Building engine"])
    if mode == "legacy" and precision == "int8":
        assert len(rec.calibration_batches) == len(calib) // 4 and (tmp_path / "calibration.trt.cache").is_file()
        assert rec.calibrator == info["calibrator"] == "IInt8MinMaxCalibrator"  # the default --calib-method
    else:
        assert rec.calibration_batches == [] and not (tmp_path / "calibration.trt.cache").exists()
    assert cudart.memory == {}  # every device buffer was freed


@pytest.mark.parametrize("method", ["minmax", "entropy"])
def test_legacy_int8_calibrator_feeds_live_buffers_and_reuses_its_cache(
    bundled_packages, cudart, calib, tmp_path, method
):
    trt = make_fake_tensorrt("10.3", cudart)
    info, _ = _build(bundled_packages, trt, tmp_path, "int8", calib, calib_method=method)
    rec = trt.record
    assert (
        rec.calibrator
        == info["calibrator"]
        == {"minmax": "IInt8MinMaxCalibrator", "entropy": "IInt8EntropyCalibrator2"}[method]
    )
    expected = list(calib.batches(4, drop_last=True))  # opt batch 4: 20 crops → 5 full batches
    assert len(rec.calibration_batches) == len(expected) == 5
    for got, want in zip(rec.calibration_batches, expected):
        assert np.array_equal(got, want)  # read back from the device pointer while the calibrator still held it
    assert rec.calibration_profile == {"input": ((4, *CHW),) * 3}
    assert cudart.mallocs == 1 and cudart.memory == {}  # one buffer for the whole calibration, freed after the build
    cache = tmp_path / "calibration.trt.cache"
    assert cache.read_bytes() == rec.calibration_cache_written

    again = make_fake_tensorrt("10.3", cudart)
    _build(bundled_packages, again, tmp_path, "int8", None, calib_method=method)  # no images: the cache calibrates
    assert again.record.calibration_cache_read == cache.read_bytes() and again.record.calibration_batches == []


def test_timing_cache_is_loaded_and_saved(bundled_packages, cudart, tmp_path):
    timing = tmp_path / "timing.cache"
    first = make_fake_tensorrt("11.4", cudart)
    _build(bundled_packages, first, tmp_path, "fp16", timing_cache=timing)
    assert first.record.timing_cache_loaded == b"" and timing.read_bytes().startswith(b"TIMING")
    saved = timing.read_bytes()
    second = make_fake_tensorrt("11.4", cudart)
    _build(bundled_packages, second, tmp_path, "fp16", timing_cache=timing)
    assert second.record.timing_cache_loaded == saved
    timing.write_bytes(b"CORRUPT")
    with pytest.raises(EngineBuildError, match="rejected the timing cache .* delete it"):
        _build(bundled_packages, make_fake_tensorrt("11.4", cudart), tmp_path, "fp16", timing_cache=timing)


def test_dla_core_with_gpu_fallback(bundled_packages, cudart, tmp_path):
    trt = make_fake_tensorrt("10.3", cudart, dla_cores=2)
    _build(bundled_packages, trt, tmp_path, "fp16", dla_core=1)
    assert trt.record.device_type == "DLA" and trt.record.dla_core == 1
    assert trt.record.builder_flags == {"FP16", "GPU_FALLBACK"}
    with pytest.raises(EngineBuildError, match="has 0 DLA core"):
        _build(bundled_packages, make_fake_tensorrt("10.3", cudart), tmp_path, "fp16", dla_core=0)
    with pytest.raises(EngineBuildError, match="DLA runs fp16 or int8 only"):
        _build(bundled_packages, make_fake_tensorrt("10.3", cudart, dla_cores=2), tmp_path, "fp32", dla_core=0)


def test_impossible_requests_fail_instead_of_downgrading(bundled_packages, cudart, calib, tmp_path):
    with pytest.raises(EngineBuildError, match=r"no BuilderFlag.FP16.*use --trt-mode typed"):
        _build(bundled_packages, make_fake_tensorrt("11.4", cudart), tmp_path, "fp16", mode="legacy")
    with pytest.raises(EngineBuildError, match="no strongly typed networks"):
        _build(bundled_packages, make_fake_tensorrt("8.6", cudart), tmp_path, "int8", calib, mode="typed")
    with pytest.raises(EngineBuildError, match="needs calibration images"):
        _build(bundled_packages, make_fake_tensorrt("8.6", cudart), tmp_path, "int8", None)
    with pytest.raises(EngineBuildError, match="no legacy calibrator for --calib-method percentile"):
        _build(bundled_packages, make_fake_tensorrt("10.3", cudart), tmp_path, "int8", calib, calib_method="percentile")
    # an explicit choice that the platform has is honoured: typed int8 on JetPack's 10.3
    trt = make_fake_tensorrt("10.3", cudart)
    info, engine = _build(bundled_packages, trt, tmp_path, "int8", None, mode="typed")
    assert info["mode"] == "typed" and engine["typed"] and trt.record.builder_flags == set()


def test_parser_and_builder_failures_carry_their_messages(bundled_packages, cudart, tmp_path):
    trt = make_fake_tensorrt("11.4", cudart, parse_errors=("Unsupported operator: FancyOp",))
    with pytest.raises(EngineBuildError, match="cannot parse model.onnx: .*Unsupported operator: FancyOp"):
        _build(bundled_packages, trt, tmp_path, "fp32")
    trt = make_fake_tensorrt("10.3", cudart, build_error="Requested amount of GPU memory could not be allocated")
    with pytest.raises(EngineBuildError, match="could not build the fp16 engine: ERROR: Requested amount"):
        _build(bundled_packages, trt, tmp_path, "fp16")
    assert not (tmp_path / "model.engine").exists()


def test_feature_detection_reads_the_api_not_the_version(cudart):
    legacy = make_fake_tensorrt("10.3", cudart)
    legacy.__version__ = "99.0"  # a version string that would fool a parser
    assert TrtFeatures.detect(legacy).choose_mode("fp16") == "legacy"
    typed = make_fake_tensorrt("11.4", cudart)
    typed.__version__ = "8.0"
    features = TrtFeatures.detect(typed)
    assert not features.weak_typing and features.strong_typing and features.choose_mode("int8") == "typed"


def test_export_package_with_tensorrt_writes_engine_and_calibration_cache(
    bundled_packages, cached_onnx, cudart, synthetic_root, monkeypatch, tmp_path
):
    trt = make_fake_tensorrt("10.3", cudart)
    monkeypatch.setattr(export.trt, "import_tensorrt", lambda flavor="auto": trt)  # engine_builder opens it
    calib = synthetic_root / "annotations" / "person_keypoints_train.json"
    # min-max calibrates in a second (entropy's threshold search takes ~40 s); this test is about the engine step
    options = ExportOptions(
        "int8", calib_data=calib, calib_size=24, calib_method="minmax", parity_crops=8, batch=(1, 2, 8), progress=False
    )
    result = export_package("bundled", tmp_path / "pk", options)
    spec = read_package(tmp_path / "pk")
    assert spec.engine_path == tmp_path / "pk" / "model.engine"
    assert spec.engine_path.read_bytes().startswith(ENGINE_MAGIC)
    assert spec.engine["mode"] == "legacy" and spec.engine["tensorrt_version"] == "10.3.0"
    assert spec.engine["source_onnx"] == "model.fp32.onnx"
    assert spec.batch.to_dict() == {"min": 1, "opt": 2, "max": 8}
    assert len(trt.record.calibration_batches) == 24 // 2  # the same 24 calibration crops as the int8 graph
    assert sorted(result.files) == [
        "calibration.json",
        "calibration.trt.cache",
        "model.engine",
        "model.json",
        "model.onnx",
    ]
    assert sorted(p.name for p in (tmp_path / "pk").iterdir()) == sorted(result.files)  # no fp32 ONNX, no staging
    assert result.engine_skipped is None and "engine skipped" not in result.summary()


def test_empty_calibration_set_is_refused(bundled_packages, cudart, tmp_path):
    empty = CalibrationSet(np.zeros((0, 128, 96, 3), np.uint8), "nothing", BUNDLED_PRE)
    with pytest.raises(EngineBuildError, match="needs calibration images"):
        _build(bundled_packages, make_fake_tensorrt("10.3", cudart), tmp_path, "int8", empty)
