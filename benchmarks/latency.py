"""``swinpose-bench latency``: per backend × precision × batch, the inference latency (median / p90 / p99, images/s),
the pre-processing and decoding time per image, and the end-to-end pipeline on a frame with N people.

Shape legend: B batch, N people in the frame. Times are wall-clock milliseconds; each timed call returns host
arrays, so it includes the device's work and copies.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.floor import FLOOR_PRECISIONS, Ceilings, floor_ms, measure_ceilings, model_work
from benchmarks.frame import FRAME_PEOPLE, FRAME_TABLE, detector_tasks, frame_rows, pose_task
from benchmarks.machine import describe_machine, library_versions
from benchmarks.runners import Combo, find_packages, judged_as, open_combo
from benchmarks.schema import CEILINGS, HEADER, MODEL, NUM, OPT_NUM, SKIPPED, Schema
from benchmarks.timing import OneOpenAtATime, Stats, measure_interleaved, ratio_of_rounds
from swinpose.models.config import PoseModelConfig

__all__ = ["LatencySettings", "run_latency", "bench_frame", "LATENCY_SCHEMA_ID"]

LATENCY_SCHEMA_ID = "swinpose-bench/latency/2"  # 2: speedup_vs_onnxruntime_fp32
#: what a latency report holds (:mod:`benchmarks.schema`)
LATENCY_SCHEMA: Schema = (
    {
        **HEADER,
        "settings": dict,
        "model": MODEL,
        "ceilings": CEILINGS,
        "floors_ms": dict,
        "rows": list,
        "pipeline": list,
    },
    {
        "rows": {
            "ok": {
                "backend": str,
                "precision": str,
                "batch": int,
                "median_ms": NUM,
                "p90_ms": NUM,
                "p99_ms": NUM,
                "mean_ms": NUM,
                "min_ms": NUM,
                "round_medians_ms": list,
                "runs": int,
                "images_per_s": NUM,
                "preprocess_ms_per_image": NUM,
                "decode_ms_per_image": NUM,
                "floor_ms": NUM,
                "x_floor": NUM,
                "speedup_vs_torch_fp32": OPT_NUM,
                "speedup_vs_onnxruntime_fp32": OPT_NUM,
            },
            "skipped": {**SKIPPED, "batch": (int, type(None))},
        },
        "pipeline": {
            "ok": {
                "backend": str,
                "precision": str,
                "people": int,
                "frame_ms": NUM,
                "frame_p90_ms": NUM,
                "per_person_ms": NUM,
                "preprocess_ms": NUM,
                "inference_ms": NUM,
                "decode_ms": NUM,
                "pre_decode_share": NUM,
            },
            "skipped": {**SKIPPED, "people": int},
        },
        "frame": FRAME_TABLE,  # only with --detector (benchmarks.frame)
    },
)
_EAGER = ("torch", "fp32", "ok")  # the baseline rows the speed-ups are measured against: PyTorch eager fp32,
_ORT_FP32 = ("onnxruntime", "fp32", "ok")  # and ONNX Runtime's fp32 (the CPU runtimes' comparison)
_STAGES = ("inference", "preprocess", "decode")


@dataclass
class LatencySettings:
    """What to time. ``threads`` 0 = each library's default; ``people`` is the end-to-end frame's person count;
    every timed call is spread over ``rounds`` interleaved rounds (:func:`benchmarks.timing.measure_interleaved`)."""

    backends: list[str] = field(default_factory=lambda: ["torch", "onnxruntime", "tensorrt"])
    precisions: list[str] = field(default_factory=lambda: ["fp32", "fp16", "int8"])
    batches: list[int] = field(default_factory=lambda: [1, 8, 32])
    warmup: int = 5
    iters: int = 30
    threads: int = 0
    device: str = "cpu"
    people: int = 4
    flip_test: bool = False
    rounds: int = 5
    detector: str | None = None  # a detector package or file: adds the frame rows (benchmarks.frame)
    frame_people: list[int] = field(default_factory=lambda: list(FRAME_PEOPLE))


def bench_frame(people: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A rendered synthetic frame and ``people`` person boxes on it (N×4 xyxy; its figures' boxes, repeated)."""
    from swinpose.data.synthetic import render_image

    for index in range(100):
        image, persons = render_image(seed, "val", index)
        if persons:
            xywh = np.array([p["bbox"] for p in persons], np.float64)
            xyxy = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], 1)
            return image, xyxy[np.arange(people) % len(xyxy)]
    raise RuntimeError("the synthetic renderer drew no person in 100 frames")  # never: every frame has one


class _Pipeline:
    """One PoseEngine call on a frame, as a callable that keeps each stage's time (ms) of every call."""

    def __init__(self, combo: Combo, image: np.ndarray, boxes: np.ndarray) -> None:
        self.combo, self.image, self.boxes = combo, image, boxes
        self.samples: dict[str, list[float]] = {"preprocess": [], "inference": [], "decode": []}

    def __call__(self) -> None:
        engine = self.combo.resume()
        t0 = time.perf_counter()
        inputs, matrices, _ = engine.preprocess([self.image], [self.boxes])
        t1 = time.perf_counter()
        heatmaps = engine.heatmaps(inputs)
        t2 = time.perf_counter()
        engine.decode(heatmaps, matrices)
        t3 = time.perf_counter()
        for key, seconds in zip(self.samples, (t1 - t0, t2 - t1, t3 - t2)):
            self.samples[key].append(1e3 * seconds)


def _profile_skip(combo: Combo, batch: int) -> str | None:
    engine = combo.engine
    profile = engine.backend.profile.get(engine.spec.input_name)
    if profile is not None and not profile[0][0] <= batch <= profile[2][0]:
        return (
            f"batch {batch} is outside the engine's profile {profile[0][0]}..{profile[2][0]}; rebuild it with "
            "swinpose-export --batch MIN,OPT,MAX"
        )
    return None


def _batch_tasks(combo: Combo, batch: int, image: np.ndarray, boxes: np.ndarray) -> dict[str, Any]:
    """The three callables timed for one combination and batch: inference on the crops of ``batch`` of the frame's
    people (repeated), their pre-processing, and the decoding of their heatmaps."""
    engine = combo.engine
    crop_boxes = boxes[np.arange(batch) % len(boxes)]  # the frame's people, repeated: real crops and heatmaps
    inputs, matrices, _ = engine.preprocess([image], [crop_boxes])
    feeds = {engine.spec.input_name: inputs}
    heatmaps = engine.backend.infer(feeds)[engine.spec.output_name].astype(np.float32, copy=False)
    return {  # combo.resume(): the engine as open now (see _one_engine_open)
        "inference": lambda: combo.resume().backend.infer(feeds),
        "preprocess": lambda: combo.resume().preprocess([image], [crop_boxes]),
        "decode": lambda: combo.resume().decode(heatmaps, matrices),
    }


def _one_engine_open(combos: list[Combo]) -> OneOpenAtATime:
    """Of the combinations that can be suspended (:attr:`Combo.reopen`: ONNX Runtime on the CPU), only the one being
    timed has its engine open (:class:`benchmarks.timing.OneOpenAtATime`, keyed by the combination's index), with
    two untimed calls after a reopening (a new Swin-T session's first two runs took 35-45 % longer than the rest);
    each combination's callables are consecutive, so it reopens once per round."""
    return OneOpenAtATime(
        range(len(combos)),
        open=lambda i: combos[i].resume(),
        close=lambda i: combos[i].suspend(),
        is_open=lambda i: combos[i].engine is not None,
        warm_runs=2,
    )


def _batch_row(combo: Combo, batch: int, stats: dict[str, Stats]) -> dict[str, Any]:
    infer = stats["inference"]
    return {
        "backend": combo.backend,
        "precision": combo.precision,
        "batch": batch,
        "status": "ok",
        **infer.to_dict(),
        "round_medians_ms": list(infer.rounds),
        "images_per_s": 1e3 * batch / infer.median,
        "preprocess_ms_per_image": stats["preprocess"].median / batch,
        "decode_ms_per_image": stats["decode"].median / batch,
    }


def _pipeline_row(combo: Combo, pipeline: _Pipeline, total: Stats, warmup: int) -> dict[str, Any]:
    stage = {k: float(np.median(v[warmup:])) for k, v in pipeline.samples.items()}
    n = len(pipeline.boxes)
    return {
        "backend": combo.backend,
        "precision": combo.precision,
        "people": n,
        "status": "ok",
        "frame_ms": total.median,
        "frame_p90_ms": total.p90,
        "per_person_ms": total.median / n,
        "preprocess_ms": stage["preprocess"],
        "inference_ms": stage["inference"],
        "decode_ms": stage["decode"],
        "pre_decode_share": (stage["preprocess"] + stage["decode"]) / total.median,
    }


def _progress(total: int, enabled: bool) -> Any:
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc="latency", unit="run", leave=False)


def run_latency(
    package: str | Path,
    settings: LatencySettings | None = None,
    weights: str | Path | None = None,
    ceilings: Ceilings | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Time every combination of ``settings`` on the package(s) at ``package``; the report as a JSON-ready dict
    (:data:`LATENCY_SCHEMA_ID`). ``ceilings`` defaults to measuring them (:func:`measure_ceilings`) first."""
    s = settings or LatencySettings()
    packages = find_packages(package)
    first = next(iter(packages.values()))
    work = model_work(PoseModelConfig.from_dict(first.model.config))
    ceilings = ceilings or measure_ceilings(s.device, s.threads, progress=progress)
    image, boxes = bench_frame(s.people)
    combos = [
        open_combo(b, p, packages, Path(package), s.device, s.threads, s.flip_test, weights)
        for b in s.backends
        for p in s.precisions
    ]
    detector = None
    try:
        tasks: dict[tuple, Any] = {}  # (combo index, batch or "pipeline", stage) → callable
        pipelines: dict[int, _Pipeline] = {}
        skips: dict[tuple[int, int], str] = {}
        for i, combo in enumerate(combos):
            if combo.skipped:
                continue
            for batch in s.batches:
                reason = _profile_skip(combo, batch)
                if reason:
                    skips[i, batch] = reason
                    continue
                for stage, fn in _batch_tasks(combo, batch, image, boxes).items():
                    tasks[i, batch, stage] = fn
            pipelines[i] = tasks[i, "pipeline", "total"] = _Pipeline(combo, image, boxes)
            if s.detector:
                for n in s.frame_people:
                    tasks[i, "frame", n] = pose_task(combo, image, boxes, n)
        one_open = _one_engine_open(combos)
        tasks = {key: one_open.wrap(key[0], fn) for key, fn in tasks.items()}
        if s.detector:
            from runtime.detection import Detector

            detector = Detector(s.detector, backend="onnxruntime", threads=s.threads)
            for stage, fn in detector_tasks(detector, image).items():
                tasks["detector", stage] = fn
        bar = _progress(s.rounds * len(tasks), progress)
        stats = measure_interleaved(tasks, s.iters, s.warmup, s.rounds, bar)
        if bar is not None:
            bar.close()
    finally:
        for combo in combos:
            combo.close()
        if detector is not None:
            detector.close()
    rows: list[dict[str, Any]] = []
    pipeline: list[dict[str, Any]] = []
    for i, combo in enumerate(combos):
        head = {"backend": combo.backend, "precision": combo.precision}
        if combo.skipped:
            rows.append({**head, "batch": None, "status": "skipped", "reason": combo.skipped})
            pipeline.append({**head, "people": s.people, "status": "skipped", "reason": combo.skipped})
            continue
        for batch in s.batches:
            if (i, batch) in skips:
                rows.append({**head, "batch": batch, "status": "skipped", "reason": skips[i, batch]})
            else:
                rows.append(_batch_row(combo, batch, {k: stats[i, batch, k] for k in _STAGES}))
        pipeline.append(_pipeline_row(combo, pipelines[i], stats[i, "pipeline", "total"], s.warmup))
    weights_used = {f"{c.backend} {c.precision}": c.weights for c in combos if c.weights}
    _add_ratios(rows, work, ceilings)
    return {
        "schema": LATENCY_SCHEMA_ID,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": describe_machine(),
        "versions": library_versions(),
        "settings": {**asdict(s), "package": str(package), "torch_weights": weights_used},
        "model": {**work.to_dict(), "packages": {p: str(spec.folder) for p, spec in packages.items()}},
        "ceilings": ceilings.to_dict(),
        "floors_ms": {p: {str(b): floor_ms(work, ceilings, p, b) for b in s.batches} for p in FLOOR_PRECISIONS},
        "rows": rows,
        "pipeline": pipeline,
        **({"frame": frame_rows(combos, tuple(s.frame_people), stats, str(s.detector))} if s.detector else {}),
    }


def _add_ratios(rows: list[dict[str, Any]], work: Any, ceilings: Ceilings) -> None:
    """Each ok row's floor, its latency as a multiple of that floor, and its speed-ups over PyTorch fp32 and over
    ONNX Runtime fp32 at the same batch: the median over the interleaved rounds of the two round medians' ratio (all
    from this one run; None where the baseline row did not run)."""
    bases = {
        key: {r["batch"]: r for r in rows if (r["backend"], r["precision"], r["status"]) == row}
        for key, row in (("speedup_vs_torch_fp32", _EAGER), ("speedup_vs_onnxruntime_fp32", _ORT_FP32))
    }
    for r in rows:
        if r["status"] != "ok":
            continue
        r["floor_ms"] = floor_ms(work, ceilings, judged_as(r["precision"]), r["batch"])
        r["x_floor"] = r["median_ms"] / r["floor_ms"]
        for key, base in bases.items():
            r[key] = None if r["batch"] not in base else _round_ratio(base[r["batch"]], r)


def _round_ratio(numerator: dict[str, Any], denominator: dict[str, Any]) -> float:
    return ratio_of_rounds(
        numerator["round_medians_ms"], denominator["round_medians_ms"], numerator["median_ms"], denominator["median_ms"]
    )
