"""Top-down inference over a dataset and COCO OKS evaluation through pycocotools (not re-implemented).

Shape legend: N instances, K keypoints, h×w heatmaps.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from runtime.codec import HeatmapCodec
from runtime.errors import DataError, MissingDependencyError
from runtime.keypoints import COCO_SIGMAS
from runtime.results import OKS_NMS_THR, Predictions, oks_nms, to_coco_results
from runtime.transforms import flip_test_heatmaps, invert_affine

__all__ = [
    "EvalRun",
    "evaluate_weights",
    "Predictions",
    "predict",
    "to_coco_results",
    "oks_nms",
    "coco_keypoint_eval",
    "STAT_NAMES",
    "format_table",
]

logger = logging.getLogger(__name__)

#: the order of pycocotools' keypoint ``stats``
STAT_NAMES = ("AP", "AP50", "AP75", "APM", "APL", "AR", "AR50", "AR75", "ARM", "ARL")


@torch.inference_mode()
def predict(
    model: torch.nn.Module,
    dataset: Any,
    codec: HeatmapCodec,
    batch_size: int = 32,
    flip_test: bool = True,
    device: str | torch.device = "cpu",
    num_workers: int = 0,
    progress: bool = True,
) -> Predictions:
    """Run ``model`` on every crop of a :class:`~swinpose.data.coco.CocoKeypoints` (without augmentation) and decode.

    With ``flip_test`` the heatmaps of the mirrored crop are flipped back and averaged in, as in MMPose.
    """
    from torch.utils.data import DataLoader

    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers)
    if progress:
        from tqdm import tqdm

        loader = tqdm(loader, desc="evaluate", unit="batch", leave=False)
    was_training = model.training
    model.eval()
    perm = dataset.flip_perm
    input_area = codec.input_size[0] * codec.input_size[1] / dataset.padding**2  # the box's share of the crop
    kps, scores, ids, box_scores, areas = [], [], [], [], []

    def run(inputs: np.ndarray) -> np.ndarray:  # B×3×H×W → B×K×h×w
        return model(torch.from_numpy(inputs).to(device)).float().cpu().numpy()

    for batch in loader:
        inputs = batch["image"].numpy()
        heatmaps = flip_test_heatmaps(run, inputs, perm if flip_test else None, codec.flip_shift)
        xy, s = codec.decode_to_image(heatmaps, batch["matrix"].numpy())
        inverse = invert_affine(batch["matrix"].numpy())  # B×2×3 input → image
        kps.append(xy)
        scores.append(s)
        ids.append(batch["image_id"].numpy())
        box_scores.append(batch["score"].numpy())
        # box area in image pixels: its share of the input mapped back through the inverse affine
        areas.append(np.abs(np.linalg.det(inverse[:, :, :2])) * input_area)
    model.train(was_training)
    if not kps:
        raise DataError("the dataset has no instances to evaluate; check the annotation file and score threshold")
    return Predictions(*(np.concatenate(v) for v in (kps, scores, ids, box_scores, areas)))


def checked_ground_truth(gt: Any, source: str, k: int) -> dict:
    """A COCO keypoint ground truth that pycocotools can score: what it needs and the file lacks is computed
    (``area`` from the box, as PoseTrack18's files lack it; ``num_keypoints``, ``iscrowd``, ``id``, the person
    category), said in the log; what cannot be repaired (no box, no keypoints, K other than the results') raises
    DataError naming the annotation."""
    if (
        not isinstance(gt, dict)
        or not isinstance(gt.get("images"), list)
        or not isinstance(gt.get("annotations"), list)
    ):
        raise DataError(f"{source} is not a COCO keypoint file: it needs 'images' and 'annotations' lists")
    gt = {**gt, "annotations": [dict(a) if isinstance(a, dict) else a for a in gt["annotations"]]}
    repaired: dict[str, int] = {}
    ids = {im.get("id") for im in gt["images"] if isinstance(im, dict)}
    next_id = 1 + max(
        (a.get("id", 0) for a in gt["annotations"] if isinstance(a, dict) and isinstance(a.get("id"), int)), default=0
    )
    for i, a in enumerate(gt["annotations"]):
        where = f"{source} annotations[{i}]"
        if not isinstance(a, dict) or "image_id" not in a:
            raise DataError(f"{where} has no image_id")
        if a["image_id"] not in ids:
            raise DataError(f"{where}: image_id {a['image_id']!r} is not in its images list")
        box, kps = a.get("bbox"), a.get("keypoints")
        if not (
            isinstance(box, list)
            and len(box) == 4
            and all(isinstance(v, (int, float)) and math.isfinite(v) for v in box)
        ):
            raise DataError(f"{where} has no usable bbox ({box!r:.60}); OKS needs the box, fix or drop it")
        if not (isinstance(kps, list) and len(kps) == 3 * k and all(isinstance(v, (int, float)) for v in kps)):
            got = f"{len(kps) // 3} of them" if isinstance(kps, list) else f"{kps!r:.40}"
            raise DataError(
                f"{where} has no {k} keypoints as x, y, v triples ({got}); the results and the ground "
                "truth must be the same keypoint set"
            )
        visible = int(sum(v > 0 for v in kps[2::3]))
        defaults = (
            ("area", float(box[2]) * float(box[3])),
            ("num_keypoints", visible),
            ("iscrowd", 0),
            ("category_id", 1),
            ("id", None),
        )
        for key, value in defaults:
            if key not in a:
                if key == "id":
                    value, next_id = next_id, next_id + 1
                a[key] = value
                repaired[key] = repaired.get(key, 0) + 1
    if not isinstance(gt.get("categories"), list) or not gt["categories"]:
        gt["categories"] = [{"id": 1, "name": "person", "supercategory": "person"}]
        repaired["categories"] = 1
    for key, count in repaired.items():
        how = (
            "from its bbox (w·h)"
            if key == "area"
            else "from its keypoints"
            if key == "num_keypoints"
            else "as COCO's default"
        )
        logger.info("%s: %d annotation(s) had no '%s'; computed %s", source, count, key, how)
    return gt


def _check_results(results: list, gt: dict, source: str, k: int) -> None:
    """Refuse results pycocotools would crash on: entries without image_id/keypoints/score, or image ids that are
    not the ground truth's (the usual cause: ids taken from file names that are not the file's ids)."""
    ids = {im.get("id") for im in gt["images"]}
    for i, r in enumerate(results):
        if not isinstance(r, dict) or not {"image_id", "keypoints", "score"} <= set(r):
            raise DataError(f"result {i} needs image_id, keypoints and score (COCO keypoint results), got {r!r:.80}")
        if len(r["keypoints"]) != 3 * k:
            raise DataError(f"result {i} has {len(r['keypoints']) // 3} keypoints, result 0 {k}")
    unknown = sorted({r["image_id"] for r in results} - ids, key=str)
    if unknown:
        raise DataError(
            f"{len(unknown)} image id(s) of the results are not in {source} (e.g. {unknown[:3]}): the "
            "results were made for other images, or their ids came from file names; make them with "
            "swinpose-infer --boxes <this annotation file>, which takes the ids from it"
        )


def coco_keypoint_eval(
    gt: str | Path | dict, results: list[dict] | str | Path, sigmas: np.ndarray | None = None
) -> dict[str, float]:
    """COCO keypoint AP/AR of ``results`` against ground truth, computed by pycocotools.

    Args:
        gt: a person_keypoints JSON file or its parsed dict.
        results: COCO results (a list, or a JSON file of one).
        sigmas: (K,) OKS sigmas of the keypoint set (:meth:`runtime.keypoints.KeypointSpec.sigmas`, the package's
            or checkpoint's); None: COCO's, for K = 17.

    Returns:
        ``{name: value}`` for the names in :data:`STAT_NAMES`.
    """
    if isinstance(results, (str, Path)):
        results = json.loads(Path(results).read_text())
    if not results:
        raise DataError("no predictions to evaluate; the model produced no results")
    k = len(results[0]["keypoints"]) // 3
    sigmas = np.asarray(COCO_SIGMAS if sigmas is None else sigmas, np.float64)
    if k != len(sigmas):
        raise DataError(
            f"results have {k} keypoints but there are {len(sigmas)} OKS sigmas; pass the keypoint "
            "set's sigmas (model.json's keypoints.oks_sigmas)"
        )
    source = str(gt) if isinstance(gt, (str, Path)) else "the ground truth"
    if isinstance(gt, (str, Path)):
        try:
            gt = json.loads(Path(gt).read_text())
        except (OSError, ValueError) as e:
            raise DataError(f"cannot read the ground truth {source} ({e}); pass a COCO person_keypoints JSON") from e
    gt = checked_ground_truth(gt, source, k)
    _check_results(results, gt, source, k)
    return _cocoeval(gt, results, "keypoints", STAT_NAMES, sigmas)


def _cocoeval(
    gt: dict, results: list[dict], iou_type: str, names: tuple[str, ...], sigmas: np.ndarray | None = None
) -> dict[str, float]:
    """pycocotools' COCOeval of ``results`` against ``gt`` (``iou_type`` "keypoints" with OKS ``sigmas``, or
    "bbox"), its printed summary silenced; ``{name: value}`` of its stats."""
    try:
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
    except ImportError as e:
        raise MissingDependencyError("pycocotools", "train", "COCO evaluation") from e
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = gt
        coco.createIndex()
        ev = COCOeval(coco, coco.loadRes(results), iou_type)
        if iou_type == "keypoints":
            ev.params.useSegm = None
            ev.params.kpt_oks_sigmas = sigmas
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return {name: float(v) for name, v in zip(names, ev.stats)}


def format_table(stats: dict[str, float]) -> str:
    """A two-line table of the stats, as printed by the eval CLI."""
    names = list(stats)
    return " | ".join(f"{n:>6}" for n in names) + "\n" + " | ".join(f"{stats[n]:6.4f}" for n in names)


@dataclass
class EvalRun:
    """What :func:`evaluate_weights` produced: pycocotools stats, COCO results and the raw predictions."""

    stats: dict[str, float]
    results: list[dict]
    predictions: Predictions
    num_instances: int


def evaluate_weights(
    weights: str | Path,
    ann_file: str | Path,
    image_dir: str | Path,
    detections: str | Path | None = None,
    det_score_thr: float = 0.0,
    nms_thr: float = OKS_NMS_THR,
    flip_test: bool = True,
    sigma: float | None = None,
    batch_size: int = 32,
    device: str | None = None,
    progress: bool = True,
    model_name: str | None = None,
    input_size: tuple[int, int] | None = None,
    mmpose_config: str | Path | None = None,
) -> EvalRun:
    """Load a model file, predict every person of a COCO keypoint file and score it with pycocotools.

    ``model_name``, ``input_size`` and ``mmpose_config`` say what the file holds where it does not record it (a
    bare state dict, an MMPose checkpoint: :func:`swinpose.models.pose_io.read_pose_file`).

    GT boxes by default; with ``detections`` (COCO results JSON) the boxes come from a detector, and predictions
    are rescored and OKS-NMS'ed at ``nms_thr``.
    """
    from swinpose.data.coco import CocoKeypoints, load_coco_instances
    from swinpose.defaults import inference_from_meta
    from swinpose.models.pose_io import load_pose_file

    model, meta = load_pose_file(weights, model_name, input_size, mmpose_config)
    cfg = model.cfg
    inference = inference_from_meta(meta, cfg, str(weights))
    if sigma is not None:
        inference = dataclasses.replace(inference, codec=dataclasses.replace(inference.codec, sigma=sigma))
    instances, gt = load_coco_instances(ann_file, image_dir, cfg.num_keypoints, detections, det_score_thr)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    dataset = CocoKeypoints(instances, inference)
    pred = predict(model.to(device), dataset, inference.codec, batch_size, flip_test, device, progress=progress)
    sigmas = inference.keypoints.sigmas()
    results = to_coco_results(pred, nms_thr=nms_thr if detections else None, sigmas=sigmas)
    return EvalRun(coco_keypoint_eval(gt, results, sigmas), results, pred, len(instances))


#: the detector's box floor for evaluation (``swinpose-eval --detector``). The COCO protocol keeps every box and lets
#: AP weigh them; on the bundled detector, the boxes between 0.05 and 0.1 changed no bbox AP digit (0.6185 at both,
#: synthetic val) but were 78 % of the boxes, each one a crop for the pose model
EVAL_BOX_SCORE_THR = 0.1

#: pycocotools' bbox summary, in its order (S/M/L: areas under 32², 32²..96², over 96²; AR at 1/10/100 boxes)
BBOX_STAT_NAMES = ("AP", "AP50", "AP75", "APS", "APM", "APL", "AR1", "AR10", "AR100", "ARS", "ARM", "ARL")


def person_detections(detector: Any, ann_file: str | Path, image_dir: str | Path, progress: bool = True) -> list[dict]:
    """COCO bbox results (``image_id``, ``category_id`` of the person category, ``bbox`` x y w h, ``score``) of
    ``detector`` (a :class:`runtime.detection.Detector`) over every image of a COCO file."""
    import cv2
    from tqdm import tqdm

    data = json.loads(Path(ann_file).read_text())
    person = next((c["id"] for c in data.get("categories", []) if c.get("name") == "person"), 1)
    results: list[dict] = []
    for img in tqdm(data["images"], desc="person boxes", unit="img", disable=not progress):
        image = cv2.imread(str(Path(image_dir) / img["file_name"]), cv2.IMREAD_COLOR)
        if image is None:
            raise DataError(f"cannot read {Path(image_dir) / img['file_name']}, listed in {ann_file}")
        dets = detector(image)
        for (x1, y1, x2, y2), score in zip(dets.boxes.tolist(), dets.scores.tolist()):
            results.append(
                {
                    "image_id": int(img["id"]),
                    "category_id": person,
                    "bbox": [x1, y1, x2 - x1, y2 - y1],
                    "score": float(score),
                }
            )
    return results


def coco_bbox_eval(gt: str | Path | dict, results: list[dict]) -> dict[str, float]:
    """Person box AP/AR of COCO bbox ``results`` against a keypoint file's boxes, by pycocotools (``iouType
    "bbox"``); ``{name: value}`` for :data:`BBOX_STAT_NAMES`. No boxes at all scores 0."""
    if isinstance(gt, (str, Path)):
        gt = json.loads(Path(gt).read_text())
    if not results:
        return {name: 0.0 for name in BBOX_STAT_NAMES}
    return _cocoeval(gt, results, "bbox", BBOX_STAT_NAMES)


@dataclass
class DetectorEvalRun:
    """What :func:`evaluate_with_detector` produced: the detector's COCO boxes and their pycocotools bbox stats, and
    the keypoint runs with those boxes and with ground-truth boxes."""

    boxes: list[dict]
    box_stats: dict[str, float]
    detected: EvalRun
    ground_truth: EvalRun


def evaluate_with_detector(
    weights: str | Path,
    ann_file: str | Path,
    image_dir: str | Path,
    detector: Any,
    nms_thr: float = OKS_NMS_THR,
    progress: bool = True,
    **options: Any,
) -> DetectorEvalRun:
    """The standard protocol with a detector: its person boxes on every image (bbox AP), then the pose model's
    keypoint AP with those boxes (rescored, OKS-NMS ``nms_thr``) and with the ground-truth boxes. ``options`` go
    to :func:`evaluate_weights` (flip test, batch size, device ...)."""
    import tempfile

    boxes = person_detections(detector, ann_file, image_dir, progress)
    box_stats = coco_bbox_eval(ann_file, boxes)
    with tempfile.TemporaryDirectory(prefix="swinpose-eval-") as tmp:
        det_file = Path(tmp) / "person_boxes.json"
        det_file.write_text(json.dumps(boxes))
        detected = evaluate_weights(
            weights, ann_file, image_dir, det_file, nms_thr=nms_thr, progress=progress, **options
        )
    ground_truth = evaluate_weights(weights, ann_file, image_dir, None, progress=progress, **options)
    return DetectorEvalRun(boxes, box_stats, detected, ground_truth)
