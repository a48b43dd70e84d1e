"""Wall-clock timing of an inference callable: warm-up, then the median of repeated runs."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from export.onnx_export import INPUT_NAME

__all__ = ["latency_ms"]


def latency_ms(session: Any, shape: tuple[int, ...], runs: int = 50, warmup: int = 5) -> float:
    """Median wall time in ms of ``session.run`` (an ONNX Runtime session) on one random float32 batch of ``shape``."""
    x = np.random.default_rng(0).standard_normal(shape, dtype=np.float32)
    for _ in range(warmup):
        session.run(None, {INPUT_NAME: x})
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        session.run(None, {INPUT_NAME: x})
        times.append(time.perf_counter() - t)
    return 1e3 * float(np.median(times))
