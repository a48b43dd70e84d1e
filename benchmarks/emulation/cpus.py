"""The CPUs the suite emulates, and the ``/proc/cpuinfo`` each one shows its process.

QEMU's user-mode emulator gives a process the CPUID (x86) or HWCAP (arm64) of the model it emulates, but serves it the
*host's* ``/proc/cpuinfo``. Readers of that file then see the wrong CPU: :mod:`runtime.int8_cpu` took AVX-VNNI from a
host that had it, and ONNX Runtime's cpuinfo library on arm64 crashes on an x86 file (or, given a Cortex-A76's part
number, assumes dot products a Cortex-A57 lacks). Each model here therefore carries the file its process must see
(:meth:`EmulatedCpu.cpuinfo`), in the kernel's own format, which :mod:`benchmarks.emulation.qemu` serves through
``qemu -L``. Its feature list is the model's as QEMU 7.2 (Debian 12) presents it;
``tests/test_int8_cpu.py`` checks it against the features numpy probes from CPUID/HWCAP inside the emulated process.

What QEMU 7.2's TCG cannot emulate, no model here claims: AVX-512 (any of it) and AVX-VNNI. Those kernel families are
checked on real hosts that have them (see ``tests/test_int8_cpu.py``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from runtime.errors import ConfigError

__all__ = ["EmulatedCpu", "CPUS", "emulated_cpu"]

_X86_BASE = (
    "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 syscall nx lm"
)


@dataclass(frozen=True)
class EmulatedCpu:
    """One CPU model: ``qemu_cpu`` is the ``-cpu`` argument, ``kernel`` the :data:`runtime.int8_cpu.KERNELS` family
    ONNX Runtime's int8 kernels take on it, ``flags`` its features by Linux's names (the ``flags`` line on x86,
    ``Features`` on arm64), ``identity`` the other lines of one processor's entry."""

    name: str
    arch: str
    qemu_cpu: str
    description: str
    kernel: str
    flags: tuple[str, ...]
    identity: tuple[tuple[str, str], ...]

    @property
    def qemu(self) -> str:
        """The emulator's program name (Debian's qemu-user)."""
        return f"qemu-{self.arch}"

    def cpuinfo(self, processors: int | None = None) -> str:
        """``/proc/cpuinfo`` as Linux writes it for this CPU, with ``processors`` entries (default: the host's count,
        which is what ``/sys/devices/system/cpu`` still says under the emulator)."""
        entries = []
        for i in range(processors or os.cpu_count() or 1):
            features = " ".join(self.flags)
            if self.arch == "aarch64":  # arm64 lists Features after BogoMIPS, x86 its flags last
                lines = [("processor", str(i)), *self.identity[:1], ("Features", features), *self.identity[1:]]
            else:
                lines = [("processor", str(i)), *self.identity, ("flags", features)]
            entries.append("".join(f"{key}\t: {value}\n" for key, value in lines))
        return "\n".join(entries) + "\n"


def _x86(
    name: str,
    qemu_cpu: str,
    description: str,
    kernel: str,
    extra: str,
    model: int,
    model_name: str,
) -> EmulatedCpu:
    identity = (("vendor_id", "GenuineIntel"), ("cpu family", "6"), ("model", str(model)), ("model name", model_name))
    return EmulatedCpu(name, "x86_64", qemu_cpu, description, kernel, tuple(f"{_X86_BASE} {extra}".split()), identity)


def _arm64(
    name: str,
    qemu_cpu: str,
    description: str,
    kernel: str,
    features: str,
    part: str,
    variant: str,
) -> EmulatedCpu:
    identity = (
        ("BogoMIPS", "50.00"),
        ("CPU implementer", "0x41"),
        ("CPU architecture", "8"),
        ("CPU variant", variant),
        ("CPU part", part),
        ("CPU revision", "1"),
    )
    return EmulatedCpu(name, "aarch64", qemu_cpu, description, kernel, tuple(features.split()), identity)


#: every emulated model, by name
CPUS = {
    cpu.name: cpu
    for cpu in (
        # AVX2 and FMA, no AVX-512, no VNNI; without the TSX and system features TCG cannot give (each would warn)
        _x86(
            "haswell",
            "Haswell-noTSX,-pcid,-x2apic,-tsc-deadline,-invpcid",
            "x86-64 with AVX2, no AVX-512 or VNNI (Haswell; Zen 2/3 have the same int8 kernels)",
            "x86-avx2",
            "rdtscp pni pclmulqdq ssse3 fma cx16 sse4_1 sse4_2 movbe popcnt aes xsave avx f16c rdrand lahf_lm abm "
            "fsgsbase bmi1 avx2 smep bmi2 erms",
            60,
            "Intel Core Processor (Haswell, no TSX)",
        ),
        # SSE4.2 without AVX: ONNX Runtime's portable int8 kernels, which widen to 16 bits before multiplying
        _x86(
            "nehalem",
            "Nehalem",
            "x86-64 without AVX (Nehalem): SSE4.2 only",
            "other",
            "pni ssse3 cx16 sse4_1 sse4_2 popcnt lahf_lm",
            26,
            "Intel Core i7 9xx (Nehalem Class Core i7)",
        ),
        # ARMv8.0, no dot product: Jetson Nano and TX2
        _arm64(
            "cortex-a57",
            "cortex-a57",
            "arm64 Cortex-A57, ARMv8.0 without dot products (Jetson Nano, TX2)",
            "arm64-neon",
            "fp asimd evtstrm aes pmull sha1 sha2 crc32 cpuid",
            "0xd07",
            "0x1",
        ),
        # ARMv8.2 with dot products: the nearest QEMU 7.2 model to Jetson Orin's Cortex-A78AE
        _arm64(
            "neoverse-n1",
            "neoverse-n1",
            "arm64 Neoverse-N1, ARMv8.2 with dot products (as Jetson Orin)",
            "arm64-dot",
            "fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp ssbs",
            "0xd0c",
            "0x3",
        ),
    )
}


def emulated_cpu(name: str) -> EmulatedCpu:
    """The model called ``name`` (:class:`ConfigError` naming the ones there are otherwise)."""
    if name not in CPUS:
        raise ConfigError(f"no emulated CPU {name!r}; pick one of {sorted(CPUS)}")
    return CPUS[name]
