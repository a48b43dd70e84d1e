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

__all__ = ["CONFIDENT", "Parity", "compare_heatmaps"]

#: a keypoint counts as confident when PyTorch's heatmap peak reaches this
CONFIDENT = 0.3


@dataclass(frozen=True)
class Parity:
    """Heatmap max/mean absolute error; keypoint shift max/mean in input pixels over the confident keypoints (None
    if there is none) and over all; how many keypoints were confident, of how many crops."""

    max_abs: float
    mean_abs: float
    max_kpt_px: float | None
    mean_kpt_px: float | None
    max_kpt_px_all: float
    mean_kpt_px_all: float
    confident_keypoints: int
    crops: int

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
    sure = shift[ref_score >= CONFIDENT]
    return Parity(
        max_abs=float(diff.max()),
        mean_abs=float(diff.mean()),
        max_kpt_px=float(sure.max()) if sure.size else None,
        mean_kpt_px=float(sure.mean()) if sure.size else None,
        max_kpt_px_all=float(shift.max()),
        mean_kpt_px_all=float(shift.mean()),
        confident_keypoints=int(sure.size),
        crops=len(ref),
    )
