"""Which backend × precision combinations a benchmark runs, each as a :class:`runtime.PoseEngine`, and why the others
are skipped.

``--package DIR`` is one package, or a folder of packages (one per precision, e.g. ``DIR/fp32``, ``DIR/int8``, as
``swinpose-export --out DIR/<precision>`` makes them). Every combination runs through PoseEngine, PyTorch too (behind
:class:`benchmarks.torch_backend.TorchBackend`), so all of them get the same pre-processing and decoding.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runtime import PoseEngine
from runtime.backends import BACKENDS as RUNTIME_BACKENDS
from runtime.errors import BackendError, ConfigError, MissingDependencyError, PackageError, SaturatingInt8Error
from runtime.package import PACKAGE_JSON, PackageSpec, read_package
from runtime.package import PRECISIONS as PACKAGE_PRECISIONS

__all__ = [
    "BACKENDS",
    "PRECISIONS",
    "HINTED",
    "Hinted",
    "judged_as",
    "Combo",
    "find_packages",
    "open_combo",
    "parse_list",
]

#: what --backends accepts: PyTorch eager, PyTorch through torch.compile, and the runtime's backends (its table)
BACKENDS = ("torch", "torch-compile", *RUNTIME_BACKENDS)


@dataclass(frozen=True)
class Hinted:
    """A precision a backend reaches through its options on another precision's package: the ``backend``, the
    ``package`` precision it runs, its backend ``options``, and the precision whose floor and ΔAP limit apply
    (``like``)."""

    backend: str
    package: str
    options: Mapping[str, Any]
    like: str


#: bf16: OpenVINO's bf16 precision hint on the fp32 package; int8+bf16: on the int8 package (what is not quantized
#: runs in bf16), judged as int8
HINTED = {
    "bf16": Hinted("openvino", "fp32", {"precision": "bf16"}, "bf16"),
    "int8+bf16": Hinted("openvino", "int8", {"precision": "bf16"}, "int8"),
}
#: what --precisions accepts: the package precisions and the hinted ones
PRECISIONS = ("fp32", "fp16", "bf16", "int8", "int8+bf16")


def judged_as(precision: str) -> str:
    """The precision whose floor and ΔAP limit apply to a row of ``precision``."""
    return HINTED[precision].like if precision in HINTED else precision


_REFERENCE_KEYS = ("model", "preprocess", "codec", "keypoints", "input", "output")


def parse_list(text: str, allowed: tuple[str, ...], what: str) -> list[str]:
    """``"a,b"`` → ["a", "b"], each checked against ``allowed``."""
    items = [t.strip() for t in str(text).split(",") if t.strip()]
    bad = [t for t in items if t not in allowed]
    if bad or not items:
        raise ConfigError(f"{what} {bad or text!r} not understood; choose from {', '.join(allowed)}")
    return items


def find_packages(path: str | Path) -> dict[str, PackageSpec]:
    """precision → package, from one package folder or a folder of them. All must be exports of one model."""
    path = Path(path)
    if (path / PACKAGE_JSON).is_file():
        folders = [path]
    else:
        found = path.glob(f"*/{PACKAGE_JSON}") if path.is_dir() else []
        folders = sorted(p.parent for p in found if not p.parent.name.startswith("."))  # not an export's staging
    if not folders:
        raise PackageError(
            f"{path} holds no model package ({PACKAGE_JSON}); make one with swinpose-export --weights W --out DIR, "
            "or pass a folder of packages (one per precision)"
        )
    packages: dict[str, PackageSpec] = {}
    for folder in folders:
        spec = read_package(folder)
        precision = spec.precision
        if precision in packages:
            raise PackageError(f"{packages[precision].folder} and {folder} are both {precision} packages; keep one")
        packages[precision] = spec
    first = next(iter(packages.values()))
    for spec in packages.values():
        differs = [k for k in _REFERENCE_KEYS if getattr(spec, k) != getattr(first, k)]
        if differs:
            raise PackageError(
                f"{spec.folder} and {first.folder} are exports of different models ({', '.join(differs)} differ); "
                "benchmark one model's packages together"
            )
    return dict(sorted(packages.items(), key=lambda kv: PACKAGE_PRECISIONS.index(kv[0])))


@dataclass
class Combo:
    """A backend × precision: its open engine, or why it was skipped. ``reopen`` makes the engine again after
    :meth:`suspend` (set for ONNX Runtime and OpenVINO on the CPU, whose sessions each keep a thread pool: an idle
    ONNX Runtime session's pool slowed another session's runs by up to 3× on 2 cores, so a benchmark keeps one of
    them open at a time; OpenVINO reopens from its model cache)."""

    backend: str
    precision: str
    engine: PoseEngine | None = None
    skipped: str | None = None
    weights: str | None = None  # the PyTorch rows' weights
    reopen: Callable[[], PoseEngine] | None = None

    def suspend(self) -> None:
        """Close the engine if ``reopen`` can make it again."""
        if self.reopen is not None and self.engine is not None:
            self.engine.close()
            self.engine = None

    def resume(self) -> PoseEngine:
        """The open engine, reopened if :meth:`suspend` closed it."""
        if self.engine is None:
            if self.reopen is None:
                raise ConfigError(f"{self.backend} {self.precision} has no engine: {self.skipped}")
            self.engine = self.reopen()
        return self.engine

    def close(self) -> None:
        if self.engine is not None:
            self.engine.close()


def _make_hint(precision: str, folder: Path) -> str:
    """The export command of a missing precision: beside ``folder`` when it is itself a package (an export
    replaces its whole folder, so packages do not nest), else inside the folder of packages."""
    flag = {"fp32": "", "fp16": " --fp16", "int8": " --int8 --calib-data DATA"}[precision]
    if (folder / PACKAGE_JSON).is_file():
        return (
            f"swinpose-export --weights W{flag} --out {folder.parent / precision}, then pass the folder of "
            f"both, --package {folder.parent}"
        )
    return f"swinpose-export --weights W{flag} --out {folder / precision}"


def open_combo(
    backend: str,
    precision: str,
    packages: dict[str, PackageSpec],
    root: Path,
    device: str = "cpu",
    threads: int = 0,
    flip_test: bool = False,
    weights: str | Path | None = None,
    require_weights: bool = False,
) -> Combo:
    """Open ``backend`` in ``precision`` as a PoseEngine, or say why it cannot run here. ``weights`` are the PyTorch
    model's (default: the bundled file if the packages came from it, else random weights unless
    ``require_weights``)."""
    combo = Combo(backend, precision)
    options = dict(device=device, flip_test=flip_test, threads=threads)
    if backend in ("torch", "torch-compile"):
        from benchmarks.torch_backend import TorchBackend, package_weights, torch_model_for

        if precision == "int8":
            combo.skipped = "PyTorch has no int8 path for this model; ONNX Runtime and TensorRT run the int8 graph"
        elif precision in HINTED:
            combo.skipped = f"the {precision} rows are {HINTED[precision].backend}'s (--backends openvino)"
        elif precision == "fp16" and not device.startswith("cuda"):
            combo.skipped = "PyTorch runs fp16 on a GPU only (its CPU fp16 matmul is a slow reference): --device cuda:0"
        if combo.skipped:
            return combo
        spec = packages.get("fp32") or next(iter(packages.values()))
        path = package_weights(spec, weights)
        if path is None and require_weights:
            raise ConfigError(
                f"the PyTorch reference needs the weights {spec.model.weights} that "
                f"{spec.folder} was exported from: pass --weights"
            )
        model, combo.weights = torch_model_for(spec, path)
        try:
            runner = TorchBackend(
                model,
                device,
                precision,
                compile=backend == "torch-compile",
                threads=threads,
                names=(spec.input_name, spec.output_name),
            )
        except BackendError as e:
            combo.skipped = str(e)
            return combo
        combo.engine = PoseEngine(spec.folder, backend=runner, **options)
        return combo
    package_precision, backend_options = precision, {}
    if precision in HINTED:
        hinted = HINTED[precision]
        package_precision, backend_options = hinted.package, dict(hinted.options)
        if backend != hinted.backend:
            combo.skipped = (
                f"{precision} here is {hinted.backend}'s precision hint on the {package_precision} package, which "
                f"{backend} has not: --backends {hinted.backend}"
            )
            return combo
    spec = packages.get(package_precision)
    if spec is None:
        hint = _make_hint(package_precision, root)
        combo.skipped = f"no {package_precision} package in {root}; make one with: {hint}"
        return combo
    if backend == "tensorrt" and not device.startswith("cuda"):
        combo.skipped = "TensorRT runs on a GPU: pass --device cuda:0 on a machine with one"
        return combo
    if backend == "tensorrt" and spec.engine_path is None:
        combo.skipped = f"{spec.folder} has no model.engine; build it where TensorRT is, with swinpose-export --engine"
        return combo
    if backend_options:
        options["backend_options"] = backend_options
    try:
        combo.engine = PoseEngine(spec.folder, backend=backend, **options)
    except (MissingDependencyError, BackendError, SaturatingInt8Error) as e:
        combo.skipped = str(e)
        return combo
    if backend in ("onnxruntime", "openvino") and device == "cpu":  # CPU thread pools: one open at a time
        combo.reopen = lambda: PoseEngine(spec.folder, backend=backend, **options)
    return combo
