"""How far an exported graph's heatmaps and decoded keypoints are from PyTorch's, on the same inputs.

Shape legend: N crops, K keypoints, h×w heatmaps. Keypoint shifts are in network-input pixels (x, y), decoded by
the package's own :class:`runtime.codec.HeatmapCodec`. Shifts are reported for the *confident* keypoints (PyTorch's
heatmap peak ≥ :data:`CONFIDENT`, the usual drawing threshold) and for all of them: an occluded keypoint's flat
heatmap lets its argmax jump across the crop on a rounding difference, which says nothing about the export.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from runtime.codec import HeatmapCodec
from runtime.errors import InputShapeError

__all__ = [
    "CONFIDENT",
    "AP_THRESHOLDS",
    "SHIFT_LIMITS",
    "Parity",
    "compare_heatmaps",
    "shift_limit",
    "parity_ap",
    "shift_summary",
]

#: a keypoint counts as confident when PyTorch's heatmap peak reaches this
CONFIDENT = 0.3
#: the largest |ΔAP| against PyTorch, in AP points, that each precision passes with (the export's gate where the
#: parity set is labelled, and swinpose-bench parity's verdict)
AP_THRESHOLDS = {"fp32": 0.0, "fp16": 0.1, "int8": 0.5}
#: the export's gate on the median shift of the confident keypoints, as a fraction of one heatmap pixel (the
#: network's stride in input pixels): fp16 rounding moves a peak by far less than 1/16 of a heatmap pixel, int8
#: (within its AP threshold) by well under 1/4. The median, because the argmax of a keypoint with two near-equal
#: peaks jumps on any rounding and would dominate a mean (export/README.md gives the measured figures)
SHIFT_LIMITS = {"fp16": 1 / 16, "int8": 1 / 4}


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
        gt["annotations"].append({"id": i + 1, "image_id": i, "category_id": 1, "iscrowd": 0, "area": float(area),
                                  "bbox": [0.0, 0.0, float(w), float(h)], "num_keypoints": int((kp[:, 2] > 0).sum()),
                                  "keypoints": [float(v) for v in kp.ravel()]})  # fmt: skip
        pred = np.concatenate([xy[i], score[i][:, None]], 1)
        results.append({"image_id": i, "category_id": 1, "keypoints": [float(v) for v in pred.ravel()],
                        "score": float(score[i].mean())})  # fmt: skip
    return 100 * coco_keypoint_eval(gt, results, sigmas)["AP"]


def compare_heatmaps(reference: np.ndarray, heatmaps: np.ndarray, codec: HeatmapCodec) -> Parity:
    """Compare N×K×h×w ``heatmaps`` with ``reference`` (PyTorch fp32): raw values and decoded keypoints."""
    ref = np.asarray(reference, np.float32)
    got = np.asarray(heatmaps, np.float32)
    if ref.shape != got.shape:
        raise InputShapeError(f"heatmap shapes differ: {ref.shape} vs {got.shape}")
    diff = np.abs(ref - got)
    ref_xy, ref_score = codec.decode(ref)
    got_xy, _ = codec.decode(got)
    shift = np.linalg.norm(codec.heatmap_to_input(ref_xy) - codec.heatmap_to_input(got_xy), axis=-1)
    s = shift_summary(shift, ref_score >= CONFIDENT)
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
