"""The emulation harness itself (benchmarks.emulation): what each emulated process is served, how a missing emulator or
sysroot is reported, and that a process that dies of an illegal instruction is told apart from a failure, so that the
tests of other CPUs (test_int8_cpu.py, test_arm64.py, tests/emulated.py) skip with the reason instead of passing
unchecked."""

from __future__ import annotations

import json
import sys

import emulated
import pytest
from emulated import EmulatedRuns, unavailable

from benchmarks.cpu_matrix import CpuMatrix
from benchmarks.emulation import CPUS
from benchmarks.emulation.qemu import (
    EmulatorUnavailable,
    IllegalInstruction,
    cpu_root,
    emulated_command,
    python_env,
    qemu_binary,
    run_emulated,
)

#: a function of two x86 instructions, ``vzeroupper; ret``: AVX, which a Nehalem lacks
_AVX_CALL = """
import ctypes, mmap
code = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
code.write(bytes([0xC5, 0xF8, 0x77, 0xC3]))
ctypes.CFUNCTYPE(None)(ctypes.addressof(ctypes.c_char.from_buffer(code)))()
print("ran")
"""


def test_an_instruction_the_emulated_cpu_lacks_is_an_illegal_instruction_not_a_failure(tmp_path):
    """The same AVX instruction runs under the emulated Haswell and kills the emulated Nehalem with SIGILL, which
    run_emulated reports as IllegalInstruction (the tests then skip, saying which CPU cannot run the wheels)."""
    try:
        qemu_binary(CPUS["nehalem"])
    except EmulatorUnavailable as e:
        unavailable(str(e))
    env = python_env([])
    haswell = emulated_command(
        CPUS["haswell"], cpu_root(CPUS["haswell"], tmp_path / "h"), sys.executable, ["-c", _AVX_CALL]
    )
    assert run_emulated(haswell, env, 120, "AVX on Haswell").stdout.strip() == "ran"
    nehalem = emulated_command(
        CPUS["nehalem"], cpu_root(CPUS["nehalem"], tmp_path / "n"), sys.executable, ["-c", _AVX_CALL]
    )
    with pytest.raises(IllegalInstruction, match="AVX on Nehalem died of an illegal instruction"):
        run_emulated(nehalem, env, 120, "AVX on Nehalem")


def test_emulated_runs_skip_with_the_reason_where_a_cpu_cannot_run_the_wheels(tmp_path, monkeypatch):
    def dies(self, cpu):
        raise IllegalInstruction("numpy died of an illegal instruction")

    monkeypatch.setattr(CpuMatrix, "results", dies)
    monkeypatch.setattr(emulated, "qemu_binary", lambda cpu: cpu.qemu)  # as if installed
    monkeypatch.delenv("CI", raising=False)
    runs = EmulatedRuns({"fp32": tmp_path, "int8": tmp_path}, tmp_path)
    with pytest.raises(pytest.skip.Exception, match="nehalem cannot run this host's wheels: numpy died"):
        runs.results("nehalem")
    monkeypatch.setenv("CI", "true")  # a missing emulator fails on CI; a CPU the wheels cannot run still skips
    with pytest.raises(pytest.fail.Exception, match="CI must run the emulated CPUs but qemu-x86_64 is missing"):
        unavailable("qemu-x86_64 is missing")


def test_a_missing_or_stale_sysroot_names_the_command_that_prepares_it(tmp_path):
    """Arm64Sysroot.find refuses a folder that is not prepared, or was prepared for other wheel versions than the
    host's (the two sides must run the same numpy, OpenCV and ONNX Runtime), with the command that fixes it."""
    from benchmarks.emulation.arm64 import FORMAT, Arm64Sysroot, host_wheels
    from benchmarks.emulation.qemu import EmulatorUnavailable

    with pytest.raises(EmulatorUnavailable, match="not prepared.*python -m benchmarks.emulation.arm64 prepare"):
        Arm64Sysroot.find(tmp_path)
    python = Arm64Sysroot(tmp_path).python
    python.parent.mkdir(parents=True)
    python.touch()
    stale = {**host_wheels(), "numpy": "1.0.0"}
    (tmp_path / "manifest.json").write_text(json.dumps({"format": FORMAT, "wheels": stale}))
    with pytest.raises(EmulatorUnavailable, match=r"wheels are not the host's \{'numpy': '[^']+'\}"):
        Arm64Sysroot.find(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({"format": FORMAT, "wheels": host_wheels()}))
    assert Arm64Sysroot.find(tmp_path).folder == tmp_path


def test_the_emulated_root_serves_the_cpus_cpuinfo_and_links_the_sysroot(tmp_path):
    from benchmarks.emulation import CPUS
    from benchmarks.emulation.qemu import cpu_root

    sysroot = tmp_path / "sysroot"
    (sysroot / "usr" / "lib").mkdir(parents=True)
    (sysroot / "proc").mkdir()
    (sysroot / "proc" / "cpuinfo").write_text("the host's")
    root = cpu_root(CPUS["cortex-a57"], tmp_path / "a57", sysroot)
    assert (root / "proc" / "cpuinfo").read_text() == CPUS["cortex-a57"].cpuinfo()
    assert "CPU part\t: 0xd07" in CPUS["cortex-a57"].cpuinfo() and (root / "usr").resolve() == sysroot / "usr"
    cpu_root(CPUS["neoverse-n1"], root, sysroot)  # refreshed in place
    assert "asimddp" in (root / "proc" / "cpuinfo").read_text() and not (root / "proc" / ".cpuinfo.tmp").exists()
