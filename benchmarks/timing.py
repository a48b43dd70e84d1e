"""Wall-clock timing: warm-up, then repeated runs summarised as median / p90 / p99.

Every callable timed here returns only once its work is done: backends hand back host arrays, which waits for the
device, so no separate synchronisation is needed around them.

Shared machines slow down in bursts (on this project's 2-core VMs, a whole 20-run block could come out 40 % slower
than the next). :func:`measure_interleaved` therefore times several callables in rounds, a block of runs of each per
round, so that a slow spell falls on all of them alike and their ratios stay fair. The first call of each block is
not timed: right after a switch, the previous library's worker threads are still spinning on the same cores (ONNX
Runtime's do by default), and that first call took 126 ms where the next ones took 82 ms (Swin-T, fp32).
"""

from __future__ import annotations

import math
import time
from collections.abc import Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

__all__ = ["Stats", "measure", "measure_interleaved", "round_ratio", "time_onnx_apart"]


@dataclass(frozen=True)
class Stats:
    """Milliseconds per call over ``runs`` timed calls; ``rounds`` holds the median of each interleaved round."""

    median: float
    p90: float
    p99: float
    mean: float
    min: float
    runs: int
    rounds: tuple[float, ...] = ()

    @classmethod
    def of(cls, ms: list[float] | np.ndarray, rounds: tuple[float, ...] = ()) -> Stats:
        ms = np.asarray(ms, np.float64)
        p50, p90, p99 = (float(np.percentile(ms, q)) for q in (50, 90, 99))
        return cls(p50, p90, p99, float(ms.mean()), float(ms.min()), len(ms), rounds)

    def to_dict(self) -> dict[str, float]:
        return {"median_ms": self.median, "p90_ms": self.p90, "p99_ms": self.p99, "mean_ms": self.mean,
                "min_ms": self.min, "runs": self.runs}  # fmt: skip


def _timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return 1e3 * (time.perf_counter() - start)


def measure(fn: Callable[[], Any], iters: int = 30, warmup: int = 5) -> Stats:
    """Call ``fn`` ``warmup`` times untimed, then ``iters`` times timed."""
    for _ in range(warmup):
        fn()
    return Stats.of([_timed(fn) for _ in range(max(1, iters))])


def measure_interleaved(
    fns: dict[Hashable, Callable[[], Any]], iters: int = 30, warmup: int = 5, rounds: int = 5, progress: Any = None
) -> dict[Hashable, Stats]:
    """Time every callable ``iters`` times, in ``rounds`` rounds of a block of runs of each (the block's first call
    untimed), after ``warmup`` untimed calls of each. ``progress``: an object with ``update()`` (a tqdm bar),
    advanced once per round and callable."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    rounds = max(1, min(rounds, iters))
    per_round = math.ceil(max(1, iters) / rounds)
    samples: dict[Hashable, list[list[float]]] = {key: [] for key in fns}
    for _ in range(rounds):
        for key, fn in fns.items():
            fn()  # after the switch: the previous callable's threads may still be spinning
            samples[key].append([_timed(fn) for _ in range(per_round)])
            if progress is not None:
                progress.update()
    return {key: Stats.of(np.concatenate(r), tuple(float(np.median(x)) for x in r)) for key, r in samples.items()}


def round_ratio(numerator: Stats, denominator: Stats) -> float:
    """The median over rounds of ``numerator``'s round median over ``denominator``'s: a ratio of two callables
    timed in the same :func:`measure_interleaved` call, taken within each round, where both saw the same machine."""
    if len(numerator.rounds) != len(denominator.rounds) or not numerator.rounds:
        return numerator.median / denominator.median
    return float(np.median(np.divide(numerator.rounds, denominator.rounds)))


class _OneSessionAtATime:
    """ONNX Runtime CPU sessions of several graphs, only one of them open at a time. Two open sessions each keep a
    thread pool, and the idle one's spinning threads slowed the other's small graphs by 2-3x on 2 cores (the bundled
    model's median 3.2 ms alone, 5-9 ms beside another session); closing it ends them."""

    def __init__(self, paths: dict[str, str], x: np.ndarray, threads: int) -> None:
        import onnxruntime as ort

        self.ort, self.paths, self.x = ort, paths, x
        self.options = ort.SessionOptions()
        self.options.log_severity_level = 3
        self.options.intra_op_num_threads = threads
        self.key: str | None = None
        self.session: Any = None

    def runner(self, key: str) -> Callable[[], Any]:
        return lambda: self.run(key)

    def run(self, key: str) -> Any:
        if key != self.key:
            self.session = self.key = None  # the previous session and its threads go first
            self.session = self.ort.InferenceSession(self.paths[key], self.options, providers=["CPUExecutionProvider"])
            self.feed = {self.session.get_inputs()[0].name: self.x}
            self.key = key
            for _ in range(3):  # first runs plan and allocate
                self.session.run(None, self.feed)
        return self.session.run(None, self.feed)


def _time_onnx(paths: dict[str, str], shape: tuple[int, ...], threads: int, iters: int, rounds: int) -> dict:
    x = np.random.default_rng(0).standard_normal(shape, dtype=np.float32)
    sessions = _OneSessionAtATime(paths, x, threads)
    return measure_interleaved({key: sessions.runner(key) for key in paths}, iters, warmup=1, rounds=rounds)


def time_onnx_apart(
    graphs: dict[str, Any], shape: tuple[int, ...], threads: int = 0, iters: int = 30, rounds: int = 5
) -> dict[str, Stats]:
    """ONNX Runtime CPU timings of ONNX graphs (``ModelProto`` or file paths) on one random float32 batch of
    ``shape``, interleaved (:func:`measure_interleaved`), in a freshly spawned process. In a process that has just
    exported or calibrated models (PyTorch, ONNX Runtime's calibrators, many sessions), the same graphs timed up to
    50 % slower than alone, so reports that do that work time their graphs apart from it. Each graph's session is
    opened at the start of its block of runs and closed at the end (:class:`_OneSessionAtATime`)."""
    import multiprocessing
    import tempfile

    import onnx

    with tempfile.TemporaryDirectory(prefix="swinpose-timing-") as tmp:
        paths = {}
        for i, (key, graph) in enumerate(graphs.items()):
            if isinstance(graph, onnx.ModelProto):
                paths[key] = str(Path(tmp) / f"{i}.onnx")
                onnx.save(graph, paths[key])
            else:
                paths[key] = str(graph)
        with multiprocessing.get_context("spawn").Pool(1) as pool:
            return pool.apply(_time_onnx, (paths, shape, threads, iters, rounds))
