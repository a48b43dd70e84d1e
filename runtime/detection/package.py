"""The detector package: ``detector.onnx`` (+ ``detector.engine``) and ``detector.json``. This module owns it.

``swinpose-export --detector FILE --out DIR`` makes one (:mod:`export.detector`); :class:`runtime.detection.Detector`
and every other reader call :func:`read_detector_package`. The JSON says what a detector file cannot always say for
itself: its layout, which class is people, the input size; and it records each file's size and SHA-256, checked
before a backend opens the file.

``detector.json`` (format version 1)::

    format_version  1
    kind            "swinpose-detector"
    layout          a runtime.detection.LAYOUTS name
    person_class    the class index of people
    class_names     {"0": "person", ...} | null                 from the file's metadata, where it has them
    input           {name, dtype, size: [H, W]}                 the image input (B×3×H×W)
    files           {onnx, engine, opencv}                      file names in the folder (engine, opencv: null if
                                                                none; opencv absent in older packages)
    onnx            {source, opset, nodes, bytes, sha256}       source: the file name it was exported from
    engine          null | {precision, tensorrt_version, flavor, compute_capabilities, bytes, sha256, ...}
    opencv          null | {batch, nodes, max_abs_vs_onnx, bytes, sha256}   detector.onnx rewritten for OpenCV DNN
                                                                (swinpose-export --detector FILE --opencv: the C++
                                                                runtime's CPU backend); absent in older packages
    tools           {package: version}
    created         "YYYY-MM-DDTHH:MM:SSZ"
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runtime.detection.layouts import LAYOUTS
from runtime.errors import ConfigError, PackageError
from runtime.files import atomic_path
from runtime.package import PACKAGE_JSON, engine_flavor, load_spec, verify_file

__all__ = [
    "DETECTOR_JSON",
    "DETECTOR_FORMAT_VERSION",
    "DETECTOR_KIND",
    "DetectorSpec",
    "is_detector_package",
    "read_detector_package",
]

DETECTOR_JSON = "detector.json"
DETECTOR_FORMAT_VERSION = 1
DETECTOR_KIND = "swinpose-detector"
_REEXPORT = "re-export it with swinpose-export --detector FILE --out DIR"
_FIELDS = (
    "format_version",
    "kind",
    "layout",
    "person_class",
    "class_names",
    "input",
    "files",
    "onnx",
    "engine",
    "opencv",
    "tools",
    "created",
)


def _file_name(value: Any, field: str, optional: bool) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or Path(value).name != value or value in ("", ".", ".."):
        raise ConfigError(f"files.{field} must be a file name inside the package folder, got {value!r}")
    return value


@dataclass(frozen=True)
class DetectorSpec:
    """A validated ``detector.json``; ``folder`` is the package folder its file names are relative to."""

    folder: Path
    layout: str
    person_class: int
    input_name: str
    input_dtype: str
    input_size: tuple[int, int]
    onnx_file: str
    onnx: dict[str, Any]
    tools: dict[str, Any]
    engine_file: str | None = None
    engine: dict[str, Any] | None = None
    opencv_file: str | None = None
    opencv: dict[str, Any] | None = None
    class_names: dict[int, str] | None = None
    created: str | None = None
    format_version: int = DETECTOR_FORMAT_VERSION

    def __post_init__(self) -> None:
        object.__setattr__(self, "folder", Path(self.folder))
        if self.layout not in LAYOUTS:
            raise ConfigError(f"layout {self.layout!r} is not one of {sorted(LAYOUTS)}")
        klass = self.person_class
        if isinstance(klass, bool) or not isinstance(klass, int) or klass < 0:
            raise ConfigError(f"person_class must be a class index >= 0, got {klass!r}")
        if self.class_names is not None:
            if not isinstance(self.class_names, dict) or not all(
                isinstance(k, int) and isinstance(v, str) for k, v in self.class_names.items()
            ):
                raise ConfigError("class_names must map class indices to names")
            if klass not in self.class_names:
                raise ConfigError(f"person_class {klass} is not one of the class_names")
        size = self.input_size
        if (
            not isinstance(size, (tuple, list))
            or len(size) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in size)
        ):
            raise ConfigError(f"input.size must be [H, W], two positive integers, got {size!r}")
        object.__setattr__(self, "input_size", (int(size[0]), int(size[1])))
        if not isinstance(self.input_name, str) or not self.input_name:
            raise ConfigError(f"input.name must be the graph's input name, got {self.input_name!r}")
        if self.input_dtype not in ("float32", "float16", "uint8"):
            raise ConfigError(f"input.dtype must be float32, float16 or uint8, got {self.input_dtype!r}")
        _file_name(self.onnx_file, "onnx", optional=False)
        for name in ("engine", "opencv"):
            _file_name(getattr(self, f"{name}_file"), name, optional=True)
            if (getattr(self, f"{name}_file") is None) != (getattr(self, name) is None):
                raise ConfigError(f"files.{name} and {name} must both be set or both be null")
        for name in ("onnx", "tools", "engine", "opencv"):
            value = getattr(self, name)
            nullable = name in ("engine", "opencv")
            if not isinstance(value, dict) and not (nullable and value is None):
                raise ConfigError(f"'{name}' must be an object{' or null' if nullable else ''}")
            object.__setattr__(self, name, copy.deepcopy(value))

    # -- reading and writing ---------------------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: Any, folder: str | Path, source: str = DETECTOR_JSON) -> DetectorSpec:
        """Validate a parsed detector.json; raises :class:`PackageError` naming the bad field and the fix."""
        if not isinstance(data, dict):
            raise PackageError(f"{source} must hold a JSON object; {_REEXPORT}")
        if data.get("kind") != DETECTOR_KIND:
            raise PackageError(
                f"{source} is not a swinpose detector package (kind {data.get('kind')!r}, not "
                f"{DETECTOR_KIND!r}); {_REEXPORT}"
            )
        version = data.get("format_version")
        if isinstance(version, int) and not isinstance(version, bool) and version > DETECTOR_FORMAT_VERSION:
            raise PackageError(
                f"{source} has format version {version}, newer than this swinpose reads "
                f"({DETECTOR_FORMAT_VERSION}); upgrade swinpose: pip install -U swinpose"
            )
        if version != DETECTOR_FORMAT_VERSION:
            raise PackageError(
                f"{source}: format version {version!r} is not one this swinpose reads "
                f"({DETECTOR_FORMAT_VERSION}); {_REEXPORT}"
            )
        unknown = sorted(set(data) - set(_FIELDS))
        if unknown:
            raise PackageError(
                f"{source} has unknown fields {unknown}: a newer swinpose wrote it? upgrade swinpose "
                "(pip install -U swinpose) or re-export it"
            )
        missing = sorted(set(_FIELDS) - {"class_names", "engine", "opencv", "created"} - set(data))
        if missing:
            raise PackageError(f"{source}: {missing} missing; {_REEXPORT}")
        try:
            inp, files, names = data["input"], data["files"], data.get("class_names")
            if not isinstance(inp, dict) or not isinstance(files, dict):
                raise ConfigError("'input' and 'files' must be objects")
            if names is not None:
                if not isinstance(names, dict) or not all(isinstance(k, str) and k.isdigit() for k in names):
                    raise ConfigError("class_names must map class indices (as JSON keys) to names")
                names = {int(k): v for k, v in names.items()}
            return cls(
                folder=Path(folder),
                layout=data["layout"],
                person_class=data["person_class"],
                input_name=inp.get("name"),
                input_dtype=inp.get("dtype"),
                input_size=inp.get("size"),
                onnx_file=files.get("onnx"),
                engine_file=files.get("engine"),
                opencv_file=files.get("opencv"),
                onnx=data["onnx"],
                engine=data.get("engine"),
                opencv=data.get("opencv"),
                tools=data["tools"],
                class_names=names,
                created=data.get("created"),
            )
        except ConfigError as e:
            raise PackageError(f"{source}: {e}; {_REEXPORT}") from e

    def to_dict(self) -> dict[str, Any]:
        """detector.json's content; :meth:`from_dict` of it gives this spec back."""
        names = None if self.class_names is None else {str(k): v for k, v in self.class_names.items()}
        return {
            "format_version": self.format_version,
            "kind": DETECTOR_KIND,
            "layout": self.layout,
            "person_class": self.person_class,
            "class_names": names,
            "input": {"name": self.input_name, "dtype": self.input_dtype, "size": list(self.input_size)},
            "files": {"onnx": self.onnx_file, "engine": self.engine_file, "opencv": self.opencv_file},
            "onnx": copy.deepcopy(self.onnx),
            "engine": copy.deepcopy(self.engine),
            "opencv": copy.deepcopy(self.opencv),
            "tools": copy.deepcopy(self.tools),
            "created": self.created,
        }

    def write(self, folder: str | Path | None = None) -> Path:
        """Write detector.json into ``folder`` (default: this spec's folder) atomically; returns its path."""
        path = Path(folder if folder is not None else self.folder) / DETECTOR_JSON
        text = json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n"
        with atomic_path(path) as tmp:
            tmp.write_text(text)
        return path

    @property
    def onnx_path(self) -> Path:
        return self.folder / self.onnx_file

    @property
    def engine_path(self) -> Path | None:
        return None if self.engine_file is None else self.folder / self.engine_file

    @property
    def opencv_path(self) -> Path | None:
        return None if self.opencv_file is None else self.folder / self.opencv_file

    @property
    def engine_flavor(self) -> str:
        """The TensorRT flavour that built the engine (:func:`runtime.package.engine_flavor`)."""
        return engine_flavor(self.engine)

    def verify(self, path: str | Path) -> None:
        """Refuse ``path`` (the package's ONNX, engine or OpenCV graph) unless its size and SHA-256 are what the
        export recorded."""
        path = Path(path).resolve()
        records = ((self.onnx_path, self.onnx), (self.engine_path, self.engine), (self.opencv_path, self.opencv))
        record = next((r for p, r in records if p is not None and path == p.resolve()), None)
        verify_file(path, record, self.folder / DETECTOR_JSON, _REEXPORT)


def is_detector_package(path: str | Path) -> bool:
    """Whether ``path`` is a folder holding a detector.json (or that file)."""
    path = Path(path)
    return (path / DETECTOR_JSON).is_file() if path.is_dir() else path.name == DETECTOR_JSON and path.is_file()


def read_detector_package(folder: str | Path) -> DetectorSpec:
    """Read and validate ``folder/detector.json`` (``folder`` may also be the JSON file itself)."""
    path = Path(folder)
    if path.is_dir():
        if not (path / DETECTOR_JSON).is_file() and (path / PACKAGE_JSON).is_file():
            raise PackageError(
                f"{path} is a pose model package ({PACKAGE_JSON}), not a detector package: pass it as "
                f"--package, and a detector file or package as --detector ({_REEXPORT})"
            )
        path = path / DETECTOR_JSON
    if not path.is_file():
        raise PackageError(
            f"{path} does not exist; make a detector package with: swinpose-export --detector FILE --out DIR"
        )
    return load_spec(path, DetectorSpec.from_dict, _REEXPORT)
