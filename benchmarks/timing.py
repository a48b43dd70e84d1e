"""Wall-clock timing: warm-up, then repeated runs summarised as median / p90 / p99.

Every callable timed here returns only once its work is done: backends hand back host arrays, which waits for the
device, so no separate synchronisation is needed around them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

__all__ = ["Stats", "measure", "latency_ms"]


@dataclass(frozen=True)
class Stats:
    """Milliseconds per call over ``runs`` timed calls."""

    median: float
    p90: float
    p99: float
    mean: float
    runs: int

    def to_dict(self) -> dict[str, float]:
        return {"median_ms": self.median, "p90_ms": self.p90, "p99_ms": self.p99, "mean_ms": self.mean,
                "runs": self.runs}  # fmt: skip


def measure(fn: Callable[[], Any], iters: int = 30, warmup: int = 5) -> Stats:
    """Call ``fn`` ``warmup`` times untimed, then ``iters`` times timed."""
    for _ in range(warmup):
        fn()
    times = np.empty(max(1, iters))
    for i in range(len(times)):
        start = time.perf_counter()
        fn()
        times[i] = time.perf_counter() - start
    ms = 1e3 * times
    return Stats(*(float(np.percentile(ms, q)) for q in (50, 90, 99)), float(ms.mean()), len(ms))


def latency_ms(session: Any, shape: tuple[int, ...], runs: int = 50, warmup: int = 5) -> float:
    """Median wall time in ms of ``session.run`` (an ONNX Runtime session) on one random float32 batch of ``shape``."""
    x = np.random.default_rng(0).standard_normal(shape, dtype=np.float32)
    name = session.get_inputs()[0].name
    return measure(lambda: session.run(None, {name: x}), runs, warmup).median
