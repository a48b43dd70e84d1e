"""The host's side: hand jobs to one emulated process (:mod:`benchmarks.emulation.worker`) and read its results.

Shape legend: N crops, K keypoints, H×W network input, h×w heatmaps.
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from benchmarks.emulation.cpus import EmulatedCpu, emulated_cpu
from benchmarks.emulation.qemu import REPO, cpu_root, emulated_command, python_env, run_emulated

if TYPE_CHECKING:
    from benchmarks.emulation.arm64 import Arm64Sysroot

__all__ = ["GraphJob", "PoseJob", "OpenJob", "run_jobs", "emulated_outputs"]


@dataclass(frozen=True)
class GraphJob:
    """Every output of the ONNX file ``path`` on ``feeds`` (with ``batch``, in runs of that many crops), run by
    ``runtime``: ``"onnxruntime"`` (its CPU provider) or ``"openvino"`` (its CPU plugin, f32)."""

    name: str
    path: Path
    feeds: dict[str, np.ndarray]
    threads: int = 1
    batch: int = 0
    runtime: str = "onnxruntime"


@dataclass(frozen=True)
class PoseJob:
    """PoseEngine on the ``package`` over ``images`` (files) with their ``boxes`` (per image N×4 xyxy); with
    ``inputs`` (N×3×H×W), also the heatmaps of those crops. Results: ``NAME:keypoints`` N×K×2, ``NAME:scores`` N×K,
    ``NAME:inputs`` N×3×H×W (its own crops), ``NAME:heatmaps`` N×K×h×w and ``NAME:given_heatmaps``."""

    name: str
    package: Path
    images: Sequence[Path]
    boxes: Sequence[np.ndarray]
    inputs: np.ndarray | None = None
    threads: int = 1


@dataclass(frozen=True)
class OpenJob:
    """Open ``backend`` (a :data:`runtime.backends.BACKENDS` name) on the file ``path`` with ``options``; results:
    ``NAME:error`` (empty when it opened, else the error's type and message) and ``NAME:inputs``."""

    name: str
    backend: str
    path: Path
    options: dict = field(default_factory=dict)


def run_jobs(
    cpu: EmulatedCpu | str,
    graphs: Sequence[GraphJob] = (),
    poses: Sequence[PoseJob] = (),
    sysroot: Arm64Sysroot | None = None,
    timeout: float = 1800,
    opens: Sequence[OpenJob] = (),
) -> dict[str, np.ndarray]:
    """Run ``graphs``, ``poses`` and ``opens`` in one process on the emulated ``cpu`` (an arm64 one needs
    ``sysroot``, an :class:`~benchmarks.emulation.arm64.Arm64Sysroot`; None finds the prepared one) and return its
    results (see :mod:`benchmarks.emulation.worker`); a failed run is a :class:`~runtime.errors.BackendError`."""
    cpu = emulated_cpu(cpu) if isinstance(cpu, str) else cpu
    with tempfile.TemporaryDirectory(prefix="swinpose-emulated-") as tmp:
        tmp = Path(tmp)
        job: dict = {"graphs": [], "poses": [], "opens": [asdict(o) | {"path": str(o.path)} for o in opens]}
        for i, g in enumerate(graphs):
            np.savez(tmp / f"feeds{i}.npz", **g.feeds)
            job["graphs"].append(
                {
                    "name": g.name,
                    "path": str(g.path),
                    "feeds": str(tmp / f"feeds{i}.npz"),
                    "threads": g.threads,
                    "batch": g.batch,
                    "runtime": g.runtime,
                }
            )
        for i, p in enumerate(poses):
            inputs = None
            if p.inputs is not None:
                inputs = str(tmp / f"inputs{i}.npz")
                np.savez(inputs, inputs=np.ascontiguousarray(p.inputs, np.float32))
            job["poses"].append(
                {
                    "name": p.name,
                    "package": str(p.package),
                    "images": [str(f) for f in p.images],
                    "boxes": [np.asarray(b, np.float64).tolist() for b in p.boxes],
                    "inputs": inputs,
                    "threads": p.threads,
                }
            )
        (tmp / "job.json").write_text(json.dumps(job))
        if cpu.arch == "aarch64":
            if sysroot is None:
                from benchmarks.emulation.arm64 import Arm64Sysroot

                sysroot = Arm64Sysroot.find()
            root = cpu_root(cpu, tmp / "root", sysroot.root)
            python, path = sysroot.python, sysroot.python_path()
        else:
            root, python, path = cpu_root(cpu, tmp / "root"), sys.executable, [REPO]
        args = ["-m", "benchmarks.emulation.worker", str(tmp / "job.json"), str(tmp / "results.npz")]
        run_emulated(emulated_command(cpu, root, python, args), python_env(path), timeout, f"the job on {cpu.name}")
        with np.load(tmp / "results.npz") as out:
            return {k: out[k] for k in out.files}


def emulated_outputs(
    graph: str | Path,
    inputs: np.ndarray,
    cpu: EmulatedCpu | str = "haswell",
    threads: int = 2,
    batch: int = 32,
    timeout: float = 3600,
) -> np.ndarray:
    """The first output of a one-input ``graph`` on N×… float32 ``inputs``, run on the emulated ``cpu``."""
    import onnx

    model = onnx.load(str(graph), load_external_data=False)
    name, first = model.graph.input[0].name, model.graph.output[0].name
    feeds = {name: np.ascontiguousarray(inputs, np.float32)}
    return run_jobs(cpu, [GraphJob("g", Path(graph), feeds, threads, batch)], timeout=timeout)[f"g:{first}"]
