"""The model package: ``model.onnx`` (+ ``model.engine``) and ``model.json``, which carries everything a runtime needs.

This module owns the package. :class:`PackageSpec` is ``model.json`` as frozen, typed parts, one per concern, each
validated when it is made: the tensors, the batch range, the pre-processing (:class:`runtime.transforms.Preprocess`),
the codec (:class:`runtime.codec.HeatmapCodec`), the keypoints (:class:`runtime.keypoints.KeypointSpec`), the files,
and the provenance written at export (the graph's and engine's build facts, calibration, parity, tool versions).
``swinpose-export`` makes one and calls :meth:`PackageSpec.write`; every reader calls :func:`read_package` and uses
attributes. Nothing downstream hard-codes tensor names, shapes, normalisation, codec settings or the keypoint
topology. The C++ runtime's ``PackageConfig`` (runtime/cpp) mirrors these parts field for field.

``model.json`` (format version 2)::

    format_version  2
    model           {name, config, weights}              the PoseModelConfig that was exported, the weights' name
    precision       "fp32" | "fp16" | "int8"             of model.onnx (and of the engine)
    files           {onnx, engine, calibration, opencv}  file names inside the package folder (null: absent)
    input, output   {name, shape, dtype, layout}         shape with -1 for the dynamic batch axis, NCHW, float32
    batch           {min, opt, max}                      the TensorRT optimisation profile
    preprocess      {input_size, color_order, mean, std, pixel_scale, box_padding, aspect, warp}   Preprocess
    codec           {input_size, heatmap_size, sigma, use_dark, convention, flip_shift}            HeatmapCodec
    keypoints       {names, skeleton, flip_pairs, oks_sigmas}                                KeypointSpec
    onnx            {opset, nodes, op_counts, bytes, sha256}
    engine          null | {tensorrt_version, flavor ("standard" | "rtx"), compute_capabilities, mode, io,
                            profile, layers, bytes, sha256, ...}
    opencv          null | {batch, nodes, max_abs_vs_onnx, bytes, sha256}
    calibration     null | {method, images, source, quantized_op_types, excluded_nodes,
                            weight_bits, max_weight_pair, saturates_on}   int8 (runtime.int8_cpu)
    parity          {reference, images, source, fp32: {...}, <precision>: {...}}
    tools           {package: version}
    created         "YYYY-MM-DDTHH:MM:SSZ"

Format version 1 (``schema_version: 1``) packages are migrated when read: their pre-processing was our own
training's, mean/std on the 0..255 scale with the aspect fixed, which is what version 2 spells out.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runtime.backends import TENSORRT_FLAVORS
from runtime.backends.base import TensorSpec
from runtime.codec import HeatmapCodec
from runtime.contract import check_int, check_str, fields_from_dict
from runtime.errors import ConfigError, PackageError
from runtime.files import atomic_path, restore_set_aside, set_aside_folder
from runtime.keypoints import KeypointSpec
from runtime.transforms import Preprocess

__all__ = [
    "PACKAGE_FORMAT_VERSION",
    "PACKAGE_JSON",
    "PRECISIONS",
    "TensorSpec",
    "BatchRange",
    "Files",
    "ModelInfo",
    "InferenceSpec",
    "PackageSpec",
    "read_package",
    "recover_package",
    "engine_flavor",
    "file_record",
    "file_sha256",
    "strict_json",
    "verify_file",
]

PACKAGE_FORMAT_VERSION = 2
PACKAGE_JSON = "model.json"
PRECISIONS = ("fp32", "fp16", "int8")
#: int8 packages from before ``calibration.max_weight_pair``: symmetric 8-bit weights, two of 127 in a channel
LEGACY_INT8_WEIGHT_PAIR = 254
_REEXPORT = "re-export the package with swinpose-export"


def network_tensor(spec: TensorSpec) -> TensorSpec:
    """``spec`` held to what a package's network input or output is: a name, shape [-1, C, H, W] (a dynamic batch,
    positive sizes), float32 (every precision keeps float32 I/O) and NCHW; the shape as a tuple."""
    check_str(spec.name, "name")
    if isinstance(spec.shape, (str, bytes)) or not hasattr(spec.shape, "__len__") or len(spec.shape) != 4:
        raise ConfigError(f"shape must be 4 integers [-1, C, H, W], got {spec.shape!r}")
    shape = tuple(check_int(v, "shape") for v in spec.shape)
    if shape[0] != -1 or min(shape[1:]) <= 0:
        raise ConfigError(f"shape must be [-1, C, H, W] with a dynamic batch and positive sizes, got {list(shape)}")
    if spec.dtype != "float32":
        raise ConfigError(f"dtype must be float32 (every precision keeps float32 I/O), got {spec.dtype!r}")
    if spec.layout != "NCHW":
        raise ConfigError(f"layout must be NCHW, got {spec.layout!r}")
    return dataclasses.replace(spec, shape=shape)


class _NetworkTensor:
    """Reads model.json's ``input`` and ``output`` (name, shape, dtype, layout) as a :func:`network_tensor`."""

    @staticmethod
    def from_dict(d: Any) -> TensorSpec:
        return network_tensor(fields_from_dict(TensorSpec, d))


@dataclass(frozen=True)
class BatchRange:
    """The batch sizes the graph and engine take: TensorRT's optimisation profile, 1 <= min <= opt <= max."""

    min: int
    opt: int
    max: int

    def __post_init__(self) -> None:
        for name in ("min", "opt", "max"):
            check_int(getattr(self, name), name, 1)
        if not self.min <= self.opt <= self.max:
            raise ConfigError(f"must satisfy 1 <= min <= opt <= max, got {self.to_dict()}")

    def as_tuple(self) -> tuple[int, int, int]:
        return self.min, self.opt, self.max

    def to_dict(self) -> dict[str, int]:
        return {"min": self.min, "opt": self.opt, "max": self.max}


@dataclass(frozen=True)
class Files:
    """File names inside the package folder; None where the package has no such file."""

    onnx: str
    engine: str | None = None
    calibration: str | None = None
    opencv: str | None = None

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            name = check_str(getattr(self, f.name), f.name, optional=f.name != "onnx")
            if name is not None and (Path(name).name != name or name in (".", "..")):
                raise ConfigError(f"{f.name} must be a file name inside the package folder, got {name!r}")

    def to_dict(self) -> dict[str, str | None]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class ModelInfo:
    """What was exported: the registered model's name, its full PoseModelConfig, and the weights' name."""

    name: str
    config: dict[str, Any]
    weights: str | None = None

    def __post_init__(self) -> None:
        check_str(self.name, "name")
        if not isinstance(self.config, dict):
            raise ConfigError(f"config must be an object (a PoseModelConfig), got {type(self.config).__name__}")
        check_str(self.weights, "weights", optional=True)
        object.__setattr__(self, "config", copy.deepcopy(self.config))

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "config": copy.deepcopy(self.config), "weights": self.weights}


def _part(cls: Any, data: Any, where: str, source: str) -> Any:
    try:
        return cls.from_dict(data) if hasattr(cls, "from_dict") else fields_from_dict(cls, data)
    except (ConfigError, TypeError) as e:
        raise PackageError(f"{source}: '{where}' {e}; {_REEXPORT}") from e


@dataclass(frozen=True)
class InferenceSpec:
    """The settings inference must repeat exactly as training used them: pre-processing, the codec and the
    keypoints. Training records them in every checkpoint; export builds the package's parts from them."""

    preprocess: Preprocess
    codec: HeatmapCodec
    keypoints: KeypointSpec

    def __post_init__(self) -> None:
        if self.preprocess.input_size != self.codec.input_size:
            raise ConfigError(
                f"preprocess.input_size {list(self.preprocess.input_size)} and codec.input_size "
                f"{list(self.codec.input_size)} differ"
            )

    def to_dict(self) -> dict[str, Any]:
        return {
            "preprocess": self.preprocess.to_dict(),
            "codec": self.codec.to_dict(),
            "keypoints": self.keypoints.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str = "inference settings") -> InferenceSpec:
        if not isinstance(d, dict) or sorted(d) != ["codec", "keypoints", "preprocess"]:
            raise PackageError(f"{source}: must be an object of preprocess, codec and keypoints, got {d!r:.200}")
        parts = {
            k: _part(t, d[k], k, source)
            for k, t in (("preprocess", Preprocess), ("codec", HeatmapCodec), ("keypoints", KeypointSpec))
        }
        try:
            return cls(**parts)
        except ConfigError as e:
            raise PackageError(f"{source}: {e}") from e


#: model.json's parts: key → (type, optional); provenance sections are plain JSON objects
_PARTS: dict[str, tuple[Any, bool]] = {
    "model": (ModelInfo, False),
    "files": (Files, False),
    "input": (_NetworkTensor, False),
    "output": (_NetworkTensor, False),
    "batch": (BatchRange, False),
    "preprocess": (Preprocess, False),
    "codec": (HeatmapCodec, False),
    "keypoints": (KeypointSpec, False),
}
_PROVENANCE = {"onnx": False, "engine": True, "opencv": True, "calibration": True, "parity": False, "tools": False}


@dataclass(frozen=True)
class PackageSpec:
    """A validated ``model.json``; ``folder`` is the package folder its file names are relative to.

    Its parts agree with each other by construction: the input is B×3×H×W with (H, W) the pre-processing's and
    the codec's input size, and the output B×K×h×w with K the keypoints' count and (h, w) the codec's heatmap size.
    """

    folder: Path
    precision: str
    model: ModelInfo
    files: Files
    input: TensorSpec
    output: TensorSpec
    batch: BatchRange
    preprocess: Preprocess
    codec: HeatmapCodec
    keypoints: KeypointSpec
    onnx: dict[str, Any]
    parity: dict[str, Any]
    tools: dict[str, Any]
    engine: dict[str, Any] | None = None
    opencv: dict[str, Any] | None = None
    calibration: dict[str, Any] | None = None
    created: str | None = None
    format_version: int = PACKAGE_FORMAT_VERSION

    def __post_init__(self) -> None:
        object.__setattr__(self, "folder", Path(self.folder))
        object.__setattr__(self, "input", network_tensor(self.input))
        object.__setattr__(self, "output", network_tensor(self.output))
        if self.precision not in PRECISIONS:
            raise ConfigError(f"precision {self.precision!r} is not one of {PRECISIONS}")
        h, w = self.preprocess.input_size
        checks = [
            (self.codec.input_size == (h, w), f"codec.input_size {list(self.codec.input_size)}"),
            (self.input.shape == (-1, 3, h, w), f"input.shape {list(self.input.shape)}"),
            (
                self.output.shape == (-1, self.keypoints.num_keypoints, *self.codec.heatmap_size),
                f"output.shape {list(self.output.shape)}",
            ),
        ]
        bad = [what for ok, what in checks if not ok]
        if bad:
            raise ConfigError(
                f"{' and '.join(bad)} disagree with preprocess.input_size {[h, w]}, "
                f"{self.keypoints.num_keypoints} keypoint names and codec.heatmap_size {list(self.codec.heatmap_size)}"
            )
        graph = _precision_of_ops((self.onnx or {}).get("op_counts"))
        if graph is not None and graph != self.precision:
            raise ConfigError(
                f"precision says {self.precision!r}, but the graph's operators (onnx.op_counts) are an "
                f"{graph} graph's; the JSON was edited or comes from another export"
            )
        if self.engine is not None and self.engine.get("flavor", "standard") not in TENSORRT_FLAVORS:
            raise ConfigError(
                f"engine.flavor {self.engine.get('flavor')!r} is not one of {tuple(TENSORRT_FLAVORS)}; "
                "upgrade swinpose or re-export the engine"
            )
        for name in _PROVENANCE:
            object.__setattr__(self, name, copy.deepcopy(getattr(self, name)))

    # -- reading and writing -------------------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: Any, folder: str | Path, source: str = PACKAGE_JSON) -> PackageSpec:
        """Validate ``data`` (a parsed model.json of format version 2, or 1, which is migrated); raises
        :class:`PackageError` naming the bad field and the fix."""
        if not isinstance(data, dict):
            raise PackageError(f"{source} must hold a JSON object; {_REEXPORT}")
        data = _migrate(data, source)
        known = {"format_version", "precision", "created", *_PARTS, *_PROVENANCE}
        unknown = sorted(set(data) - known)
        if unknown:
            raise PackageError(
                f"{source} has unknown fields {unknown}: a newer swinpose wrote it? upgrade swinpose "
                "(pip install -U swinpose) or re-export the package"
            )
        missing = sorted(k for k in ("precision", *_PARTS, "onnx", "parity", "tools") if k not in data)
        if missing:
            raise PackageError(f"{source}: {missing} missing; {_REEXPORT}")
        parts = {k: _part(t, data[k], k, source) for k, (t, _) in _PARTS.items()}
        for key, optional in _PROVENANCE.items():
            value = data.get(key)
            if not isinstance(value, dict) and not (optional and value is None):
                raise PackageError(f"{source}: '{key}' must be an object{' or null' if optional else ''}; {_REEXPORT}")
        created = data.get("created")
        if created is not None and not isinstance(created, str):
            raise PackageError(f"{source}: 'created' must be a date string; {_REEXPORT}")
        try:
            return cls(
                folder=Path(folder),
                precision=data["precision"],
                created=created,
                **parts,
                **{k: data.get(k) for k in _PROVENANCE},
            )
        except ConfigError as e:
            raise PackageError(f"{source}: {e}; {_REEXPORT}") from e

    def to_dict(self) -> dict[str, Any]:
        """model.json's content (format version 2); :meth:`from_dict` of it gives this spec back."""
        out: dict[str, Any] = {"format_version": self.format_version, "precision": self.precision}
        for key in _PARTS:
            out[key] = getattr(self, key).to_dict()
        for key in _PROVENANCE:
            out[key] = copy.deepcopy(getattr(self, key))
        out["created"] = self.created
        return out

    def write(self, folder: str | Path | None = None) -> Path:
        """Write model.json into ``folder`` (default: this spec's folder) atomically; returns its path."""
        path = Path(folder if folder is not None else self.folder) / PACKAGE_JSON
        text = json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n"
        with atomic_path(path) as tmp:
            tmp.write_text(text)
        return path

    def replace(self, **changes: Any) -> PackageSpec:
        """A copy with ``changes`` (validated like any other spec)."""
        return dataclasses.replace(self, **changes)

    @property
    def inference(self) -> InferenceSpec:
        return InferenceSpec(self.preprocess, self.codec, self.keypoints)

    # -- what a runtime reads ------------------------------------------------------------------------------------
    @property
    def input_name(self) -> str:
        return self.input.name

    @property
    def output_name(self) -> str:
        return self.output.name

    @property
    def input_size(self) -> tuple[int, int]:
        """(H, W) of the network input in pixels."""
        return self.preprocess.input_size

    @property
    def num_keypoints(self) -> int:
        return self.keypoints.num_keypoints

    @property
    def batch_range(self) -> tuple[int, int, int]:
        return self.batch.as_tuple()

    @property
    def onnx_path(self) -> Path:
        return self.folder / self.files.onnx

    @property
    def engine_path(self) -> Path | None:
        return None if self.files.engine is None else self.folder / self.files.engine

    def file_path(self, key: str) -> Path | None:
        """The path of ``files.<key>`` (``onnx``, ``engine``, ``calibration``, ``opencv``), None when absent."""
        name = getattr(self.files, key)
        return None if name is None else self.folder / name

    def verify(self, path: str | Path) -> None:
        """Refuse ``path`` (the package file a backend is about to open) unless its size and SHA-256 are what the
        export recorded in model.json (``onnx``, ``engine`` or ``opencv``); files it records nothing for pass.

        Hashing runs at about 1.3 GB/s on a 2-core EPYC, once per process for each version of a file (path, size,
        mtime, inode): reopening a package costs a ``stat``."""
        path = Path(path)
        record = None
        for key in ("onnx", "engine", "opencv"):
            name = getattr(self.files, key)
            if name is not None and (self.folder / name).resolve() == path.resolve():
                record = getattr(self, key)
        verify_file(path, record, self.folder / PACKAGE_JSON, _REEXPORT)

    @property
    def engine_flavor(self) -> str:
        """The TensorRT flavour that built the engine (:func:`engine_flavor`)."""
        return engine_flavor(self.engine)

    @property
    def int8_max_weight_pair(self) -> int | None:
        """int8 packages: the largest |w₁| + |w₂| within an output channel of the graph's weights
        (:mod:`runtime.int8_cpu`). Packages exported before it was recorded held 8-bit weights: 254. None for
        fp32/fp16."""
        if self.precision != "int8":
            return None
        pair = (self.calibration or {}).get("max_weight_pair", LEGACY_INT8_WEIGHT_PAIR)
        if isinstance(pair, bool) or not isinstance(pair, int) or pair < 0:
            raise PackageError(
                f"{self.folder / PACKAGE_JSON}: calibration.max_weight_pair must be an integer >= 0, "
                f"got {pair!r}; re-export the package"
            )
        return pair


def file_record(path: str | Path) -> dict[str, Any]:
    """What a package JSON keeps of one of its files: ``{bytes, sha256}`` (checked by :func:`verify_file`)."""
    st = Path(path).stat()
    return {"bytes": st.st_size, "sha256": file_sha256(path, st)}


def verify_file(path: Path, record: Any, where: Path, fix: str) -> None:
    """Refuse ``path`` unless its size and SHA-256 are ``record``'s (``{bytes, sha256}``, as the JSON at ``where``
    keeps them); a record without a ``sha256`` passes. ``fix`` ends each message (how to make the file again)."""
    if not isinstance(record, dict) or "sha256" not in record:
        return
    try:
        st = path.stat()
    except OSError as e:
        raise PackageError(f"{where} names {path.name}, which cannot be read ({e.strerror}); {fix}") from e
    if isinstance(record.get("bytes"), int) and st.st_size != record["bytes"]:
        raise PackageError(
            f"{path} is {st.st_size} bytes, and {where} recorded {record['bytes']}: the file was "
            f"changed, truncated or replaced after the export; {fix}"
        )
    digest = file_sha256(path, st)
    if digest != record["sha256"]:
        raise PackageError(
            f"{path} does not match {where} (sha256 {digest[:12]}…, recorded "
            f"{str(record['sha256'])[:12]}…): the file was damaged or replaced after the export; "
            f"{fix}"
        )


_HASHED: dict[tuple[str, int, int, int], str] = {}


def file_sha256(path: str | Path, st: os.stat_result | None = None) -> str:
    """SHA-256 of a file, hashed once per process for each (path, size, mtime, inode)."""
    path = Path(path)
    st = st or path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns, st.st_ino)
    if key not in _HASHED:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 23), b""):
                h.update(chunk)
        _HASHED[key] = h.hexdigest()
    return _HASHED[key]


#: operators that only a graph of that precision has (the export's to_fp16 casts around the fp32 islands; int8
#: graphs are Q/DQ)
_INT8_OPS, _FP16_OPS = ("QuantizeLinear", "DequantizeLinear"), ("Cast",)


def _precision_of_ops(op_counts: Any) -> str | None:
    """The precision the export's op counts show, or None when they are not recorded."""
    if not isinstance(op_counts, dict) or not op_counts:
        return None
    if any(op_counts.get(op, 0) for op in _INT8_OPS):
        return "int8"
    return "fp16" if any(op_counts.get(op, 0) for op in _FP16_OPS) else "fp32"


def _migrate(data: dict[str, Any], source: str) -> dict[str, Any]:
    """Format version 1 → 2 (cheap: version 1's pre-processing was implicit in these two fields); any other version
    gives the error that says what to do."""
    version = data.get("format_version", data.get("schema_version"))
    if isinstance(version, int) and not isinstance(version, bool) and version > PACKAGE_FORMAT_VERSION:
        raise PackageError(
            f"{source} has format version {version}, newer than this swinpose reads "
            f"({PACKAGE_FORMAT_VERSION}); upgrade swinpose: pip install -U swinpose"
        )
    if version == PACKAGE_FORMAT_VERSION and "schema_version" not in data:
        return data
    if version != 1 or "format_version" in data:
        raise PackageError(
            f"{source}: format version {version!r} is not one this swinpose reads (1 or "
            f"{PACKAGE_FORMAT_VERSION}); {_REEXPORT}"
        )
    data = copy.deepcopy(data)
    del data["schema_version"]
    data["format_version"] = PACKAGE_FORMAT_VERSION
    pre = data.get("preprocess")
    if isinstance(pre, dict):
        pre.setdefault("pixel_scale", 255.0)
        pre.setdefault("aspect", "fixed")
    data.setdefault("opencv", None)
    files = data.get("files")
    if isinstance(files, dict):
        files.setdefault("opencv", None)
    model = data.get("model")
    if isinstance(model, dict):
        model.setdefault("weights", None)
    return data


def engine_flavor(engine: dict[str, Any] | None) -> str:
    """The TensorRT flavour a package JSON's ``engine`` record names (model.json's or detector.json's):
    ``standard`` for engines recorded before flavours, and where there is no engine."""
    return (engine or {}).get("flavor", "standard")


def recover_package(folder: str | Path) -> Path | None:
    """Recovery, as a step of its own: where an export was killed between the fallback's two renames (no atomic
    exchange on this platform), ``folder`` is missing and the old package is set aside beside it; put it back.
    Returns the set-aside folder it renamed, None where there was nothing to recover. PoseEngine runs it before it
    reads a package; :func:`read_package` only reads."""
    path = Path(folder)
    if path.exists() or path.suffix == ".json":
        return None
    try:
        return restore_set_aside(path)
    except OSError:  # a reader beside us renamed it first, or the folder is not ours to rename
        return None


def read_package(folder: str | Path) -> PackageSpec:
    """Read and validate ``folder/model.json`` (``folder`` may also be the JSON file itself). It never writes: a
    package that an interrupted export set aside is an error naming :func:`recover_package`."""
    path = Path(folder)
    aside = None if path.exists() or path.suffix == ".json" else set_aside_folder(path)
    if aside is not None:
        raise PackageError(
            f"{path} is missing: an interrupted export set it aside as {aside.name}; "
            "runtime.package.recover_package(path) (or PoseEngine, or the next export) puts it back"
        )
    if path.is_dir():
        path = path / PACKAGE_JSON
    if not path.is_file():
        raise PackageError(f"{path} does not exist; make a model package with: swinpose-export --weights W --out DIR")
    return load_spec(path, PackageSpec.from_dict, "re-export the package")


def load_spec(path: Path, parse: Callable[[Any, Path, str], Any], fix: str) -> Any:
    """The spec ``parse(data, folder, source)`` makes of the package JSON at ``path`` (a model.json or a
    detector.json), whose ONNX file must be in its folder; ``fix`` ends each error."""
    try:
        data = strict_json(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError) as e:
        raise PackageError(f"{path} is not valid JSON ({e}); {fix}") from e
    spec = parse(data, path.parent, str(path))
    if not spec.onnx_path.is_file():
        raise PackageError(f"{path} names {spec.onnx_path.name}, which is not in {path.parent}; {fix}")
    return spec


def strict_json(text: str) -> Any:
    """Parse a package JSON: strict JSON, whose NaN and Infinity are refused where they are read (ValueError), not
    turned into floats."""
    return json.loads(text, parse_constant=_no_constant)


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON value (a package's JSON must be strict JSON)")
