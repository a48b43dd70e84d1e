"""AP parity of deployed packages against the PyTorch model, on the same images and boxes.

Shape legend: N person instances, K keypoints. Keypoints are (x, y) image pixels.

* **COCO AP** of each runner (pycocotools, against the annotation file's ground truth) and **ΔAP** against PyTorch.
* **Agreement AP**: a runner's keypoints scored with OKS against PyTorch's own keypoints as ground truth (every
  keypoint labelled, the annotation's area as the OKS scale). It isolates deployment error from model quality:
  PyTorch against itself scores 1.0, whatever the model's accuracy.
* **Keypoint shift**: mean and max distance to PyTorch's keypoints, over all keypoints and over those PyTorch is
  confident of (score ≥ :data:`CONFIDENT`).
* **Crop shift**: the same distances in input (crop) pixels, between the decoded heatmaps of the same crops; their
  median over the confident keypoints is what the export's gate limits (:func:`export.parity.shift_limit`).

AP figures are reported in AP points (0-100), as papers do. A row passes when its ΔAP is within its precision's
:data:`AP_THRESHOLDS` and, for every precision but fp32, its median confident crop shift within the export gate's
limit: the gate that fp16 and int8 packages pass at export, applied to every runner, bf16 included.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from benchmarks.machine import describe_machine, library_versions
from benchmarks.runners import Combo, find_packages, judged_as, open_combo
from benchmarks.schema import HEADER, NUM, OPT_NUM, SKIPPED, Schema
from export.parity import AP_THRESHOLDS, CONFIDENT, SHIFT_LIMITS, heatmap_shifts, shift_limit, shift_summary
from runtime.errors import ConfigError, DataError
from runtime.images import read_image
from runtime.results import Predictions, to_coco_results

__all__ = [
    "CONFIDENT",
    "PARITY_SCHEMA_ID",
    "coco_ap",
    "agreement_gt",
    "keypoint_shift",
    "ParityRow",
    "compare",
    "run_parity",
]

PARITY_SCHEMA_ID = "swinpose-bench/parity/2"  # 2: crop_shift and shift_limit_px
#: what a parity report holds (:mod:`benchmarks.schema`)
PARITY_SCHEMA: Schema = (
    {
        **HEADER,
        "settings": dict,
        "data": {"instances": int, "image_count": int, "boxes": str},
        "reference": {"backend": str, "precision": str, "weights": str, "ap": NUM, "self_agreement_ap": NUM},
        "rows": list,
        "verdict": str,
    },
    {
        "rows": {
            "ok": {
                "backend": str,
                "precision": str,
                "ap": NUM,
                "delta_ap": NUM,
                "agreement_ap": NUM,
                "shift": {
                    "mean_px": NUM,
                    "max_px": NUM,
                    "confident_mean_px": OPT_NUM,
                    "confident_max_px": OPT_NUM,
                    "confident": int,
                },
                "crop_shift": {"confident_median_px": OPT_NUM, "confident_max_px": OPT_NUM, "confident": int},
                "shift_limit_px": OPT_NUM,
                "max_heatmap_error": NUM,
                "threshold": NUM,
                "passed": bool,
            },
            "skipped": SKIPPED,
        }
    },
)

#: the largest |ΔAP| against PyTorch, in AP points, that each precision passes with (the export gate's limits too)
#: ΔAP is compared at this resolution (AP points): pycocotools' AP moves in its last digits when a keypoint moves
#: by 1e-4 px, which is not a deployment error
AP_RESOLUTION = 0.01


def coco_ap(gt: dict, pred: Predictions, sigmas: np.ndarray | None = None) -> float:
    """COCO keypoint AP (0-1) of ``pred`` against the annotation dict ``gt``, by pycocotools, with the keypoint
    set's OKS ``sigmas`` (the package's; None: COCO's)."""
    from swinpose.evaluation import coco_keypoint_eval

    return coco_keypoint_eval(gt, to_coco_results(pred), sigmas)["AP"]


def agreement_gt(reference: Predictions, instances: list, gt: dict) -> dict:
    """A COCO annotation dict whose ground truth is ``reference``'s keypoints (all labelled, visibility 2), one
    annotation per instance, with the instance's annotated area (else its box area) as the OKS scale."""
    areas = {a["id"]: a.get("area") for a in gt.get("annotations", [])}
    annotations = []
    for i, inst in enumerate(instances):
        xy = reference.keypoints[i]
        k = len(xy)
        area = areas.get(inst.ann_id) or float(inst.bbox[2] * inst.bbox[3])
        annotations.append(
            dict(
                id=i + 1,
                image_id=int(inst.image_id),
                category_id=1,
                iscrowd=0,
                area=float(area),
                bbox=[float(v) for v in inst.bbox],
                num_keypoints=k,
                keypoints=[float(v) for v in np.concatenate([xy, np.full((k, 1), 2.0)], 1).ravel()],
            )
        )
    return dict(images=gt["images"], annotations=annotations, categories=gt["categories"])


def keypoint_shift(reference: Predictions, pred: Predictions) -> dict[str, float | int | None]:
    """Distances in image pixels between ``pred``'s and ``reference``'s keypoints: mean and max over all keypoints,
    and over those ``reference`` scores at least :data:`CONFIDENT` (None where none is), as the export reports."""
    d = np.linalg.norm(pred.keypoints - reference.keypoints, axis=-1)
    return shift_summary(d, reference.scores >= CONFIDENT)


@dataclass
class ParityRow:
    """One runner against PyTorch: AP and agreement AP (points), ΔAP (PyTorch − runner), keypoint shift (image
    pixels), crop shift (input pixels) and its limit (None for fp32), the largest heatmap difference on the same
    crops, and the verdict against its precision's limits."""

    backend: str
    precision: str
    ap: float
    delta_ap: float
    agreement_ap: float
    shift: dict[str, float]
    crop_shift: dict[str, float | int | None]
    shift_limit_px: float | None
    max_heatmap_error: float
    threshold: float
    passed: bool

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def compare(
    backend: str,
    precision: str,
    pred: Predictions,
    reference: Predictions,
    gt: dict,
    reference_ap: float,
    agreement: dict,
    max_heatmap_error: float = float("nan"),
    thresholds: dict[str, float] = AP_THRESHOLDS,
    sigmas: np.ndarray | None = None,
    crop_shift: dict[str, float | int | None] | None = None,
    shift_limit_px: float | None = None,
) -> ParityRow:
    """Score ``pred`` against the ground truth ``gt`` and against PyTorch (``reference``, whose AP is
    ``reference_ap`` in 0-1 and whose keypoints make the ``agreement`` annotation dict); ``sigmas``: the package's
    OKS sigmas. ``crop_shift`` (:func:`export.parity.shift_summary` of the crop-pixel shifts) is judged against
    ``shift_limit_px`` where both are given and a keypoint was confident."""
    ap = 100 * coco_ap(gt, pred, sigmas)
    delta = round(100 * reference_ap - ap, 6)
    threshold = thresholds[judged_as(precision)]
    crop_shift = crop_shift or {"confident_median_px": None, "confident_max_px": None, "confident": 0}
    median = crop_shift["confident_median_px"]
    shift_ok = shift_limit_px is None or median is None or median <= shift_limit_px
    return ParityRow(
        backend,
        precision,
        ap,
        delta,
        100 * coco_ap(agreement, pred, sigmas),
        keypoint_shift(reference, pred),
        {k: crop_shift[k] for k in ("confident_median_px", "confident_max_px", "confident")},
        shift_limit_px,
        max_heatmap_error,
        threshold,
        abs(delta) <= threshold + AP_RESOLUTION / 2 and shift_ok,
    )


def _predictions(instances: list, keypoints: np.ndarray, scores: np.ndarray) -> Predictions:
    return Predictions(
        keypoints,
        scores,
        np.array([inst.image_id for inst in instances]),
        np.array([inst.score for inst in instances], np.float64),
        np.array([inst.bbox[2] * inst.bbox[3] for inst in instances], np.float64),
    )


def run_parity(
    package: str | Path,
    annotations: str | Path,
    images: str | Path,
    weights: str | Path | None = None,
    backends: tuple[str, ...] = ("onnxruntime", "tensorrt"),
    precisions: tuple[str, ...] = ("fp32", "fp16", "int8"),
    device: str = "cpu",
    flip_test: bool = True,
    threads: int = 0,
    thresholds: dict[str, float] = AP_THRESHOLDS,
    detections: str | Path | None = None,
    det_score_thr: float = 0.0,
    progress: bool = True,
) -> dict[str, Any]:
    """PyTorch fp32 (the reference) and every ``backends`` × ``precisions`` combination on the same crops of the
    same images and boxes (GT boxes, or ``detections``), through the same pre-processing and decoding. Returns the
    report as a JSON-ready dict (:data:`PARITY_SCHEMA_ID`) whose ``verdict`` is PASS when every row passes."""
    from swinpose.data.coco import load_coco_instances

    packages = find_packages(package)
    first = next(iter(packages.values()))
    k = first.num_keypoints
    instances, gt = load_coco_instances(annotations, images, k, detections, det_score_thr)
    if not instances:
        raise DataError(f"{annotations} gives no person instance to compare on; check the file and --det-score-thr")
    common = dict(device=device, threads=threads, flip_test=flip_test)
    reference = open_combo("torch", "fp32", packages, Path(package), weights=weights, require_weights=True, **common)
    combos: list[Combo] = []
    try:
        for backend in backends:
            for precision in precisions:
                combos.append(open_combo(backend, precision, packages, Path(package), weights=weights, **common))
        running = [c for c in combos if c.engine is not None]
        n = len(instances)
        ref_xy, ref_scores = np.zeros((n, k, 2)), np.zeros((n, k), np.float32)
        xy = {id(c): np.zeros((n, k, 2)) for c in running}
        scores = {id(c): np.zeros((n, k), np.float32) for c in running}
        max_err = {id(c): 0.0 for c in running}
        crop_d = {id(c): np.zeros((n, k)) for c in running}  # crop-pixel shifts against PyTorch's heatmaps
        crop_sure = np.zeros((n, k), bool)
        codec = reference.engine.codec
        by_image: dict[Path, list[int]] = defaultdict(list)
        for i, inst in enumerate(instances):
            by_image[inst.file].append(i)
        items = by_image.items()
        if progress:
            from tqdm import tqdm

            items = tqdm(items, desc=f"parity ({len(running) + 1} runners)", unit="img", leave=False)
        for file, idx in items:
            image = read_image(file, cv2.IMREAD_COLOR)
            xywh = np.stack([instances[i].bbox for i in idx]).astype(np.float64)
            boxes = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], 1)
            inputs, matrices, _ = reference.engine.preprocess([image], [boxes])
            expected = reference.engine.heatmaps(inputs)
            ref_xy[idx], ref_scores[idx] = reference.engine.decode(expected, matrices)
            for c in running:
                got = c.engine.heatmaps(inputs)
                max_err[id(c)] = max(max_err[id(c)], float(np.abs(got - expected).max()))
                crop_d[id(c)][idx], crop_sure[idx] = heatmap_shifts(expected, got, codec)
                xy[id(c)][idx], scores[id(c)][idx] = c.engine.decode(got, matrices)
    finally:
        reference.close()
        for c in combos:
            c.close()

    ref_pred = _predictions(instances, ref_xy, ref_scores)
    sigmas = first.keypoints.sigmas()
    ref_ap = coco_ap(gt, ref_pred, sigmas)
    agreement = agreement_gt(ref_pred, instances, gt)
    rows = []
    for c in combos:
        if c.engine is None:
            rows.append({"backend": c.backend, "precision": c.precision, "status": "skipped", "reason": c.skipped})
            continue
        pred = _predictions(instances, xy[id(c)], scores[id(c)])
        judged = judged_as(c.precision)
        row = compare(
            c.backend,
            c.precision,
            pred,
            ref_pred,
            gt,
            ref_ap,
            agreement,
            max_err[id(c)],
            thresholds,
            sigmas,
            shift_summary(crop_d[id(c)], crop_sure),
            shift_limit(judged, codec) if judged in SHIFT_LIMITS else None,
        )
        rows.append({"status": "ok", **row.to_dict()})
    ok = [r for r in rows if r["status"] == "ok"]
    if not ok:
        reasons = "; ".join(f"{r['backend']} {r['precision']}: {r['reason']}" for r in rows)
        raise ConfigError(f"nothing to compare with PyTorch, every combination was skipped ({reasons})")
    return {
        "schema": PARITY_SCHEMA_ID,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": describe_machine(),
        "versions": library_versions(),
        "settings": dict(
            package=str(package),
            backends=list(backends),
            precisions=list(precisions),
            device=device,
            flip_test=flip_test,
            threads=threads,
            thresholds=dict(thresholds),
        ),
        "data": dict(
            annotations=str(annotations),
            images=str(images),
            instances=len(instances),
            image_count=len(by_image),
            boxes=str(detections) if detections else "ground truth",
        ),
        "reference": {
            "backend": "torch",
            "precision": "fp32",
            "weights": reference.weights,
            "ap": 100 * ref_ap,
            "self_agreement_ap": 100 * coco_ap(agreement, ref_pred, sigmas),
        },
        "rows": rows,
        "verdict": "PASS" if all(r["passed"] for r in ok) else "FAIL",
    }
