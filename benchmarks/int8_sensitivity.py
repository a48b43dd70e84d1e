"""Which nodes the int8 graph leaves in fp32, and which calibration method: AP, parity and CPU latency of each choice.

Backs the choices in :mod:`export.precision` (``INT8_OP_TYPES``, the ``head`` exclusion, ``minmax``). Calibrates on
the train split, scores on the val split (GT boxes, flip test, pycocotools), compares heatmaps with PyTorch on val
crops and times ONNX Runtime at batch 1::

    python -m benchmarks.int8_sensitivity --data DATA_ROOT --out benchmarks/results/int8_sensitivity.md

``DATA_ROOT`` is a COCO-layout folder (``swinpose-synth --out DATA_ROOT`` makes the bundled model's).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from benchmarks._markdown import emit
from benchmarks.timing import time_onnx_apart
from export.calibration import CalibrationSet, load_calibration_set
from export.onnx_export import INPUT_NAME, export_onnx, ort_session
from export.parity import compare_heatmaps
from export.precision import (
    INT8_KEEP_FP32,
    INT8_OP_TYPES,
    INT8_OUTPUT_OP_TYPES,
    int8_excluded_nodes,
    quantize_int8,
    to_fp16,
)
from runtime.codec import HeatmapCodec
from runtime.exitcodes import nonnegative_int, positive_int
from swinpose.data.coco import CocoKeypoints, find_split, load_coco_instances
from swinpose.defaults import inference_from_meta, inference_spec
from swinpose.evaluation import coco_keypoint_eval, predict, to_coco_results
from swinpose.models.pose_io import load_pose_file, resolve_weights
from swinpose.models.registry import create_model


class OrtModule(torch.nn.Module):
    """An ONNX Runtime session behind ``nn.Module.forward``, so that :func:`swinpose.evaluation.predict` can run it."""

    def __init__(self, session) -> None:
        super().__init__()
        self.session = session

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(self.session.run(None, {INPUT_NAME: x.numpy()})[0])


def study_parser(description: str) -> argparse.ArgumentParser:
    """The arguments every int8 study takes: the weights, the COCO-layout data root, calibration crops, threads."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--weights", default="bundled")
    p.add_argument("--data", type=Path, required=True, help="COCO-layout root with train and val splits")
    p.add_argument("--calib-size", type=positive_int, default=256)
    p.add_argument("--threads", type=nonnegative_int, default=2)
    p.add_argument("--out", type=Path)
    return p


@dataclass
class Study:
    """The model, its codec, calibration crops of the train split, and the val split to score (GT boxes)."""

    model: torch.nn.Module
    codec: HeatmapCodec
    train_ann: Path
    val_ann: Path
    calib: CalibrationSet
    instances: list
    gt: dict
    dataset: CocoKeypoints


def load_study(args: argparse.Namespace) -> Study:
    torch.set_num_threads(args.threads)
    model, meta = load_pose_file(resolve_weights(args.weights))
    cfg = model.cfg
    inference = inference_from_meta(meta, cfg, str(args.weights))
    train_ann, _ = find_split(args.data, "train")
    val_ann, val_images = find_split(args.data, "val")
    calib = load_calibration_set(train_ann, inference.preprocess, args.calib_size)
    instances, gt = load_coco_instances(val_ann, val_images, cfg.num_keypoints)
    return Study(model, inference.codec, train_ann, val_ann, calib, instances, gt, CocoKeypoints(instances, inference))


def main(argv: list[str] | None = None) -> int:
    p = study_parser(__doc__.split("\n\n")[0])
    p.add_argument("--parity-crops", type=positive_int, default=128)
    p.add_argument(
        "--speed-model",
        default="swinpose_t_256x192",
        help="registered model (random weights) whose ONNX Runtime latency each choice also reports; '' to skip",
    )
    args = p.parse_args(argv)
    st = load_study(args)
    model, cfg, codec, calib = st.model, st.model.cfg, st.codec, st.calib
    instances, gt, dataset, train_ann = st.instances, st.gt, st.dataset, st.train_ann
    val = load_calibration_set(st.val_ann, st.calib.preprocess, args.parity_crops, seed=1).inputs()
    with torch.inference_mode():
        reference = model(torch.from_numpy(val)).numpy()

    fp32 = export_onnx(model)
    speed = None
    if args.speed_model:
        big = create_model(args.speed_model).eval()
        big_pre = inference_spec(big.cfg).preprocess
        speed = (export_onnx(big), load_calibration_set(train_ann, big_pre, 32), big.cfg.input_size)
    all_qdq = (
        "Conv",
        "MatMul",
        "Gemm",
        "Relu",
        "Reshape",
        "Transpose",
        "Squeeze",
        "Unsqueeze",
        "Resize",
        "Slice",
        "Split",
        "LayerNormalization",
        "Concat",
    )

    def int8(op_types=INT8_OP_TYPES, keep=INT8_KEEP_FP32, method="minmax", outputs=INT8_OUTPUT_OP_TYPES):
        def make(graph, data, method=method):
            excluded = int8_excluded_nodes(graph, keep)
            return quantize_int8(graph, data.batches(8), method, None, excluded, op_types, outputs)

        return make

    variants = {
        "fp32": lambda graph, data, method=None: graph,
        "fp16 (LayerNorm, Softmax fp32)": lambda graph, data, method=None: to_fp16(graph),
        "int8: Q/DQ on every QDQ-capable op's inputs": int8(all_qdq, (), outputs=()),
        "int8: MatMul+Conv, inputs only": int8(keep=(), outputs=()),
        "int8: MatMul+Conv, inputs only, head conv fp32 (the previous default)": int8(keep=("head",), outputs=()),
        "int8: MatMul+Conv, conv outputs too": int8(keep=()),
        "int8: MatMul+Conv, conv outputs too, head conv fp32": int8(keep=("head",)),
        "int8: conv outputs too, head conv and attention MatMuls fp32 (default)": int8(),
        "int8: MatMul only (all Conv fp32)": int8(("MatMul",), ()),
        "int8: MatMul+Conv, conv outputs too, entropy calibration": int8(keep=(), method="entropy"),
        "int8 default, entropy calibration": int8(method="entropy"),
        "int8 default, percentile calibration": int8(method="percentile"),
    }
    rows, graphs = [], {}
    for name, make in variants.items():
        graph = graphs[name] = make(fp32, calib)
        session = ort_session(graph, threads=args.threads)
        got = np.concatenate([session.run(None, {INPUT_NAME: val[i : i + 16]})[0] for i in range(0, len(val), 16)])
        par = compare_heatmaps(reference, got, codec)
        shift = np.linalg.norm(
            codec.heatmap_to_input(codec.decode(reference)[0]) - codec.heatmap_to_input(codec.decode(got)[0]), axis=-1
        )
        pred = predict(OrtModule(session), dataset, codec, batch_size=16, progress=False)
        ap = coco_keypoint_eval(gt, to_coco_results(pred))["AP"]
        qdq = sum(n.op_type == "QuantizeLinear" for n in graph.graph.node)
        big_ms = big_ratio = float("nan")
        if speed is not None and "calibration" not in name:  # the method does not change the graph's speed
            # ranges do not change the speed: the quick min-max calibration is enough for the timing model
            pair = {"graph": make(speed[0], speed[1], method="minmax"), "fp32": speed[0]}
            timed = time_onnx_apart(pair, (1, 3, *speed[2]), args.threads, 30, 10)
            big_ms, big_ratio = timed["graph"].min, timed["fp32"].min / timed["graph"].min
        rows.append([name, ap, par.max_abs, par.mean_kpt_px_all, float(np.percentile(shift, 99)), qdq])
        rows[-1] += [big_ms, big_ratio]
        print(
            f"{name:55s} AP {ap:.4f}  max|Δ| {par.max_abs:.3g}  mean {par.mean_kpt_px_all:.3f} px  "
            f"p99 {rows[-1][4]:.2f} px  Q {qdq}  {big_ms:.1f} ms ({big_ratio:.2f}x fp32)",
            flush=True,
        )
    # the nano graphs are small enough to stay loaded together: every one timed in interleaved rounds
    small = time_onnx_apart(graphs, (1, 3, *cfg.input_size), args.threads, 50, 5)
    for row in rows:
        row.insert(6, small[row[0]].min)
    with torch.inference_mode():
        torch_ap = coco_keypoint_eval(gt, to_coco_results(predict(model, dataset, codec, 16, progress=False)))["AP"]
    lines = [
        f"Model `{cfg.name}` ({Path(str(resolve_weights(args.weights))).name}); PyTorch fp32 AP {torch_ap:.4f} on "
        f"{len(instances)} val persons (GT boxes, flip test). Calibration: {len(calib)} train crops. Parity: "
        f"{len(val)} val crops. Latency: ONNX Runtime CPU, batch 1, {args.threads} threads, the fastest of 50 runs "
        "in 5 rounds interleaved across the graphs; the speed model's graphs the fastest of 30 runs in 10 rounds "
        "interleaved with its fp32 graph's, over which the speed-up is taken. (The fastest run, not the median: "
        "on a shared VM a slow spell can cover one graph's rounds and not another's, and only adds time.)",
        "",
        f"| graph | AP | max abs Δheatmap | mean kpt shift px | p99 kpt shift px | QuantizeLinear | ms | "
        f"{args.speed_model or '-'} ms | speed-up over fp32 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r[0]} | {r[1]:.4f} | {r[2]:.3g} | {r[3]:.3f} | {r[4]:.2f} | {r[5]} | {r[6]:.2f} | "
        + ("same graph as with min-max | |" if r[7] != r[7] else f"{r[7]:.1f} | {r[8]:.2f}x |")
        for r in rows
    ]
    emit(lines, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
