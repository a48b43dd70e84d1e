"""One emulated process per CPU model, shared by the tests that check other CPUs (test_int8_cpu.py, test_arm64.py):
:class:`benchmarks.cpu_matrix.CpuMatrix` on the session's bundled packages, with each model's start-up (about 4 s
under emulation) paid once.

The emulators come from the README's test command (qemu-user, and ``python -m benchmarks.emulation.arm64 prepare``
for arm64). Where one is missing the tests skip and say so, except on CI (``CI=true``), where that would hide a broken
setup and they fail. A model whose process dies of an illegal instruction (the installed wheels need more than that
CPU has) skips, saying so.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from benchmarks.cpu_matrix import CpuMatrix
from benchmarks.emulation import CPUS
from benchmarks.emulation.qemu import EmulatorUnavailable, IllegalInstruction, qemu_binary


def unavailable(reason: str) -> None:
    """Skip, or fail on CI, where an emulator cannot run."""
    if os.environ.get("CI"):
        pytest.fail(f"CI must run the emulated CPUs but {reason}; see the README's test command")
    pytest.skip(reason)


class EmulatedRuns(CpuMatrix):
    """:class:`CpuMatrix` whose :meth:`results` skip (or fail on CI) where the emulator cannot run."""

    def __init__(self, packages: dict[str, Path], folder: Path) -> None:
        super().__init__({p: packages[p] for p in ("fp32", "int8")}, folder)

    def results(self, cpu: str) -> dict[str, np.ndarray]:
        if cpu != "here" and cpu not in self._results:
            model = CPUS[cpu]
            try:
                qemu_binary(model)
                if model.arch == "aarch64":
                    from benchmarks.emulation.arm64 import Arm64Sysroot

                    Arm64Sysroot.find()
            except EmulatorUnavailable as e:
                unavailable(str(e))
            try:
                return super().results(cpu)
            except IllegalInstruction as e:
                pytest.skip(f"{cpu} cannot run this host's wheels: {e}")
        return super().results(cpu)
