"""Run ONNX Runtime as another CPU family would: this Python under ``qemu-x86_64 -cpu MODEL`` (Debian: qemu-user).

QEMU's user-mode emulator runs the same interpreter and wheels with the CPUID of the named model, so ONNX Runtime
picks that CPU's kernels. ``Haswell`` has AVX2 and FMA but no AVX-512 and no VNNI: the int8 kernels that add
u8×s8 pairs in int16 (:mod:`runtime.int8_cpu`), which a VNNI machine never runs. Results are exact emulations of
those instructions; the timings mean nothing.

As a command, it runs one graph on saved inputs (inside the emulator)::

    qemu-x86_64 -cpu Haswell python -m benchmarks.emulation graph.onnx feeds.npz outputs.npz THREADS BATCH
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from runtime.errors import BackendError

__all__ = ["EMULATED_CPU", "EXACT_INT8_CPU", "qemu_binary", "emulated_command", "emulated_run", "emulated_outputs"]

#: the CPU model QEMU presents: AVX2 and FMA without AVX-512 or VNNI, and without the TSX/system features that
#: user-mode TCG cannot give (each would print a warning)
EMULATED_CPU = "Haswell-noTSX,-pcid,-x2apic,-tsc-deadline,-invpcid"
#: a CPU without AVX2 (SSE4.2): ONNX Runtime's portable int8 kernels, which widen before multiplying and sum
#: exactly in int32 whatever the weights; the exact reference to compare the AVX2 kernels with, on any x86 host
EXACT_INT8_CPU = "Nehalem"


def qemu_binary() -> str:
    """The path of ``qemu-x86_64`` (raises with the install command when it is missing or the host is not x86)."""
    path = shutil.which("qemu-x86_64")
    if path is None or platform.machine() not in ("x86_64", "AMD64"):
        raise BackendError(
            "running ONNX Runtime's AVX2 kernels on this CPU needs qemu-x86_64 on an x86-64 host: "
            "apt-get install qemu-user"
        )
    return path


def emulated_command(args: list[str], cpu: str = EMULATED_CPU) -> list[str]:
    """``args`` (a Python command line without the interpreter) run by this interpreter under the emulator."""
    return [qemu_binary(), "-cpu", cpu, sys.executable, *args]


def emulated_run(graph: str | Path, feeds: dict[str, np.ndarray], cpu: str = EMULATED_CPU, threads: int = 2,
                 batch: int | None = None, timeout: float = 3600) -> dict[str, np.ndarray]:  # fmt: skip
    """Every output of ``graph`` (an ONNX file) on ``feeds``, run by ONNX Runtime on the emulated ``cpu``; with
    ``batch``, in runs of that many along the first axis of every input."""
    with tempfile.TemporaryDirectory(prefix="swinpose-emulated-") as tmp:
        src, dst = Path(tmp) / "feeds.npz", Path(tmp) / "outputs.npz"
        np.savez(src, **feeds)
        args = ["-m", "benchmarks.emulation", str(graph), str(src), str(dst), str(threads), str(batch or 0)]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(__file__).resolve().parents[1]),
                                                           os.environ.get("PYTHONPATH", "")]))  # fmt: skip
        done = subprocess.run(emulated_command(args, cpu), capture_output=True, text=True, timeout=timeout, env=env)
        if done.returncode or not dst.is_file():
            raise BackendError(f"the emulated ONNX Runtime run failed ({done.returncode}): {done.stderr[-800:]}")
        with np.load(dst) as out:
            return {k: out[k] for k in out.files}


def emulated_outputs(graph: str | Path, inputs: np.ndarray, cpu: str = EMULATED_CPU, threads: int = 2,
                     batch: int = 32, timeout: float = 3600) -> np.ndarray:  # fmt: skip
    """The first output of a one-input ``graph`` on N×… float32 ``inputs``, run on the emulated ``cpu``."""
    import onnx

    model = onnx.load(str(graph), load_external_data=False)
    name, first = model.graph.input[0].name, model.graph.output[0].name
    feeds = {name: np.ascontiguousarray(inputs, np.float32)}
    return emulated_run(graph, feeds, cpu, threads, batch, timeout)[first]


def _run(graph: str, src: str, dst: str, threads: int, batch: int) -> None:
    # a bare session, not runtime.backends.onnxruntime.ort_session: this runs under the emulator, where importing
    # the runtime package (OpenCV) would cost more than the run
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 3
    session = ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    with np.load(src) as f:
        feeds = {k: f[k] for k in f.files}
    if not batch:
        runs = [session.run(names, feeds)]
    else:
        n = len(next(iter(feeds.values())))
        runs = [session.run(names, {k: v[i : i + batch] for k, v in feeds.items()}) for i in range(0, n, batch)]
    np.savez(dst, **{name: np.concatenate([r[j] for r in runs]) for j, name in enumerate(names)})


if __name__ == "__main__":
    _run(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
