"""How the CPU runtimes' int8 kernels add up int8 products on this CPU, and whether an int8 graph can overflow there.

ONNX Runtime's MLAS picks its integer GEMM and convolution kernels by CPU family (``MlasPlatform``'s constructor in
``onnxruntime/core/mlas/lib/platform.cpp``). Every kernel multiplies the raw 8-bit bytes and corrects for the zero
points afterwards through row and column sums, so what a kernel sums depends only on those bytes:

=============  ==============================================  ===========================================
kernel family  how the products are summed                     can a pair leave int16?
=============  ==============================================  ===========================================
x86-vnni       ``VPDPBUSD`` (AVX-512 VNNI or AVX-VNNI; AMX):   no
               four u8×s8 products into int32
x86-avx2       ``VPMADDUBSW``: *two* u8×s8 products into       yes, it **saturates**, when
               int16 with saturation, then int32 (also         ``|u₁w₁ + u₂w₂| > 32767``
               AVX-512 without VNNI: same instruction)
arm64-dot      ``SDOT``/``UDOT`` (or I8MM ``SMMLA``): four     no
               products into int32
arm64-neon     ``SMULL`` + ``SMLAL``: two s8×s8 products in    yes, it **wraps**, when
               int16, then ``SADALP`` into int32               ``a₁w₁ + a₂w₂ > 32767``
other          x86 without AVX2+FMA: both operands widened     no
               to int16, pairs into int32 (``PMADDWD``).
               Other architectures: not measured, taken as
               exact
=============  ==============================================  ===========================================

The raw activation bytes cover the whole 8-bit range whatever the activation's zero point: x86 multiplies uint8
(an int8 activation plus 128, so 0…255), arm64 NEON int8 (a uint8 activation with its top bit flipped, so
-128…127). **The activation zero point may therefore be anything, and the activation dtype int8 or uint8**; the
bounds below hold for every input because every activation reaches a kernel through a ``QuantizeLinear``, which
saturates it to 8 bits. (``benchmarks/int8_saturation.py``'s two *extremes* MatMuls show it on every family: int8
activations with zero point 0, and uint8 ones with zero point 77, overflow on the same stored bytes.)

With ``w`` the int8 weights of one output channel, a pair is at most ``pair_activation_max × (|w₁| + |w₂|)``: 255
on x86, 128 on arm64 NEON. An int8 graph is safe on a family when its largest *weight pair* (the two largest |w|
of any channel, summed; ``model.json`` records it as ``calibration.max_weight_pair``) keeps that within 32767:

* 7-bit weights (|w| ≤ 64, pair ≤ 128): 255 × 128 = 32640, safe on every family;
* 8-bit symmetric weights (|w| ≤ 127, pair ≤ 254): safe everywhere but x86-avx2 (255 × 254 = 64770). On arm64
  NEON 128 × 254 = 32512 fits; **no weight may be -128** there: (-128)·(-128) + (-128)·(-128) = 32768 wraps to
  -32768 (an activation of -128, or uint8 0). The bound sees it: two weights of -128 make a pair of 256, and
  128 × 256 = 32768 > 32767. swinpose's export never writes -128 (its weights are symmetric).

**OpenVINO** (its CPU plugin's oneDNN kernels) multiplies the same bytes the same way on x86, with one difference:
where ONNX Runtime widens to int16 on x86 without AVX2+FMA (``other``), oneDNN still adds u8×s8 pairs in int16 with
saturation (``PMADDUBSW``, SSSE3): the family ``x86-sse``. Its x86 dispatch is otherwise MLAS's (VNNI where AVX-512
VNNI or AVX-VNNI is, saturating pairs without it). ``tests/test_int8_cpu.py`` checks both runtimes' arithmetic on
this host and on emulated Haswell and Nehalem CPUs. OpenVINO on arm64 has not been run here (no emulated arm64
OpenVINO yet); it is taken to have ONNX Runtime's arm64 families, whose bounds hold for any kernel that adds at most
two int8 products in int16.

``export/README.md`` shows each family's arithmetic on one MatMul against exact integer references;
``tests/test_int8_cpu.py`` runs ONNX Runtime on emulated CPUs of each family and checks that the family this module
names is the arithmetic the kernels perform.

CPU features come from numpy's CPUID/HWCAP probe, which also sees what an emulator presents, and from
``/proc/cpuinfo`` for AVX-VNNI, which numpy does not list (an emulated process must be served its own file:
:mod:`benchmarks.emulation`).
"""

from __future__ import annotations

import platform
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from runtime.errors import ConfigError

__all__ = ["INT16_MAX", "Int8Kernel", "KERNELS", "INT8_RUNTIMES", "cpu_features", "int8_kernel", "int8_speed_note"]

INT16_MAX = 32767
#: MLAS's AVX-512 "core" kernels (F, BW, DQ, VL): where present they replace the AVX2 and AVX-VNNI ones
_AVX512_CORE = frozenset({"AVX512F", "AVX512BW", "AVX512DQ", "AVX512VL"})
_RAW_MAX = {"u8": 255, "s8": 128}


@dataclass(frozen=True)
class Int8Kernel:
    """One family of ONNX Runtime CPU int8 kernels.

    ``raw_activations``: the bytes the kernel multiplies before adding two products in int16 (``"u8"``: 0…255 on x86,
    ``"s8"``: -128…127 on arm64 NEON), or None where products go straight into int32 (exact for any graph).
    ``overflow``: what a pair beyond int16 becomes (``"saturate"`` or ``"wrap"``). ``int8_speedup``: whether int8
    measured faster than fp32 on such CPUs (BENCHMARKS.md); None where nobody has measured it.
    """

    name: str
    description: str
    raw_activations: str | None
    overflow: str | None
    int8_speedup: bool | None

    @property
    def pair_activation_max(self) -> int | None:
        """The largest |raw activation| multiplied before two products are added in int16 (None: no such step)."""
        return None if self.raw_activations is None else _RAW_MAX[self.raw_activations]

    def saturates(self, max_weight_pair: int) -> bool:
        """Whether a graph whose largest weight pair is ``max_weight_pair`` can leave int16 on this kernel."""
        limit = self.pair_activation_max
        return limit is not None and limit * max_weight_pair > INT16_MAX


KERNELS = {
    "x86-vnni": Int8Kernel(
        "x86-vnni", "x86 with AVX-512 VNNI or AVX-VNNI: u8×s8 dot products into int32", None, None, True
    ),
    "x86-avx2": Int8Kernel(
        "x86-avx2",
        "x86 with AVX2 and no VNNI: u8×s8 pairs added in int16 with saturation (VPMADDUBSW)",
        "u8",
        "saturate",
        False,
    ),
    "arm64-dot": Int8Kernel(
        "arm64-dot", "arm64 with dot-product instructions: s8/u8 dot products into int32", None, None, None
    ),
    "arm64-neon": Int8Kernel(
        "arm64-neon",
        "arm64 without dot products (or any arm64, under OpenVINO): s8×s8 pairs added in int16, wrapping",
        "s8",
        "wrap",
        None,
    ),
    "x86-sse": Int8Kernel(
        "x86-sse",
        "x86 without AVX2+FMA under OpenVINO: u8×s8 pairs added in int16 with saturation (PMADDUBSW)",
        "u8",
        "saturate",
        None,
    ),
    "other": Int8Kernel(
        "other",
        "x86 without AVX2+FMA (or another architecture): operands widened to int16, pairs summed in int32",
        None,
        None,
        None,
    ),
}


#: features numpy's probe does not list, read from ``/proc/cpuinfo``'s flags: Linux's name → ours
_CPUINFO_ONLY = {"avx_vnni": "AVX_VNNI", "amx_bf16": "AMX_BF16"}


def cpu_features() -> set[str]:
    """Upper-case CPU feature names: numpy's CPUID/HWCAP probe (``AVX2``, ``AVX512VNNI``, ``AVX512BF16``,
    ``ASIMDDP``, ...), plus ``AVX_VNNI`` and ``AMX_BF16`` from ``/proc/cpuinfo``."""
    try:
        from numpy._core._multiarray_umath import __cpu_features__ as probed
    except ImportError:  # numpy < 2
        from numpy.core._multiarray_umath import __cpu_features__ as probed
    found = {name for name, present in probed.items() if present}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = line.split(":", 1)[1].split()
                found |= {name for flag, name in _CPUINFO_ONLY.items() if flag in flags}
                break
    except OSError:
        pass
    return found


#: the runtimes whose CPU int8 kernels :func:`int8_kernel` knows (backend names of :mod:`runtime.backends`)
INT8_RUNTIMES = ("onnxruntime", "openvino")


def int8_kernel(
    features: Iterable[str] | None = None, machine: str | None = None, runtime: str = "onnxruntime"
) -> Int8Kernel:
    """The int8 kernel family ``runtime`` (one of :data:`INT8_RUNTIMES`) uses on this CPU (or on one with
    ``features`` and ``machine``). ONNX Runtime's is decided as MLAS decides it: on x86, AVX2 *and* FMA select the
    AVX2 kernels; AVX-VNNI replaces them; AVX-512 core replaces both, with VNNI only if it has AVX-512 VNNI. On
    arm64, dot products (or I8MM, which implies them). OpenVINO's differs in two places, both measured on emulated
    CPUs (``benchmarks.cpu_matrix``): on x86 without AVX2+FMA it saturates int16 pairs (``x86-sse``) instead of
    widening, and on arm64 it adds int16 pairs that wrap (``arm64-neon``) even where the CPU has dot products
    (``-cpu neoverse-n1``)."""
    if runtime not in INT8_RUNTIMES:
        raise ConfigError(f"no int8 kernel rule for {runtime!r}; known: {INT8_RUNTIMES}")
    features = cpu_features() if features is None else set(features)
    machine = (machine or platform.machine()).lower()
    if machine in ("x86_64", "amd64", "i386", "i686", "x86"):
        if not {"AVX2", "FMA3"} <= features:
            return KERNELS["x86-sse" if runtime == "openvino" else "other"]
        if _AVX512_CORE <= features:
            return KERNELS["x86-vnni" if "AVX512VNNI" in features else "x86-avx2"]
        return KERNELS["x86-vnni" if "AVX_VNNI" in features else "x86-avx2"]
    if machine in ("aarch64", "arm64"):
        return KERNELS["arm64-dot" if "ASIMDDP" in features and runtime == "onnxruntime" else "arm64-neon"]
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
