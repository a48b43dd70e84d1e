"""swinpose-bench: latency and parity reports on the bundled model's packages, their schemas, skip reasons, agreement
AP against hand-computed values, and the exit code of a failing parity threshold."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest

from benchmarks.cli import PARITY_FAILED, main
from benchmarks.floor import Ceilings, floor_ms, model_work
from benchmarks.latency import LatencySettings, _one_engine_open, run_latency
from benchmarks.parity import agreement_gt, coco_ap, compare, run_parity
from benchmarks.report import console, markdown, schema_problems, to_csv
from benchmarks.runners import Combo
from runtime.keypoints import COCO_SIGMAS
from runtime.results import Predictions
from swinpose.data.coco import CocoInstance
from swinpose.models.registry import get_config

#: fixed ceilings (GFLOP/s, GB/s), so that the latency tests do not spend seconds measuring the machine
CEILINGS = Ceilings({"fp32": 200.0, "fp16": 100.0, "int8": 800.0}, 25.0, {"fp32": {"fixed": 200.0}})


@pytest.fixture(scope="module")
def latency_report(bundled_packages):
    settings = LatencySettings(batches=[1, 2], warmup=1, iters=3, threads=2, people=3)
    return run_latency(bundled_packages["fp32"].parent, settings, ceilings=CEILINGS, progress=False)


def test_latency_report_follows_its_schema_and_skips_with_reasons(latency_report):
    assert schema_problems(latency_report) == []
    rows = {(r["backend"], r["precision"], r["batch"]): r for r in latency_report["rows"]}
    ok = [k for k, r in rows.items() if r["status"] == "ok"]
    assert sorted(ok) == sorted(
        (b, p, n)
        for b, p in [("torch", "fp32"), ("onnxruntime", "fp32"), ("onnxruntime", "fp16"), ("onnxruntime", "int8")]
        for n in (1, 2)
    )
    skipped = {k[:2]: r["reason"] for k, r in rows.items() if r["status"] == "skipped"}
    assert set(skipped) == {
        ("torch", "fp16"),
        ("torch", "int8"),
        ("tensorrt", "fp32"),
        ("tensorrt", "fp16"),
        ("tensorrt", "int8"),
    }
    assert "GPU" in skipped[("torch", "fp16")] and "--device cuda:0" in skipped[("tensorrt", "int8")]
    assert rows[("torch", "fp32", 1)]["speedup_vs_torch_fp32"] == 1.0  # the eager baseline is always a row
    for key in ok:
        r = rows[key]
        assert 0 < r["median_ms"] <= r["p90_ms"] <= r["p99_ms"] and r["runs"] == 3
        assert r["images_per_s"] == pytest.approx(1e3 * r["batch"] / r["median_ms"])
        # the floor is a model of this machine, not a bound a timing must respect: only the ratio is checked
        assert r["x_floor"] == pytest.approx(r["median_ms"] / r["floor_ms"]) and r["x_floor"] > 0
    pipeline = [r for r in latency_report["pipeline"] if r["status"] == "ok"]
    assert len(pipeline) == 4 and all(r["people"] == 3 for r in pipeline)
    for r in pipeline:  # stage medians and the frame's are timed in different calls: no timing bound between them
        assert min(r["preprocess_ms"], r["inference_ms"], r["decode_ms"]) > 0 and r["frame_ms"] > 0
        assert r["pre_decode_share"] == pytest.approx((r["preprocess_ms"] + r["decode_ms"]) / r["frame_ms"])
        assert r["per_person_ms"] == pytest.approx(r["frame_ms"] / 3) and r["frame_ms"] <= r["frame_p90_ms"]
    assert latency_report["machine"]["logical_cores"] >= 1 and "onnxruntime" in latency_report["versions"]


def test_latency_frame_rows_time_the_detector_and_the_pose_engine(bundled_packages, tmp_path):
    """--detector adds the rows from pixels: the detector's three stages (shared by every row) and the pose engine on
    1 and 3 people; the frame is the sum of their medians."""
    from export.detector import DetectorExportOptions, export_detector

    export_detector("bundled", tmp_path / "det", DetectorExportOptions(engine=False, progress=False))
    settings = LatencySettings(
        backends=["onnxruntime"],
        precisions=["fp32"],
        batches=[1],
        warmup=1,
        iters=2,
        threads=2,
        detector=str(tmp_path / "det"),
        frame_people=[1, 3],
    )
    report = run_latency(bundled_packages["fp32"].parent, settings, ceilings=CEILINGS, progress=False)
    assert schema_problems(report) == []
    frame = report["frame"]
    assert [(r["people"], r["status"]) for r in frame] == [(1, "ok"), (3, "ok")]
    stages = ("det_preprocess_ms", "det_inference_ms", "det_postprocess_ms")
    assert all(frame[0][k] == frame[1][k] > 0 for k in stages)
    for r in frame:
        assert r["frame_ms"] == pytest.approx(sum(r[k] for k in stages) + r["pose_ms"])
        assert r["pose_ms_per_person"] == pytest.approx(r["pose_ms"] / r["people"])
    assert "From pixels, with the detector" in console(report) and "det_inference_ms" in to_csv(report)


def test_latency_times_each_onnxruntime_engine_with_the_others_closed():
    class Engine:  # what Combo needs of a PoseEngine
        def __init__(self, log, name):
            self.log, self.name, self.open = log, name, True
            log.append(f"open {name}")

        def close(self):
            self.open = False
            self.log.append(f"close {self.name}")

    log: list[str] = []
    combos = [Combo("onnxruntime", p, Engine(log, p), reopen=lambda p=p: Engine(log, p)) for p in ("fp32", "int8")]
    combos.append(Combo("torch", "fp32", Engine(log, "torch")))  # no reopen: stays open
    one_open = _one_engine_open(combos)
    seen = []
    calls = {i: one_open.wrap(i, lambda i=i: seen.append([c.engine is not None for c in combos])) for i in range(3)}
    del log[:]
    for i in (0, 0, 1, 2, 0, 1):
        calls[i]()
    fp32, int8, torch = [True, False, True], [False, True, True], [False, False, True]  # which engines are open
    assert seen == [fp32, fp32] + [int8] * 3 + [torch] + [fp32] * 3 + [int8] * 3  # a reopened one: 2 warm-up calls
    assert log == ["close int8", "close fp32", "open int8", "close int8", "open fp32", "close fp32", "open int8"]
    assert combos[1].resume() is combos[1].engine and combos[1].engine.open


def test_schema_problems_name_what_is_wrong(latency_report):
    broken = json.loads(json.dumps(latency_report))
    del broken["machine"]["cpu"]
    broken["rows"][0]["median_ms"] = "fast"
    skipped = next(r for r in broken["rows"] if r["status"] == "skipped")
    del skipped["reason"]
    problems = schema_problems(broken)
    assert "machine.cpu is missing" in problems and "rows[0].median_ms is str" in problems
    assert any(p.endswith("reason is missing") for p in problems)
    assert schema_problems({"schema": "nope"})[0].startswith("unknown schema")


def test_reports_render_as_table_markdown_and_csv(latency_report, tmp_path):
    text = console(latency_report)
    assert "Inference latency" in text and "skipped: TensorRT runs on a GPU" in text
    md = markdown(latency_report)
    assert md[0].startswith("Machine:") and any(line.startswith("| onnxruntime | int8 | 1 |") for line in md)
    from benchmarks.report import to_csv

    rows = list(csv.DictReader(to_csv(latency_report).splitlines()))
    assert len(rows) == len(latency_report["rows"]) + len(latency_report["pipeline"])
    assert {r["table"] for r in rows} == {"rows", "pipeline"}


def test_floor_is_work_over_the_ceiling():
    work = model_work(get_config("swinpose_t_256x192"))
    assert 5.5 < work.flops / 2e9 < 5.7  # GMAC, as the README's model table counts
    assert floor_ms(work, CEILINGS, "fp32") == pytest.approx(1e3 * work.flops / 200e9)
    assert floor_ms(work, CEILINGS, "fp16") == floor_ms(work, CEILINGS, "fp32")  # fp16 may run in fp32
    assert floor_ms(work, CEILINGS, "int8", batch=4) == pytest.approx(4e3 * work.flops / 800e9)
    slow_memory = Ceilings({"fp32": 1e6, "int8": 1e6}, 1.0)
    assert floor_ms(work, slow_memory, "int8") == pytest.approx(1e3 * work.params / 1e9)  # reading the weights


def _one_person(area: float) -> tuple[dict, CocoInstance, Predictions]:
    rng = np.random.default_rng(0)
    xy = rng.uniform(20, 80, (17, 2))
    inst = CocoInstance(1, None, np.array([10.0, 10.0, 80.0, 90.0]), np.zeros((17, 3)), 1.0, 7)
    gt = {
        "images": [{"id": 1, "width": 100, "height": 100}],
        "annotations": [{"id": 7, "area": area}],
        "categories": [{"id": 1, "name": "person"}],
    }
    return gt, inst, Predictions(xy[None], np.ones((1, 17), np.float32), np.array([1]), np.ones(1), np.ones(1))


def test_agreement_ap_is_100_against_itself_and_drops_as_keypoints_move():
    """One person, every keypoint moved by d px: OKS = mean_k exp(-d² / (2·area·(2σ_k)²)), and COCO AP counts the
    OKS thresholds 0.50, 0.55 … 0.95 it clears. d is solved for OKS 0.72: 5 of 10 thresholds, AP 50."""
    area = 3000.0
    gt, inst, reference = _one_person(area)
    agreement = agreement_gt(reference, [inst], gt)
    assert agreement["annotations"][0]["area"] == area and agreement["annotations"][0]["num_keypoints"] == 17
    assert coco_ap(agreement, reference) == pytest.approx(1.0)

    def oks(d: float) -> float:
        return float(np.mean(np.exp(-(d**2) / (2 * area * (2 * COCO_SIGMAS) ** 2))))

    lo, hi = 0.0, 100.0
    for _ in range(100):  # bisection: oks falls with d
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if oks(mid) > 0.72 else (lo, mid)
    d = 0.5 * (lo + hi)
    direction = np.array([math.cos(0.3), math.sin(0.3)])
    moved = Predictions(
        reference.keypoints + d * direction,
        *[getattr(reference, f) for f in ("scores", "image_ids", "box_scores", "areas")],
    )
    assert coco_ap(agreement, moved) == pytest.approx(0.5)
    far = Predictions(
        reference.keypoints + 100 * direction,
        *[getattr(reference, f) for f in ("scores", "image_ids", "box_scores", "areas")],
    )
    assert coco_ap(agreement, far) == 0.0


def test_a_row_passes_only_within_both_its_ap_and_its_shift_limit():
    """The verdict of one row: the same keypoints as PyTorch (AP 100 against PyTorch's own keypoints, ΔAP 0) pass or
    fail on the crop shift alone, against the limit given; fp32 rows (no limit) and rows with no confident keypoint
    are judged on ΔAP alone, and a ΔAP of 1 point fails bf16's 0.3 whatever the shift."""
    _, inst, reference = _one_person(3000.0)
    gt = agreement_gt(reference, [inst], _one_person(3000.0)[0])  # PyTorch's keypoints as the ground truth
    assert coco_ap(gt, reference) == pytest.approx(1.0)

    def verdict(median, limit, precision="bf16", reference_ap=1.0):
        shift = {"confident_median_px": median, "confident_max_px": median, "confident": 17 if median else 0}
        row = compare(
            "openvino",
            precision,
            reference,
            reference,
            gt,
            reference_ap,
            gt,
            0.0,
            crop_shift=shift,
            shift_limit_px=limit,
        )
        return row.passed

    assert verdict(0.49, 0.5) and verdict(0.5, 0.5) and not verdict(0.51, 0.5)
    assert verdict(3.0, None, "fp32") and verdict(None, 0.5)
    assert verdict(0.1, 0.5, reference_ap=0.998) and not verdict(0.1, 0.5, reference_ap=0.99)  # ΔAP 0.2, 1.0


def test_a_backend_compared_with_itself_agrees_completely(bundled_packages, synthetic_root):
    ann = synthetic_root / "annotations" / "person_keypoints_val.json"
    report = run_parity(
        bundled_packages["fp32"], ann, synthetic_root / "val", backends=("torch",), precisions=("fp32",), progress=False
    )
    assert schema_problems(report) == []
    (row,) = report["rows"]
    assert (row["backend"], row["delta_ap"], row["agreement_ap"], row["max_heatmap_error"]) == ("torch", 0, 100, 0)
    assert row["shift"]["max_px"] == 0 and report["verdict"] == "PASS"
    assert report["reference"]["self_agreement_ap"] == 100.0


def test_parity_cli_fails_with_its_exit_code_when_a_threshold_is_missed(
    bundled_packages, card_val_root, card_parity, synthetic_root, tmp_path, capsys
):
    """int8 moves the card val AP by about 0.1 point: a 0 limit fails it (exit 3), the default 0.5 passes it (the
    session's card_parity report is that run with the default limits, so PyTorch goes over the card once here)."""
    common = [
        "parity",
        "--package",
        str(bundled_packages["fp32"].parent),
        "--backends",
        "onnxruntime",
        "--precisions",
        "int8",
        "--quiet",
    ]
    card = [
        "--data",
        str(card_val_root / "annotations" / "person_keypoints_val.json"),
        "--images",
        str(card_val_root / "val"),
    ]
    assert main([*common, *card, "--int8-max-delta", "0", "--out", str(tmp_path / "out")]) == PARITY_FAILED
    report = json.loads((tmp_path / "out" / "parity.json").read_text())
    assert report["verdict"] == "FAIL" and schema_problems(report) == []
    assert "AP parity against PyTorch fp32: FAIL" in capsys.readouterr().out
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "parity.csv",
        "parity.json",
        "parity.md",
        "parity.png",
    ]
    (int8,) = [r for r in card_parity["rows"] if r["precision"] == "int8"]
    assert int8["passed"] and int8["threshold"] == 0.5 and 0 < abs(int8["delta_ap"]) <= 0.5
    # the export gate's shift limit, 1/4 of a heatmap pixel at stride 4 (128×96 → 32×24), judged on 409 persons
    assert int8["shift_limit_px"] == 1.0 and 0 < int8["crop_shift"]["confident_median_px"] <= 1.0
    (fp32,) = [r for r in card_parity["rows"] if r["precision"] == "fp32"]
    assert fp32["shift_limit_px"] is None and fp32["crop_shift"]["confident_max_px"] < 1e-3
    small = [
        "--data",
        str(synthetic_root / "annotations" / "person_keypoints_val.json"),
        "--images",
        str(synthetic_root / "val"),
        "--json",
        str(tmp_path / "pass.json"),
    ]
    assert main([*common, *small, "--int8-max-delta", "100"]) == 0  # a passing verdict exits 0
    assert json.loads((tmp_path / "pass.json").read_text())["verdict"] == "PASS"


def test_cli_errors_are_one_line(bundled_packages, tmp_path, capsys):
    assert main(["latency", "--package", str(tmp_path)]) == 1
    assert "holds no model package" in capsys.readouterr().err
    assert main(["latency", "--package", str(bundled_packages["fp32"]), "--backends", "tflite"]) == 1
    assert "choose from torch, torch-compile, onnxruntime, openvino, tensorrt" in capsys.readouterr().err
    assert main(["latency", "--package", str(bundled_packages["fp32"]), "--batch", "0"]) == 1
    assert "--batch" in capsys.readouterr().err
    with pytest.raises(SystemExit) as usage:
        main(["latency"])
    assert usage.value.code == 2


def test_ort_profile_shows_the_int8_kernels(bundled_packages, capsys):
    """The int8 recipe as ONNX Runtime runs it: int8 GEMMs for the linear layers, QLinearConv for the convs (conv
    outputs are quantized), and float MatMuls for the attention (kept fp32)."""
    from benchmarks.profile_ort import main as profile_main
    from benchmarks.profile_ort import profile_package

    ops = profile_package(bundled_packages["int8"], threads=2, runs=2)
    assert {"MatMulIntegerToFloat", "QLinearConv", "MatMul"} <= set(ops)
    assert "FusedConv" not in ops and all(v["ms"] > 0 and v["nodes"] >= 1 for v in ops.values())
    assert profile_main(["--package", str(bundled_packages["fp32"]), "--runs", "2"]) == 0
    assert "in GEMM-like kernels" in capsys.readouterr().out
