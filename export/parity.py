"""How far an exported graph's heatmaps and decoded keypoints are from PyTorch's, on the same inputs.

Shape legend: N crops, K keypoints, h×w heatmaps. Keypoint shifts are in network-input pixels (x, y), decoded by
the package's own :class:`runtime.codec.HeatmapCodec`. Shifts are reported for the *confident* keypoints (PyTorch's
heatmap peak ≥ :data:`CONFIDENT`, the usual drawing threshold) and for all of them: an occluded keypoint's flat
heatmap lets its argmax jump across the crop on a rounding difference, which says nothing about the export.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from runtime.codec import HeatmapCodec
from runtime.errors import ExportError, InputShapeError, MissingDependencyError

if TYPE_CHECKING:
    from export.calibration import CalibrationSet
    from runtime.package import InferenceSpec

__all__ = [
    "CONFIDENT",
    "AP_THRESHOLDS",
    "SHIFT_LIMITS",
    "Parity",
    "compare_heatmaps",
    "heatmap_shifts",
    "shift_limit",
    "parity_ap",
    "shift_summary",
    "FP32_GATE",
    "check_fp32",
    "MIN_AP_CROPS",
    "labelled_aps",
    "GateVerdict",
    "parity_gate",
    "enforce_gate",
]

logger = logging.getLogger(__name__)

#: a keypoint counts as confident when PyTorch's heatmap peak reaches this
CONFIDENT = 0.3
#: the largest |ΔAP| against PyTorch, in AP points, that each precision passes with (the export's gate where the
#: parity set is labelled, and swinpose-bench parity's verdict)
AP_THRESHOLDS = {"fp32": 0.0, "fp16": 0.1, "bf16": 0.3, "int8": 0.5}
#: the export's gate on the median shift of the confident keypoints, as a fraction of one heatmap pixel (the
#: network's stride in input pixels): fp16 rounding moves a peak by far less than 1/16 of a heatmap pixel, int8
#: (within its AP threshold) by well under 1/4. The median, because the argmax of a keypoint with two near-equal
#: peaks jumps on any rounding and would dominate a mean (export/README.md gives the measured figures)
SHIFT_LIMITS = {"fp16": 1 / 16, "bf16": 1 / 8, "int8": 1 / 4}
# bf16 (OpenVINO's precision hint on the fp32 graph) keeps 8 significant bits where fp16 keeps 11: its rounding is 8x
# fp16's, which scaled from fp16's limits would be 1/2 heatmap pixel and 0.8 AP, looser than int8's. bf16's limits
# sit between fp16's and int8's instead: twice fp16's shift and three times its ΔAP, which the bundled model meets
# with a margin (export/README.md)
#: the export fails if fp32 ONNX Runtime heatmaps differ from PyTorch's by more than this
FP32_GATE = 1e-3
#: the ΔAP gate needs this many labelled parity crops: one person crossing one of COCO's 10 OKS thresholds moves
#: AP by about 10/N points, 0.05 at N = 200, a tenth of the int8 limit
MIN_AP_CROPS = 200


def shift_summary(distances: np.ndarray, confident: np.ndarray) -> dict[str, float | int | None]:
    """Keypoint distances (any shape) to a reference, summarised: mean and max over all of them, and mean, median and
    max over the ``confident`` ones (the reference's score ≥ :data:`CONFIDENT`; same shape), None where none is.
    The export's :class:`Parity` and ``swinpose-bench parity`` both report through it."""
    d = np.asarray(distances, np.float64)
    sure = d[np.asarray(confident, bool)]
    return {
        "mean_px": float(d.mean()),
        "max_px": float(d.max()),
        "confident_mean_px": float(sure.mean()) if sure.size else None,
        "confident_median_px": float(np.median(sure)) if sure.size else None,
        "confident_max_px": float(sure.max()) if sure.size else None,
        "confident": int(sure.size),
    }


@dataclass(frozen=True)
class Parity:
    """Heatmap max/mean absolute error; keypoint shift max/mean/median in input pixels over the confident keypoints
    (None if there is none) and max/mean over all; how many keypoints were confident, of how many crops."""

    max_abs: float
    mean_abs: float
    max_kpt_px: float | None
    mean_kpt_px: float | None
    max_kpt_px_all: float
    mean_kpt_px_all: float
    confident_keypoints: int
    crops: int
    median_kpt_px: float | None = None

    def to_dict(self) -> dict[str, float | int | None]:
        return asdict(self)

    def __str__(self) -> str:
        if self.max_kpt_px is None:
            kpts = f"no confident keypoint (all: max shift {self.max_kpt_px_all:.2f} px)"
        else:
            kpts = (
                f"keypoint shift max {self.max_kpt_px:.2f} px mean {self.mean_kpt_px:.3f} px "
                f"over {self.confident_keypoints} confident"
            )
        return f"max|Δheatmap| {self.max_abs:.2g}, {kpts} ({self.crops} crops)"


def shift_limit(precision: str, codec: HeatmapCodec) -> float:
    """The export gate's limit on the median confident keypoint shift of ``precision``, in input pixels."""
    stride = codec.input_size[1] / codec.heatmap_size[1]
    return SHIFT_LIMITS[precision] * stride


def parity_ap(
    heatmaps: np.ndarray, codec: HeatmapCodec, keypoints: np.ndarray, areas: np.ndarray, sigmas: np.ndarray
) -> float:
    """COCO keypoint AP (0-100, pycocotools) of N×K×h×w ``heatmaps`` against labelled crops: N×K×3 ``keypoints``
    (x, y, visibility) in input pixels and N OKS ``areas`` in input pixels². Each crop is its own image and the
    score of a detection is its mean keypoint score, so runners are compared on exactly the same boxes. ``sigmas``:
    the keypoint set's K OKS sigmas (the package's)."""
    from swinpose.evaluation import coco_keypoint_eval

    if keypoints.shape[1] != len(sigmas):
        raise InputShapeError(f"parity AP needs one OKS sigma per keypoint: {len(sigmas)} for {keypoints.shape[1]}")
    xy, score = codec.decode(heatmaps)
    xy = codec.heatmap_to_input(xy)
    h, w = codec.input_size
    gt = {"images": [], "annotations": [], "categories": [{"id": 1, "name": "person"}]}
    results = []
    for i, (kp, area) in enumerate(zip(keypoints, areas)):
        gt["images"].append({"id": i, "width": w, "height": h})
        gt["annotations"].append(
            {
                "id": i + 1,
                "image_id": i,
                "category_id": 1,
                "iscrowd": 0,
                "area": float(area),
                "bbox": [0.0, 0.0, float(w), float(h)],
                "num_keypoints": int((kp[:, 2] > 0).sum()),
                "keypoints": [float(v) for v in kp.ravel()],
            }
        )
        pred = np.concatenate([xy[i], score[i][:, None]], 1)
        results.append(
            {
                "image_id": i,
                "category_id": 1,
                "keypoints": [float(v) for v in pred.ravel()],
                "score": float(score[i].mean()),
            }
        )
    return 100 * coco_keypoint_eval(gt, results, sigmas)["AP"]


def heatmap_shifts(reference: np.ndarray, heatmaps: np.ndarray, codec: HeatmapCodec) -> tuple[np.ndarray, np.ndarray]:
    """How far each decoded keypoint of N×K×h×w ``heatmaps`` lies from ``reference``'s (PyTorch fp32), in input
    pixels (N×K), and which of them the reference is confident of (N×K bool, score ≥ :data:`CONFIDENT`): what the
    gate's median shift is taken over, at export and in ``swinpose-bench parity``."""
    ref = np.asarray(reference, np.float32)
    got = np.asarray(heatmaps, np.float32)
    if ref.shape != got.shape:
        raise InputShapeError(f"heatmap shapes differ: {ref.shape} vs {got.shape}")
    ref_xy, ref_score = codec.decode(ref)
    got_xy, _ = codec.decode(got)
    shift = np.linalg.norm(codec.heatmap_to_input(ref_xy) - codec.heatmap_to_input(got_xy), axis=-1)
    return shift, ref_score >= CONFIDENT


def compare_heatmaps(reference: np.ndarray, heatmaps: np.ndarray, codec: HeatmapCodec) -> Parity:
    """Compare N×K×h×w ``heatmaps`` with ``reference`` (PyTorch fp32): raw values and decoded keypoints."""
    shift, confident = heatmap_shifts(reference, heatmaps, codec)
    ref = np.asarray(reference, np.float32)
    diff = np.abs(ref - np.asarray(heatmaps, np.float32))
    s = shift_summary(shift, confident)
    return Parity(
        max_abs=float(diff.max()),
        mean_abs=float(diff.mean()),
        max_kpt_px=s["confident_max_px"],
        mean_kpt_px=s["confident_mean_px"],
        max_kpt_px_all=s["max_px"],
        mean_kpt_px_all=s["mean_px"],
        confident_keypoints=s["confident"],
        crops=len(ref),
        median_kpt_px=s["confident_median_px"],
    )


def check_fp32(parity: Parity) -> None:
    """Raise :class:`ExportError` when the fp32 graph's heatmaps miss :data:`FP32_GATE` (then the export itself is
    wrong, whatever the precision asked for)."""
    if parity.max_abs > FP32_GATE:
        raise ExportError(
            f"ONNX Runtime's fp32 heatmaps differ from PyTorch's by {parity.max_abs:.3g} (> {FP32_GATE}) on "
            f"{parity.crops} crops; the export is wrong: report it with the checkpoint's config"
        )


def labelled_aps(
    parity_set: CalibrationSet, reference: np.ndarray, heatmaps: np.ndarray, inference: InferenceSpec
) -> tuple[float, float] | None:
    """(PyTorch's AP, the graph's AP) on a labelled COCO parity set, with the model's OKS sigmas, else None (also
    without pycocotools, which the export extra does not pull, or for a keypoint set without OKS sigmas)."""
    if not parity_set.labelled or not inference.keypoints.oks_sigmas:
        return None
    keypoints, areas, codec = parity_set.keypoints, parity_set.areas, inference.codec
    sigmas = inference.keypoints.sigmas()
    try:
        return (
            parity_ap(reference, codec, keypoints, areas, sigmas),
            parity_ap(heatmaps, codec, keypoints, areas, sigmas),
        )
    except (MissingDependencyError, InputShapeError) as e:
        logger.info("parity: no ΔAP on the labelled parity crops (%s)", e)
        return None


@dataclass
class GateVerdict:
    """What :func:`parity_gate` decided: ``record`` for model.json (``passed`` True, False, or None where not
    judged), the ``misses`` that fail the gate, and the ``notes`` (logging level, message) worth telling."""

    precision: str
    record: dict[str, Any]
    misses: list[str] = field(default_factory=list)
    notes: list[tuple[int, str]] = field(default_factory=list)


def parity_gate(
    precision: str, parity: Parity, codec: HeatmapCodec, aps: tuple[float, float] | None, judged: bool = True
) -> GateVerdict:
    """Judge an fp16/int8 graph's parity against PyTorch, without side effects: the median shift of the confident
    keypoints within :func:`shift_limit`, and, on a labelled parity set (``aps`` = PyTorch's and the graph's AP),
    |ΔAP| within :data:`AP_THRESHOLDS` (judged from :data:`MIN_AP_CROPS` crops on). ``judged`` False (random
    weights: no model to keep) records the figures and decides nothing. :func:`enforce_gate` acts on it."""
    limit = shift_limit(precision, codec)
    record: dict[str, Any] = {"median_confident_shift_limit_px": limit, "delta_ap_limit": AP_THRESHOLDS[precision]}
    if aps is not None:
        record.update(ap_pytorch=aps[0], ap=aps[1], delta_ap=aps[0] - aps[1])
    verdict = GateVerdict(precision, record)
    if not judged:
        record.update(passed=None, why="random weights: a package to time, not to use")
        return verdict
    if parity.median_kpt_px is None:
        verdict.notes.append(
            (
                logging.WARNING,
                f"parity: no confident keypoint in the {parity.crops} parity crops; the "
                "shift gate cannot judge them, pass --parity-data with person images",
            )
        )
    elif parity.median_kpt_px > limit:
        verdict.misses.append(
            f"the confident keypoints moved {parity.median_kpt_px:.3f} px (median) against PyTorch (limit "
            f"{limit:.3f} px, {parity.confident_keypoints} keypoints on {parity.crops} crops)"
        )
    if aps is not None and parity.crops < MIN_AP_CROPS:
        record["delta_ap_judged"] = False
        note = (
            f"parity: ΔAP {aps[0] - aps[1]:.2f} on {parity.crops} labelled crops is not judged (one person crossing "
            f"one OKS threshold moves AP by about {10 / parity.crops:.1f} points); --parity-crops {MIN_AP_CROPS} or "
            "more gates on it"
        )
        verdict.notes.append((logging.INFO, note))
    elif aps is not None and abs(aps[0] - aps[1]) > AP_THRESHOLDS[precision]:
        verdict.misses.append(
            f"AP {aps[1]:.2f} against PyTorch's {aps[0]:.2f} on the {parity.crops} labelled parity "
            f"crops (|ΔAP| {abs(aps[0] - aps[1]):.2f} > {AP_THRESHOLDS[precision]})"
        )
    record["passed"] = not verdict.misses
    return verdict


def enforce_gate(verdict: GateVerdict, enforce: bool = True) -> dict[str, Any]:
    """Tell the verdict's notes, and raise :class:`ExportError` on a miss unless ``enforce`` is False (``--no-gate``:
    a warning instead). Returns the record for model.json."""
    for level, message in verdict.notes:
        logger.log(level, "%s", message)
    if verdict.misses and enforce:
        fix = (
            "recalibrate on more images like the deployment's (--calib-data, --calib-size), try --calib-method "
            "percentile, or keep more nodes in fp32; --no-gate writes the package anyway"
            if verdict.precision == "int8"
            else "report it with the model's config; --no-gate writes the package anyway"
        )
        raise ExportError(
            f"the {verdict.precision} graph misses its parity gate: {'; '.join(verdict.misses)}. "
            f"Nothing was written: {fix}"
        )
    if verdict.misses:
        logger.warning("parity gate missed (--no-gate, written anyway): %s", "; ".join(verdict.misses))
    return verdict.record
