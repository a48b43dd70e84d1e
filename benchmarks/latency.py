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

from benchmarks.floor import Ceilings, floor_ms, measure_ceilings, model_work
from benchmarks.machine import describe_machine, library_versions
from benchmarks.runners import Combo, find_packages, open_combo
from benchmarks.timing import Stats, measure
from swinpose.models.config import PoseModelConfig

__all__ = ["LatencySettings", "run_latency", "bench_frame", "LATENCY_SCHEMA_ID"]

LATENCY_SCHEMA_ID = "swinpose-bench/latency/1"
_EAGER = ("torch", "fp32", "ok")  # the baseline row every speed-up is measured against


@dataclass
class LatencySettings:
    """What to time. ``threads`` 0 = each library's default; ``people`` is the end-to-end frame's person count."""

    backends: list[str] = field(default_factory=lambda: ["torch", "onnxruntime", "tensorrt"])
    precisions: list[str] = field(default_factory=lambda: ["fp32", "fp16", "int8"])
    batches: list[int] = field(default_factory=lambda: [1, 8, 32])
    warmup: int = 5
    iters: int = 30
    threads: int = 0
    device: str = "cpu"
    people: int = 4
    flip_test: bool = False


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


def _stage_times(combo: Combo, image: np.ndarray, boxes: np.ndarray, s: LatencySettings) -> dict[str, Stats]:
    """The whole PoseEngine call on one frame, each stage timed within the same runs."""
    engine = combo.engine
    samples: dict[str, list[float]] = {"preprocess": [], "inference": [], "decode": [], "total": []}
    for i in range(s.warmup + s.iters):
        t0 = time.perf_counter()
        inputs, matrices, _ = engine.preprocess([image], [boxes])
        t1 = time.perf_counter()
        heatmaps = engine.heatmaps(inputs)
        t2 = time.perf_counter()
        engine.decode(heatmaps, matrices)
        t3 = time.perf_counter()
        if i >= s.warmup:
            for key, seconds in zip(samples, (t1 - t0, t2 - t1, t3 - t2, t3 - t0)):
                samples[key].append(1e3 * seconds)
    return {k: Stats(*(float(np.percentile(v, q)) for q in (50, 90, 99)), float(np.mean(v)), len(v))
            for k, v in samples.items()}  # fmt: skip


def _batch_row(combo: Combo, batch: int, image: np.ndarray, boxes: np.ndarray, s: LatencySettings) -> dict[str, Any]:
    engine = combo.engine
    row: dict[str, Any] = {"backend": combo.backend, "precision": combo.precision, "batch": batch}
    profile = getattr(engine.backend, "profile", {}).get(engine.spec.input_name)
    if profile is not None and not profile[0][0] <= batch <= profile[2][0]:
        return {**row, "status": "skipped", "reason": f"batch {batch} is outside the engine's profile "
                f"{profile[0][0]}..{profile[2][0]}; rebuild it with swinpose-export --batch MIN:OPT:MAX"}  # fmt: skip
    crop_boxes = boxes[np.arange(batch) % len(boxes)]  # the frame's people, repeated: real crops and heatmaps
    inputs, matrices, _ = engine.preprocess([image], [crop_boxes])
    feeds = {engine.spec.input_name: inputs}
    infer = measure(lambda: engine.backend.infer(feeds), s.iters, s.warmup)
    heatmaps = engine.backend.infer(feeds)[engine.spec.output_name].astype(np.float32, copy=False)
    pre = measure(lambda: engine.preprocess([image], [crop_boxes]), s.iters, s.warmup)
    decode = measure(lambda: engine.decode(heatmaps, matrices), s.iters, s.warmup)
    return {
        **row,
        "status": "ok",
        **infer.to_dict(),
        "images_per_s": 1e3 * batch / infer.median,
        "preprocess_ms_per_image": pre.median / batch,
        "decode_ms_per_image": decode.median / batch,
    }


def _pipeline_row(combo: Combo, image: np.ndarray, boxes: np.ndarray, s: LatencySettings) -> dict[str, Any]:
    t = _stage_times(combo, image, boxes, s)
    n = len(boxes)
    total = t["total"].median
    return {
        "backend": combo.backend,
        "precision": combo.precision,
        "people": n,
        "status": "ok",
        "frame_ms": total,
        "frame_p90_ms": t["total"].p90,
        "per_person_ms": total / n,
        "preprocess_ms": t["preprocess"].median,
        "inference_ms": t["inference"].median,
        "decode_ms": t["decode"].median,
        "pre_decode_share": (t["preprocess"].median + t["decode"].median) / total,
    }


def _progress(total: int, enabled: bool):
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
    work = model_work(PoseModelConfig.from_dict(first.data["model"]["config"]))
    ceilings = ceilings or measure_ceilings(s.device, s.threads)
    image, boxes = bench_frame(s.people)
    rows: list[dict[str, Any]] = []
    pipeline: list[dict[str, Any]] = []
    weights_used: dict[str, str] = {}
    bar = _progress(len(s.backends) * len(s.precisions) * (len(s.batches) + 1), progress)
    for backend in s.backends:
        for precision in s.precisions:
            combo = open_combo(backend, precision, packages, Path(package), s.device, s.threads, s.flip_test, weights)
            try:
                if combo.skipped:
                    skip = {"backend": backend, "precision": precision, "status": "skipped", "reason": combo.skipped}
                    rows.append({**skip, "batch": None})
                    pipeline.append({**skip, "people": s.people})
                    if bar is not None:
                        bar.update(len(s.batches) + 1)
                    continue
                if combo.weights:
                    weights_used[f"{backend} {precision}"] = combo.weights
                for batch in s.batches:
                    rows.append(_batch_row(combo, batch, image, boxes, s))
                    if bar is not None:
                        bar.update()
                pipeline.append(_pipeline_row(combo, image, boxes, s))
                if bar is not None:
                    bar.update()
            finally:
                combo.close()
    if bar is not None:
        bar.close()
    _add_ratios(rows, work, ceilings)
    return {
        "schema": LATENCY_SCHEMA_ID,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": describe_machine(),
        "versions": library_versions(),
        "settings": {**asdict(s), "package": str(package), "torch_weights": weights_used},
        "model": {**work.to_dict(), "packages": {p: str(spec.folder) for p, spec in packages.items()}},
        "ceilings": ceilings.to_dict(),
        "floors_ms": {p: {str(b): floor_ms(work, ceilings, p, b) for b in s.batches} for p in ("fp32", "fp16", "int8")},
        "rows": rows,
        "pipeline": pipeline,
    }


def _add_ratios(rows: list[dict[str, Any]], work: Any, ceilings: Ceilings) -> None:
    """Each ok row's floor, its latency as a multiple of that floor, and its speed-up over PyTorch fp32 at the
    same batch (all from this one run)."""
    eager = {r["batch"]: r["median_ms"] for r in rows if (r["backend"], r["precision"], r["status"]) == _EAGER}
    for r in rows:
        if r["status"] != "ok":
            continue
        r["floor_ms"] = floor_ms(work, ceilings, r["precision"], r["batch"])
        r["x_floor"] = r["median_ms"] / r["floor_ms"]
        r["speedup_vs_torch_fp32"] = eager[r["batch"]] / r["median_ms"] if r["batch"] in eager else None
