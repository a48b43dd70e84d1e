"""The export's parity gate as a pure function (export.parity.parity_gate / enforce_gate), the crops it judges
(export.calibration.export_crops) and the usage errors of the counts that choose them. Limits are hand-computed
from export.parity's constants: a 128x96 input with 32x24 heatmaps has a stride of 4 input pixels."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from export.calibration import export_crops
from export.cli import main
from export.parity import AP_THRESHOLDS, MIN_AP_CROPS, Parity, enforce_gate, parity_gate
from runtime.codec import HeatmapCodec
from runtime.errors import DataError, ExportError
from swinpose.defaults import inference_for_codec

CODEC = HeatmapCodec((128, 96), (32, 24), 1.5)  # stride 4
PRE = inference_for_codec(CODEC).preprocess


def _parity(median: float | None, crops: int = 32) -> Parity:
    return Parity(
        max_abs=0.01,
        mean_abs=0.001,
        max_kpt_px=median,
        mean_kpt_px=median,
        max_kpt_px_all=3.0,
        mean_kpt_px_all=0.5,
        confident_keypoints=0 if median is None else 100,
        crops=crops,
        median_kpt_px=median,
    )


def test_the_limits_are_a_fraction_of_the_heatmap_stride():
    record = parity_gate("int8", _parity(0.5), CODEC, None).record
    assert record == {"median_confident_shift_limit_px": 1.0, "delta_ap_limit": 0.5, "passed": True}  # 4 px / 4
    assert parity_gate("fp16", _parity(0.1), CODEC, None).record["median_confident_shift_limit_px"] == 0.25  # 4 / 16


def test_a_shift_beyond_the_limit_misses_and_enforce_refuses_it():
    verdict = parity_gate("int8", _parity(1.5), CODEC, None)
    assert verdict.record["passed"] is False and len(verdict.misses) == 1
    assert "moved 1.500 px (median) against PyTorch (limit 1.000 px, 100 keypoints on 32 crops)" in verdict.misses[0]
    with pytest.raises(ExportError, match=r"int8 graph misses its parity gate.*Nothing was written: recalibrate"):
        enforce_gate(verdict)
    fp16 = parity_gate("fp16", _parity(0.3), CODEC, None)
    with pytest.raises(ExportError, match=r"fp16 graph misses.*report it with the model's config; --no-gate"):
        enforce_gate(fp16)


def test_no_gate_returns_the_miss_with_a_warning(caplog):
    verdict = parity_gate("int8", _parity(1.5), CODEC, None)
    with caplog.at_level(logging.WARNING, logger="export.parity"):
        record = enforce_gate(verdict, enforce=False)
    assert record["passed"] is False and "parity gate missed (--no-gate, written anyway)" in caplog.text


def test_delta_ap_is_judged_only_from_enough_labelled_crops(caplog):
    aps = (80.0, 79.0)  # |ΔAP| 1.0 > int8's 0.5
    small = parity_gate("int8", _parity(0.5, crops=MIN_AP_CROPS - 1), CODEC, aps)
    assert small.record["passed"] is True and small.record["delta_ap_judged"] is False
    assert small.record["delta_ap"] == pytest.approx(1.0) and small.record["ap_pytorch"] == 80.0
    assert [level for level, _ in small.notes] == [logging.INFO]
    with caplog.at_level(logging.INFO, logger="export.parity"):
        enforce_gate(small)  # told, not refused
    assert f"--parity-crops {MIN_AP_CROPS} or more gates on it" in caplog.text
    large = parity_gate("int8", _parity(0.5, crops=MIN_AP_CROPS), CODEC, aps)
    assert large.record["passed"] is False and "delta_ap_judged" not in large.record
    assert large.misses == [
        f"AP 79.00 against PyTorch's 80.00 on the {MIN_AP_CROPS} labelled parity crops (|ΔAP| "
        f"1.00 > {AP_THRESHOLDS['int8']})"
    ]
    assert parity_gate("int8", _parity(0.5, crops=MIN_AP_CROPS), CODEC, (80.0, 79.6)).record["passed"] is True


def test_no_confident_keypoint_cannot_be_judged_on_shift():
    verdict = parity_gate("fp16", _parity(None), CODEC, None)
    assert verdict.record["passed"] is True and not verdict.misses
    assert verdict.notes[0][0] == logging.WARNING and "pass --parity-data with person images" in verdict.notes[0][1]


def test_random_weights_are_recorded_not_judged():
    verdict = parity_gate("int8", _parity(9.0), CODEC, (80.0, 10.0), judged=False)
    assert verdict.record["passed"] is None and "random weights" in verdict.record["why"] and not verdict.misses
    assert enforce_gate(verdict) is verdict.record  # nothing to refuse


def test_parity_crops_are_held_out_of_the_calibration_crops(synthetic_root):
    ann = synthetic_root / "annotations" / "person_keypoints_train.json"
    calib, parity = export_crops(ann, None, 10, 4, PRE, progress=False)
    assert len(calib) == 10 and len(parity) == 4 and parity.labelled
    assert not any(np.array_equal(p, c) for p in parity.crops for c in calib.crops)  # held out
    calib, parity = export_crops(ann, None, 1, 4, PRE, progress=False)  # 5 read, fewer than 2 x 4: shared
    assert len(calib) == 5 and len(parity) == 4 and np.array_equal(calib.crops[-4:], parity.crops)
    none, synthetic = export_crops(None, None, 256, 3, PRE)
    assert none is None and len(synthetic) == 3 and synthetic.source.startswith("synthetic figures")
    with pytest.raises(DataError, match="at least 1 calibration and 1 parity crop, got 8 and 0"):
        export_crops(ann, None, 8, 0, PRE, progress=False)


@pytest.mark.parametrize("flag", ["--parity-crops", "--calib-size"])
def test_zero_crops_are_a_usage_error(flag, tmp_path, capsys):
    with pytest.raises(SystemExit) as done:
        main(["--weights", "bundled", "--out", str(tmp_path / "pk"), flag, "0"])
    assert done.value.code == 2
    assert f"argument {flag}: 0 must be above 0" in capsys.readouterr().err
    assert not (tmp_path / "pk").exists()
