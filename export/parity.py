"""How far an exported graph's heatmaps and decoded keypoints are from PyTorch's, on the same inputs.

Shape legend: N crops, K keypoints, h×w heatmaps. Keypoint shifts are in network-input pixels (x, y), decoded by
the package's own :class:`runtime.codec.HeatmapCodec`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from runtime.codec import HeatmapCodec
from runtime.errors import InputShapeError

__all__ = ["Parity", "compare_heatmaps"]


@dataclass(frozen=True)
class Parity:
    """Heatmap max/mean absolute error, and decoded keypoint shift max/mean in input pixels, over N crops."""

    max_abs: float
    mean_abs: float
    max_kpt_px: float
    mean_kpt_px: float
    crops: int

    def to_dict(self) -> dict[str, float]:
        return asdict(self)

    def __str__(self) -> str:
        return (
            f"max|Δheatmap| {self.max_abs:.2g}, keypoint shift max {self.max_kpt_px:.2f} px "
            f"mean {self.mean_kpt_px:.3f} px ({self.crops} crops)"
        )


def compare_heatmaps(reference: np.ndarray, heatmaps: np.ndarray, codec: HeatmapCodec) -> Parity:
    """Compare N×K×h×w ``heatmaps`` with ``reference`` (PyTorch fp32): raw values and decoded keypoints."""
    ref = np.asarray(reference, np.float32)
    got = np.asarray(heatmaps, np.float32)
    if ref.shape != got.shape:
        raise InputShapeError(f"heatmap shapes differ: {ref.shape} vs {got.shape}")
    diff = np.abs(ref - got)
    ref_xy, _ = codec.decode(ref)
    got_xy, _ = codec.decode(got)
    shift = np.linalg.norm(codec.heatmap_to_input(ref_xy) - codec.heatmap_to_input(got_xy), axis=-1)
    return Parity(float(diff.max()), float(diff.mean()), float(shift.max()), float(shift.mean()), len(ref))
