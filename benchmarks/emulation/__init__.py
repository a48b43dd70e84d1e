"""Other CPUs on this one: ONNX Runtime's and OpenVINO's kernels and swinpose's runtime under QEMU's user-mode emulator.

* :mod:`~benchmarks.emulation.cpus`: the emulated models (AVX2 Haswell, SSE-only Nehalem, the Jetson Nano's
  Cortex-A57, Neoverse-N1 as Jetson Orin) and the ``/proc/cpuinfo`` each one's process is served;
* :mod:`~benchmarks.emulation.qemu`: the emulator's command line and its ``-L`` root;
* :mod:`~benchmarks.emulation.arm64`: the arm64 Debian sysroot with aarch64 wheels (``prepare``);
* :mod:`~benchmarks.emulation.session` (host) and :mod:`~benchmarks.emulation.worker` (emulated): graphs and
  PoseEngine runs in one emulated process per CPU model.

Emulation is exact for the instructions and says nothing about speed: results, never timings.
"""

from benchmarks.emulation.cpus import CPUS, EmulatedCpu, emulated_cpu
from benchmarks.emulation.session import GraphJob, OpenJob, PoseJob, emulated_outputs, run_jobs

__all__ = ["CPUS", "EmulatedCpu", "emulated_cpu", "GraphJob", "PoseJob", "OpenJob", "run_jobs", "emulated_outputs"]
