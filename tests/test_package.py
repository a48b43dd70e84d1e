"""The package contract (runtime.package): model.json as typed parts that validate by construction, round-trip
unchanged, migrate format 1, refuse other versions, and name the bad field and the fix for every value that would
load and then give NaN, wrong or crashing results."""

from __future__ import annotations

import copy
import json
import math

import pytest

from runtime.codec import HeatmapCodec
from runtime.errors import PackageError
from runtime.keypoints import KeypointSpec
from runtime.package import PACKAGE_FORMAT_VERSION, PackageSpec, read_package
from runtime.transforms import Preprocess


@pytest.fixture(scope="module")
def written(bundled_packages) -> dict:
    return {p: json.loads((bundled_packages[p] / "model.json").read_text()) for p in ("fp32", "fp16", "int8")}


@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
def test_an_exported_package_round_trips_unchanged(bundled_packages, written, tmp_path, precision):
    spec = read_package(bundled_packages[precision])
    assert spec.to_dict() == written[precision]
    assert isinstance(spec.preprocess, Preprocess) and isinstance(spec.codec, HeatmapCodec)
    assert isinstance(spec.keypoints, KeypointSpec) and spec.precision == precision
    (tmp_path / "model.onnx").write_bytes(b"")
    again = read_package(spec.write(tmp_path).parent)
    assert again.to_dict() == written[precision] and again.replace(folder=spec.folder) == spec
    assert json.loads((tmp_path / "model.json").read_text()) == written[precision]
    assert not list(tmp_path.glob(".*tmp*"))  # written through a temporary file


def test_format_1_is_migrated_and_other_versions_are_refused(written):
    v2 = written["fp32"]
    v1 = copy.deepcopy(v2)
    del v1["format_version"]
    v1["schema_version"] = 1
    for key in ("pixel_scale", "aspect"):
        del v1["preprocess"][key]
    del v1["files"]["opencv"], v1["opencv"]
    migrated = PackageSpec.from_dict(v1, ".")
    assert (
        migrated.format_version == PACKAGE_FORMAT_VERSION
        and migrated.preprocess == PackageSpec.from_dict(v2, ".").preprocess
    )
    assert migrated.preprocess.pixel_scale == 255.0 and migrated.files.opencv is None
    with pytest.raises(PackageError, match="format version 3, newer .* upgrade swinpose"):
        PackageSpec.from_dict({**v2, "format_version": 3}, ".")
    with pytest.raises(PackageError, match="format version 0 is not one this swinpose reads"):
        PackageSpec.from_dict({**v2, "format_version": 0}, ".")
    with pytest.raises(PackageError, match="unknown fields \\['extra'\\]"):
        PackageSpec.from_dict({**v2, "extra": 1}, ".")


def _broken(data: dict, path: str, value) -> dict:
    """A copy of a parsed model.json with the field at dotted ``path`` set to ``value`` (also used by test_cpp)."""
    out = copy.deepcopy(data)
    *parents, last = path.split(".")
    node = out
    for key in parents:
        node = node[key]
    node[last] = value
    return out


@pytest.mark.parametrize(
    "path, value, message",
    [
        ("preprocess.std", [0, 0, 0], "'preprocess' std must be positive"),
        ("preprocess.std", [58.0], "'preprocess' std must be 3 numbers"),
        ("preprocess.mean", ["a", "b", "c"], "'preprocess' mean must be 3 finite numbers"),
        ("preprocess.box_padding", math.nan, "'preprocess' box_padding must be a positive number, got nan"),
        ("preprocess.color_order", "XYZ", "'preprocess' color_order must be one of"),
        (
            "codec.input_size",
            [256, 192],
            "codec.input_size \\[256, 192\\] disagree with preprocess.input_size \\[128, 96\\]",
        ),
        ("codec.sigma", -1, "'codec' sigma must be a positive number"),
        ("keypoints", KeypointSpec.generic(21).to_dict(), "output.shape \\[-1, 17, 32, 24\\] disagree .* 21 keypoint"),
        ("keypoints.names", [f"k{i}" for i in range(21)], "'keypoints' oks_sigmas must be 21"),
        ("keypoints.flip_pairs", [[1]], "'keypoints' flip_pairs entry \\[1\\] must be two keypoint indices"),
        ("keypoints.oks_sigmas", [0.1] * 3, "'keypoints' oks_sigmas must be 17 positive numbers"),
        ("batch.max", "32", "'batch' max must be an integer"),
        ("batch.min", 9, "'batch' must satisfy 1 <= min <= opt <= max"),
        ("input.dtype", "float16", "'input' dtype must be float32"),
        ("files.onnx", "../model.onnx", "'files' onnx must be a file name inside the package folder"),
        ("precision", "int4", "precision 'int4' is not one of"),
        ("engine", {"flavor": "vulkan"}, "engine.flavor 'vulkan' is not one of"),
    ],
)
def test_bad_values_are_refused_naming_the_field_and_the_fix(written, path, value, message):
    with pytest.raises(PackageError, match=message) as e:
        PackageSpec.from_dict(_broken(written["fp32"], path, value), "pk", "pk/model.json")
    assert str(e.value).startswith("pk/model.json") and ("re-export" in str(e.value) or "upgrade" in str(e.value))


def test_a_missing_part_and_non_json_values_are_named(written, tmp_path):
    with pytest.raises(PackageError, match="\\['codec'\\] missing"):
        PackageSpec.from_dict({k: v for k, v in written["fp32"].items() if k != "codec"}, ".")
    with pytest.raises(PackageError, match="'preprocess' lacks \\['std'\\]"):
        no_std = {k: v for k, v in written["fp32"]["preprocess"].items() if k != "std"}
        PackageSpec.from_dict(_broken(written["fp32"], "preprocess", no_std), ".")
    (tmp_path / "model.json").write_text(
        json.dumps(written["fp32"]).replace('"box_padding": 1.25', '"box_padding": NaN')
    )
    with pytest.raises(PackageError, match="NaN is not a JSON value"):
        read_package(tmp_path)
    with pytest.raises(PackageError, match="swinpose-export"):
        read_package(tmp_path / "nothing-here")
