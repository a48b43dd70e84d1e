"""Run a Python module on an emulated CPU: ``qemu-x86_64`` or ``qemu-aarch64`` (Debian's qemu-user), no binfmt.

* x86 models run *this* interpreter and its wheels under ``qemu-x86_64 -cpu MODEL``: ONNX Runtime and numpy read the
  model's CPUID and take its kernels.
* arm64 models run Debian's arm64 Python with aarch64 wheels from a sysroot (:mod:`benchmarks.emulation.arm64`),
  by its sysroot path, so that no x86 package leaks into ``sys.path``.

Either way the process sees its CPU's own ``/proc/cpuinfo``: the emulator runs with ``-L ROOT``, which serves an
absolute path from ``ROOT`` where the file exists there, and ``ROOT/proc/cpuinfo`` is the model's
(:meth:`~benchmarks.emulation.cpus.EmulatedCpu.cpuinfo`). For arm64, ``ROOT`` also links every other top-level
folder of the sysroot, so the dynamic loader and libraries come from it. Timings under emulation mean nothing.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from benchmarks.emulation.cpus import EmulatedCpu
from runtime.errors import BackendError

__all__ = [
    "REPO",
    "EmulatorUnavailable",
    "IllegalInstruction",
    "qemu_binary",
    "cpu_root",
    "emulated_command",
    "python_env",
    "run_emulated",
]

#: the checkout whose packages the emulated process imports
REPO = Path(__file__).resolve().parents[2]
#: environment variables that would point the emulated Python at the host's packages
_HOST_PYTHON_VARS = ("PYTHONHOME", "PYTHONPATH", "PYTHONSTARTUP", "VIRTUAL_ENV", "PYTHONEXECUTABLE")


class EmulatorUnavailable(BackendError):
    """The emulator, or what it runs (the arm64 sysroot), is not there; the message has the command that installs
    it."""


class IllegalInstruction(BackendError):
    """The emulated process died of SIGILL: the installed wheels use an instruction the emulated CPU lacks (numpy
    builds for x86-64-v2 and later, for example, drop the oldest models)."""


def qemu_binary(cpu: EmulatedCpu) -> str:
    """The path of the emulator for ``cpu`` (raises :class:`EmulatorUnavailable` with the install command when it is
    missing, or when this host is not x86-64, the only one the suite emulates from)."""
    path = shutil.which(cpu.qemu)
    if path is None or platform.machine() not in ("x86_64", "AMD64"):
        raise EmulatorUnavailable(
            f"emulating {cpu.description} needs {cpu.qemu} on an x86-64 host: apt-get install qemu-user"
        )
    return path


def cpu_root(cpu: EmulatedCpu, folder: str | Path, sysroot: str | Path | None = None) -> Path:
    """``folder`` made the ``-L`` root of ``cpu``: ``proc/cpuinfo`` written for it and, with ``sysroot``, a link to
    each of the sysroot's top-level folders. Returns ``folder``; calling it again refreshes it."""
    folder = Path(folder)
    (folder / "proc").mkdir(parents=True, exist_ok=True)
    tmp = folder / "proc" / ".cpuinfo.tmp"
    tmp.write_text(cpu.cpuinfo())
    tmp.replace(folder / "proc" / "cpuinfo")
    if sysroot is not None:
        for entry in Path(sysroot).resolve().iterdir():
            link = folder / entry.name
            if entry.name == "proc" or (link.is_symlink() and link.resolve() == entry):
                continue
            if link.is_symlink():
                link.unlink()
            link.symlink_to(entry, target_is_directory=entry.is_dir())
    return folder


def emulated_command(cpu: EmulatedCpu, root: Path, python: str | Path, args: Sequence[str]) -> list[str]:
    """The command line that runs ``python args…`` on ``cpu`` with ``root`` (from :func:`cpu_root`) as ``-L``."""
    return [qemu_binary(cpu), "-cpu", cpu.qemu_cpu, "-L", str(root), str(python), *args]


def python_env(python_path: Sequence[str | Path]) -> dict[str, str]:
    """This environment for an emulated Python that imports from ``python_path`` (first) and nothing of the host's."""
    env = {k: v for k, v in os.environ.items() if k not in _HOST_PYTHON_VARS}
    env["PYTHONPATH"] = os.pathsep.join(str(p) for p in python_path)
    env["PYTHONNOUSERSITE"] = "1"
    return env


def run_emulated(command: list[str], env: dict[str, str], timeout: float, what: str) -> subprocess.CompletedProcess:
    """Run an emulated ``command``; a failure or a timeout is a :class:`BackendError` naming ``what`` and the tail of
    its stderr."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired as e:
        raise BackendError(f"{what} ran past {timeout:.0f} s under emulation: {' '.join(command[:6])} …") from e
    if done.returncode in (-4, 128 + 4) or "(Illegal instruction)" in done.stderr:
        raise IllegalInstruction(f"{what} died of an illegal instruction: {done.stderr[-300:].strip()}")
    if done.returncode:
        raise BackendError(f"{what} failed under emulation (exit {done.returncode}): {done.stderr[-1500:]}")
    return done
