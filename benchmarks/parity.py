"""AP parity of deployed packages against the PyTorch model, on the same images and boxes.

Shape legend: N person instances, K keypoints. Keypoints are (x, y) image pixels.

* **COCO AP** of each runner (pycocotools, against the annotation file's ground truth) and **ΔAP** against PyTorch.
* **Agreement AP**: a runner's keypoints scored with OKS against PyTorch's own keypoints as ground truth (every
  keypoint labelled, the annotation's area as the OKS scale). It isolates deployment error from model quality:
  PyTorch against itself scores 1.0, whatever the model's accuracy.
* **Keypoint shift**: mean and max distance to PyTorch's keypoints, over all keypoints and over those PyTorch is
  confident of (score ≥ :data:`CONFIDENT`).

AP figures are reported in AP points (0-100), as papers do. :data:`THRESHOLDS` give the largest ΔAP each precision
may show.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from runtime.results import Predictions, to_coco_results

__all__ = [
    "THRESHOLDS",
    "CONFIDENT",
    "engine_predictions",
    "torch_predictions",
    "coco_ap",
    "agreement_gt",
    "keypoint_shift",
    "ParityRow",
    "compare",
]

#: the largest |ΔAP| against PyTorch, in AP points, that each precision passes with
THRESHOLDS = {"fp32": 0.0, "fp16": 0.1, "int8": 0.5}
#: ΔAP is compared at this resolution (AP points): pycocotools' AP moves in its last digits when a keypoint moves
#: by 1e-4 px, which is not a deployment error
AP_RESOLUTION = 0.01
#: PyTorch keypoint score from which a keypoint counts as confident
CONFIDENT = 0.3


def engine_predictions(engine: Any, instances: list, progress: bool = False) -> Predictions:
    """Run a :class:`runtime.PoseEngine` on the boxes of ``instances`` (:class:`swinpose.data.coco.CocoInstance`),
    one call per image; results come back in the order of ``instances``."""
    by_image: dict[Any, list[int]] = defaultdict(list)
    for i, inst in enumerate(instances):
        by_image[inst.file].append(i)
    k = instances[0].keypoints.shape[0]
    keypoints, scores = np.zeros((len(instances), k, 2)), np.zeros((len(instances), k), np.float32)
    items = by_image.items()
    if progress:
        from tqdm import tqdm

        items = tqdm(items, desc=f"{engine.backend.name} {engine.spec.data['precision']}", unit="img", leave=False)
    for file, idx in items:
        image = cv2.imread(str(file), cv2.IMREAD_COLOR)
        xywh = np.stack([instances[i].bbox for i in idx]).astype(np.float64)
        result = engine(image, np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], 1))
        keypoints[idx], scores[idx] = result.keypoints, result.scores
    return Predictions(
        keypoints,
        scores,
        np.array([inst.image_id for inst in instances]),
        np.array([inst.score for inst in instances], np.float64),
        np.array([inst.bbox[2] * inst.bbox[3] for inst in instances], np.float64),
    )


def torch_predictions(model: Any, codec: Any, instances: list, flip_test: bool, progress: bool = False) -> Predictions:
    """The PyTorch model through the same pipeline (shared crops and codec) on ``instances``, in their order."""
    from swinpose.data.coco import CocoKeypoints
    from swinpose.evaluation import predict

    return predict(model, CocoKeypoints(instances, codec), codec, flip_test=flip_test, progress=progress)


def coco_ap(gt: dict, pred: Predictions) -> float:
    """COCO keypoint AP (0-1) of ``pred`` against the annotation dict ``gt``, by pycocotools."""
    from swinpose.evaluation import coco_keypoint_eval

    return coco_keypoint_eval(gt, to_coco_results(pred))["AP"]


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


def keypoint_shift(reference: Predictions, pred: Predictions) -> dict[str, float]:
    """Distances in image pixels between ``pred``'s and ``reference``'s keypoints: mean and max over all keypoints,
    and over those ``reference`` scores at least :data:`CONFIDENT`."""
    d = np.linalg.norm(pred.keypoints - reference.keypoints, axis=-1)
    sure = reference.scores >= CONFIDENT
    return {
        "mean_px": float(d.mean()),
        "max_px": float(d.max()),
        "confident_mean_px": float(d[sure].mean()) if sure.any() else float("nan"),
        "confident_max_px": float(d[sure].max()) if sure.any() else float("nan"),
        "confident": int(sure.sum()),
    }


@dataclass
class ParityRow:
    """One runner against PyTorch: AP and agreement AP (points), ΔAP (PyTorch − runner), keypoint shift, verdict."""

    backend: str
    precision: str
    ap: float
    delta_ap: float
    agreement_ap: float
    shift: dict[str, float]
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
    thresholds: dict[str, float] = THRESHOLDS,
) -> ParityRow:
    """Score ``pred`` against the ground truth ``gt`` and against PyTorch (``reference``, whose AP is
    ``reference_ap`` in 0-1 and whose keypoints make the ``agreement`` annotation dict)."""
    ap = 100 * coco_ap(gt, pred)
    delta = round(100 * reference_ap - ap, 6)
    threshold = thresholds[precision]
    return ParityRow(
        backend,
        precision,
        ap,
        delta,
        100 * coco_ap(agreement, pred),
        keypoint_shift(reference, pred),
        threshold,
        abs(delta) <= threshold + AP_RESOLUTION / 2,
    )
