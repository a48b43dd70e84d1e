"""The model package: ``model.onnx`` (+ ``model.engine``) and ``model.json``, which carries everything a runtime needs.

``swinpose-export`` writes packages; :func:`read_package` reads and validates them. Nothing downstream hard-codes
tensor names, shapes, normalisation, codec settings or the keypoint topology: they all come from ``model.json``.

``model.json`` (schema version 1)::

    schema_version  1
    model           {name, config}                       the PoseModelConfig that was exported
    precision       "fp32" | "fp16" | "int8"             of model.onnx (and of the engine)
    files           {onnx, engine|null, calibration|null} file names inside the package folder
    input, output   {name, shape, dtype, layout}          shape with -1 for the dynamic batch axis, NCHW
    batch           {min, opt, max}                       the TensorRT optimisation profile
    preprocess      {color_order, mean, std, input_size, box_padding}   mean/std on the 0..255 scale
    codec           {input_size, heatmap_size, sigma, use_dark}         :class:`runtime.codec.HeatmapCodec`
    keypoints       {names, skeleton, flip_pairs, oks_sigmas}
    onnx            {opset, nodes, op_counts, bytes, sha256}
    engine          null | {tensorrt_version, flavor ("standard" | "rtx"), compute_capabilities, mode, io,
                            profile, layers, bytes, sha256, ...}
    calibration     null | {method, images, source, quantized_op_types, excluded_nodes,
                            weight_bits, max_weight_pair, saturates_on}   int8 (runtime.int8_cpu)
    parity          {reference, images, source, fp32: {...}, <precision>: {...}}
    tools           {package: version}
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runtime.codec import HeatmapCodec
from runtime.errors import PackageError

__all__ = ["PACKAGE_SCHEMA_VERSION", "PACKAGE_JSON", "PRECISIONS", "PackageSpec", "read_package"]

PACKAGE_SCHEMA_VERSION = 1
PACKAGE_JSON = "model.json"
PRECISIONS = ("fp32", "fp16", "int8")
#: int8 packages from before ``calibration.max_weight_pair``: symmetric 8-bit weights, two of 127 in a channel
LEGACY_INT8_WEIGHT_PAIR = 254

# key → required type(s) of each top-level entry, and of the entries of the nested objects a runtime reads
_SCHEMA: dict[str, Any] = {
    "schema_version": int,
    "model": {"name": str, "config": dict},
    "precision": str,
    "files": {"onnx": str, "engine": (str, type(None)), "calibration": (str, type(None))},
    "input": {"name": str, "shape": list, "dtype": str, "layout": str},
    "output": {"name": str, "shape": list, "dtype": str, "layout": str},
    "batch": {"min": int, "opt": int, "max": int},
    "preprocess": {"color_order": str, "mean": list, "std": list, "input_size": list, "box_padding": (int, float)},
    "codec": {"input_size": list, "heatmap_size": list, "sigma": (int, float), "use_dark": bool},
    "keypoints": {"names": list, "skeleton": list, "flip_pairs": list, "oks_sigmas": list},
    "onnx": {"opset": int, "nodes": int},
    "engine": (dict, type(None)),
    "calibration": (dict, type(None)),
    "parity": {"reference": str, "images": int},
    "tools": dict,
}


def _check(obj: Any, schema: Any, where: str, source: str) -> None:
    if isinstance(schema, dict):
        if not isinstance(obj, dict):
            raise PackageError(f"{source}: '{where}' must be an object; re-export the package with swinpose-export")
        for key, sub in schema.items():
            if key not in obj:
                raise PackageError(f"{source}: '{where}{key}' is missing; re-export the package with swinpose-export")
            _check(obj[key], sub, f"{where}{key}.", source)
    elif not isinstance(obj, schema) or (schema is int and isinstance(obj, bool)):
        names = "/".join(t.__name__ for t in (schema if isinstance(schema, tuple) else (schema,)))
        raise PackageError(
            f"{source}: '{where.rstrip('.')}' must be {names}, got {type(obj).__name__}; "
            "re-export the package with swinpose-export"
        )


@dataclass(frozen=True)
class PackageSpec:
    """A validated ``model.json``; ``folder`` is the package folder its file names are relative to."""

    folder: Path
    data: dict[str, Any]

    @classmethod
    def from_dict(cls, data: dict[str, Any], folder: str | Path, source: str = PACKAGE_JSON) -> PackageSpec:
        """Validate ``data`` against schema version 1 (raises :class:`PackageError` naming the bad entry)."""
        version = data.get("schema_version") if isinstance(data, dict) else None
        if isinstance(version, int) and version > PACKAGE_SCHEMA_VERSION:
            raise PackageError(
                f"{source} has schema version {version}, newer than this swinpose reads "
                f"({PACKAGE_SCHEMA_VERSION}); upgrade swinpose: pip install -U swinpose"
            )
        _check(data, _SCHEMA, "", source)
        if version != PACKAGE_SCHEMA_VERSION:
            raise PackageError(f"{source}: schema_version {version} is not {PACKAGE_SCHEMA_VERSION}; re-export it")
        if data["precision"] not in PRECISIONS:
            raise PackageError(f"{source}: precision {data['precision']!r} is not one of {PRECISIONS}")
        b = data["batch"]
        if not 1 <= b["min"] <= b["opt"] <= b["max"]:
            raise PackageError(f"{source}: batch range {b} must satisfy 1 <= min <= opt <= max")
        return cls(Path(folder), data)

    # -- what a runtime reads ------------------------------------------------------------------------------------
    @property
    def precision(self) -> str:
        return self.data["precision"]

    @property
    def input_name(self) -> str:
        return self.data["input"]["name"]

    @property
    def output_name(self) -> str:
        return self.data["output"]["name"]

    @property
    def input_size(self) -> tuple[int, int]:
        """(H, W) of the network input in pixels."""
        return tuple(self.data["preprocess"]["input_size"])

    @property
    def batch_range(self) -> tuple[int, int, int]:
        b = self.data["batch"]
        return b["min"], b["opt"], b["max"]

    @property
    def onnx_path(self) -> Path:
        return self.folder / self.data["files"]["onnx"]

    @property
    def engine_path(self) -> Path | None:
        name = self.data["files"]["engine"]
        return None if name is None else self.folder / name

    @property
    def int8_max_weight_pair(self) -> int | None:
        """int8 packages: the largest |w₁| + |w₂| within an output channel of the graph's weights
        (:mod:`runtime.int8_cpu`). Packages exported before it was recorded held 8-bit weights: 254. None for
        fp32/fp16."""
        if self.precision != "int8":
            return None
        pair = (self.data.get("calibration") or {}).get("max_weight_pair", LEGACY_INT8_WEIGHT_PAIR)
        if isinstance(pair, bool) or not isinstance(pair, int) or pair < 0:
            raise PackageError(f"{self.folder / PACKAGE_JSON}: calibration.max_weight_pair must be an integer >= 0, "
                               f"got {pair!r}; re-export the package")  # fmt: skip
        return pair

    def codec(self) -> HeatmapCodec:
        c = self.data["codec"]
        return HeatmapCodec(tuple(c["input_size"]), tuple(c["heatmap_size"]), float(c["sigma"]), bool(c["use_dark"]))


def read_package(folder: str | Path) -> PackageSpec:
    """Read and validate ``folder/model.json`` (``folder`` may also be the JSON file itself)."""
    path = Path(folder)
    if path.is_dir():
        path = path / PACKAGE_JSON
    if not path.is_file():
        raise PackageError(f"{path} does not exist; make a model package with: swinpose-export --weights W --out DIR")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise PackageError(f"{path} is not valid JSON ({e}); re-export the package") from e
    spec = PackageSpec.from_dict(data, path.parent, str(path))
    if not spec.onnx_path.is_file():
        raise PackageError(f"{path} names {spec.onnx_path.name}, which is not in {path.parent}; re-export the package")
    return spec
