"""How ONNX Runtime's CPU kernels accumulate int8 products on this CPU, and whether an int8 graph can saturate there.

ONNX Runtime (MLAS) picks its integer GEMM and convolution kernels by CPU family. On x86 it first turns int8
activations into uint8 (zero point + 128), so every quantized MatMul/Conv is uint8 activations × int8 weights:

=============  ==============================================  ===========================================
kernel family  how the products are summed                     can it saturate?
=============  ==============================================  ===========================================
x86-vnni       ``VPDPBUSD``: four u8×s8 products into int32     no
x86-avx2       ``VPMADDUBSW``: *two* u8×s8 products into int16  yes, when |a₁w₁ + a₂w₂| > 32767
               with saturation, then int32 (also AVX-512
               without VNNI, whose kernel uses the same
               instruction)
arm64-dot      ``SDOT``/``UDOT`` (and I8MM): four products     no
               into int32
arm64-neon     ``SMULL`` + ``SMLAL``: two s8×s8 products in     yes, when |a₁w₁ + a₂w₂| > 32767 (it wraps)
               int16, then ``SADALP`` into int32
=============  ==============================================  ===========================================

With ``a`` the raw 8-bit activation (0..255 on x86, -128..127 on arm64) and ``w`` the int8 weight, a pair can
exceed int16 only if ``max|a| × (|w₁| + |w₂|) > 32767``. An int8 graph is therefore safe on a kernel family for any
input when its largest *weight pair* (the two largest |w| of any output channel, summed; ``model.json`` records
it as ``calibration.max_weight_pair``) satisfies ``pair_activation_max × max_weight_pair ≤ 32767``: 7-bit weights
(|w| ≤ 64, pair ≤ 128) are safe everywhere, full 8-bit weights (pair up to 254) only on exact kernels and arm64-neon.
``export/README.md`` shows the saturation on one MatMul against an exact integer reference.

CPU features come from numpy's own CPUID/HWCAP probe, which also sees what an emulator (``qemu-x86_64 -cpu
Haswell``) presents, and from ``/proc/cpuinfo`` for AVX-VNNI, which numpy does not list.
"""

from __future__ import annotations

import platform
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["INT16_MAX", "Int8Kernel", "KERNELS", "cpu_features", "int8_kernel", "int8_speed_note"]

INT16_MAX = 32767


@dataclass(frozen=True)
class Int8Kernel:
    """One family of ONNX Runtime CPU int8 kernels.

    ``pair_activation_max``: the largest |raw activation| multiplied before two products are added in int16, or
    None where products go straight into int32 (exact for any graph). ``int8_speedup``: whether int8 measured
    faster than fp32 on such CPUs (BENCHMARKS.md); None where nobody has measured it.
    """

    name: str
    description: str
    pair_activation_max: int | None
    int8_speedup: bool | None

    def saturates(self, max_weight_pair: int) -> bool:
        """Whether a graph whose largest weight pair is ``max_weight_pair`` can leave int16 on this kernel."""
        return self.pair_activation_max is not None and self.pair_activation_max * max_weight_pair > INT16_MAX


KERNELS = {
    "x86-vnni": Int8Kernel("x86-vnni", "x86 with AVX-512 VNNI or AVX-VNNI: u8×s8 dot products into int32", None, True),
    "x86-avx2": Int8Kernel(
        "x86-avx2", "x86 with AVX2 and no VNNI: u8×s8 pairs added in int16 with saturation (VPMADDUBSW)", 255, False
    ),
    "arm64-dot": Int8Kernel(
        "arm64-dot", "arm64 with dot-product instructions: s8/u8 dot products into int32", None, None
    ),
    "arm64-neon": Int8Kernel(
        "arm64-neon", "arm64 without dot products: s8×s8 pairs added in int16 (SMULL+SMLAL)", 128, None
    ),
    "other": Int8Kernel("other", "a CPU without AVX2 or arm64 SIMD: ONNX Runtime's portable int32 kernels", None, None),
}


def cpu_features() -> set[str]:
    """Upper-case CPU feature names: numpy's CPUID/HWCAP probe (``AVX2``, ``AVX512VNNI``, ``ASIMDDP``, ...), plus
    ``AVX_VNNI`` from ``/proc/cpuinfo``."""
    try:
        from numpy._core._multiarray_umath import __cpu_features__ as probed
    except ImportError:  # numpy < 2
        from numpy.core._multiarray_umath import __cpu_features__ as probed
    found = {name for name, present in probed.items() if present}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags") and "avx_vnni" in line.split(":", 1)[1].split():
                found.add("AVX_VNNI")
                break
    except OSError:
        pass
    return found


def int8_kernel(features: Iterable[str] | None = None, machine: str | None = None) -> Int8Kernel:
    """The int8 kernel family ONNX Runtime uses on this CPU (or on one with ``features`` and ``machine``)."""
    features = cpu_features() if features is None else set(features)
    machine = (machine or platform.machine()).lower()
    if machine in ("x86_64", "amd64", "i386", "i686", "x86"):
        if "AVX2" not in features:
            return KERNELS["other"]
        vnni = "AVX512VNNI" in features and "AVX512BW" in features
        return KERNELS["x86-vnni" if vnni or "AVX_VNNI" in features else "x86-avx2"]
    if machine in ("aarch64", "arm64"):
        return KERNELS["arm64-dot" if "ASIMDDP" in features else "arm64-neon"]
    return KERNELS["other"]


def int8_speed_note(kernel: Int8Kernel | None = None) -> str | None:
    """One line for the CLIs when ONNX Runtime's int8 measured no faster than fp32 on this CPU family, else None."""
    kernel = kernel or int8_kernel()
    if kernel.int8_speedup is not False:
        return None
    return (
        f"this CPU has {kernel.description}: ONNX Runtime's int8 measured no faster than fp32 on such CPUs "
        "(Swin-T 256x192, batch 1: 206 against 207 ms; BENCHMARKS.md), so prefer fp32 here; the int8 package is "
        "exact here and pays off on TensorRT and VNNI CPUs"
    )
