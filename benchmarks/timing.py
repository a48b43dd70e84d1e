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
from collections.abc import Hashable, Sequence
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
        return {
            "median_ms": self.median,
            "p90_ms": self.p90,
            "p99_ms": self.p99,
            "mean_ms": self.mean,
            "min_ms": self.min,
            "runs": self.runs,
        }


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


def ratio_of_rounds(
    numerator: Sequence[float], denominator: Sequence[float], numerator_median: float, denominator_median: float
) -> float:
    """The median over rounds of the ratio of two round medians, where both were timed in the same rounds; the
    ratio of the overall medians where the rounds do not pair up."""
    if len(numerator) != len(denominator) or not len(numerator):
        return numerator_median / denominator_median
    return float(np.median(np.divide(numerator, denominator)))


def round_ratio(numerator: Stats, denominator: Stats) -> float:
    """The median over rounds of ``numerator``'s round median over ``denominator``'s: a ratio of two callables
    timed in the same :func:`measure_interleaved` call, taken within each round, where both saw the same machine."""
    return ratio_of_rounds(numerator.rounds, denominator.rounds, numerator.median, denominator.median)


class OneOpenAtATime:
    """Of several things that hold an inference session, only one open at a time while they are timed. Two open
    ONNX Runtime CPU sessions each keep a thread pool, and the idle one's spinning threads slowed the other's small
    graphs by 2-3x on 2 cores (the bundled model's median 3.2 ms alone, 5-9 ms beside another session); closing it
    ends them. :meth:`wrap` makes a timed callable open its own thing (and close the others) in the untimed first
    call of a block (:func:`measure_interleaved`), then call itself ``warm_runs`` more times untimed where it had
    to open it: a new session's first runs plan and allocate.

    ``open(key)`` opens ``key``'s thing (a no-op where it is open), ``close(key)`` closes it (a no-op where it cannot
    be closed) and ``is_open(key)`` tells."""

    def __init__(
        self,
        keys: Sequence[Hashable],
        open: Callable[[Any], None],
        close: Callable[[Any], None],
        is_open: Callable[[Any], bool],
        warm_runs: int,
    ) -> None:
        self.keys, self.open, self.close, self.is_open, self.warm_runs = list(keys), open, close, is_open, warm_runs
        self.active: Hashable | None = None

    def wrap(self, key: Hashable, fn: Callable[[], Any]) -> Callable[[], Any]:
        def call() -> Any:
            if key != self.active:
                for other in self.keys:  # the others' sessions and threads go first
                    if other != key:
                        self.close(other)
                reopened = not self.is_open(key)
                self.open(key)
                self.active = key
                for _ in range(self.warm_runs if reopened else 0):
                    fn()
            return fn()

        return call


def _time_onnx(paths: dict[str, str], shape: tuple[int, ...], threads: int, iters: int, rounds: int) -> dict:
    from runtime.backends.onnxruntime import ort_session

    x = np.random.default_rng(0).standard_normal(shape, dtype=np.float32)
    sessions: dict[str, tuple[Any, dict[str, np.ndarray]]] = {}  # key → (open session, its feed)

    def open_session(key: str) -> None:
        if key not in sessions:
            session = ort_session(paths[key], threads=threads)
            sessions[key] = session, {session.get_inputs()[0].name: x}

    one_open = OneOpenAtATime(list(paths), open_session, lambda key: sessions.pop(key, None), sessions.__contains__, 3)

    def runner(key: str) -> Callable[[], Any]:
        return one_open.wrap(key, lambda: sessions[key][0].run(None, sessions[key][1]))

    return measure_interleaved({key: runner(key) for key in paths}, iters, warmup=1, rounds=rounds)


def time_onnx_apart(
    graphs: dict[str, Any], shape: tuple[int, ...], threads: int = 0, iters: int = 30, rounds: int = 5
) -> dict[str, Stats]:
    """ONNX Runtime CPU timings of ONNX graphs (``ModelProto`` or file paths) on one random float32 batch of
    ``shape``, interleaved (:func:`measure_interleaved`), in a freshly spawned process. In a process that has just
    exported or calibrated models (PyTorch, ONNX Runtime's calibrators, many sessions), the same graphs timed up to
    50 % slower than alone, so reports that do that work time their graphs apart from it. Each graph's session is
    opened at the start of its block of runs and closed at the end (:class:`OneOpenAtATime`)."""
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
