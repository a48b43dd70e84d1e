"""int8 weight recipes on every CPU family: AP on this CPU and on an emulated AVX2 CPU, and the saturation bound.

Backs :data:`export.precision.INT8_WEIGHT_BITS` and the default of 7 bits. Each recipe quantizes the same fp32
graph with the same calibrated ranges; the bundled model is scored on the val split (GT boxes, flip test,
pycocotools) by ONNX Runtime on this CPU, and again with its heatmaps computed under ``qemu-x86_64 -cpu Haswell``
(:mod:`benchmarks.emulation`), which runs ONNX Runtime's AVX2 kernels whatever this CPU is::

    python -m benchmarks.int8_recipes --data DATA_ROOT --out benchmarks/results/int8_recipes.md

Without qemu-user (``apt-get install qemu-user``) the emulated column is left out.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
import torch

from benchmarks._markdown import emit
from benchmarks.emulation import CPUS, emulated_outputs
from benchmarks.emulation.qemu import qemu_binary
from benchmarks.int8_sensitivity import OrtModule, load_study, study_parser
from benchmarks.machine import describe_machine
from export.int8_check import max_weight_pair, saturating_ops
from export.onnx_export import export_onnx, ort_session
from export.precision import int8_excluded_nodes, quantize_int8
from runtime.errors import BackendError
from runtime.int8_cpu import KERNELS, int8_kernel
from swinpose.evaluation import coco_keypoint_eval, predict, to_coco_results

#: recipe name → quantize_int8 keyword arguments
RECIPES = {
    "8-bit weights (the previous default)": dict(weight_bits=8),
    "7-bit weights (reduce range; default)": dict(weight_bits=7),
    "U8U8: asymmetric uint8 activations and weights": dict(weight_bits=8, unsigned=True),
}


class _Recorder(torch.nn.Module):
    """Records every input :func:`swinpose.evaluation.predict` feeds and answers with zeros of the output shape."""

    def __init__(self, out_shape: tuple[int, ...]) -> None:
        super().__init__()
        self.out_shape, self.inputs = out_shape, []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.inputs.append(x.numpy().copy())
        return torch.zeros(len(x), *self.out_shape)


class _Replay(torch.nn.Module):
    """Answers :func:`predict`'s calls, in the recorded order, with precomputed heatmaps."""

    def __init__(self, outputs: np.ndarray, sizes: list[int]) -> None:
        super().__init__()
        self.chunks = iter(np.split(outputs, np.cumsum(sizes)[:-1]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(next(self.chunks))


def main(argv: list[str] | None = None) -> int:
    args = study_parser(__doc__.split("\n\n")[0]).parse_args(argv)
    haswell = CPUS["haswell"]
    try:
        qemu_binary(haswell)
        emulate = True
    except BackendError as e:
        print(f"no emulated column: {e}")
        emulate = False

    st = load_study(args)
    model, cfg, codec, calib, gt, dataset = st.model, st.model.cfg, st.codec, st.calib, st.gt, st.dataset

    def ap_of(module: torch.nn.Module) -> float:
        return 100 * coco_keypoint_eval(gt, to_coco_results(predict(module, dataset, codec, 16, progress=False)))["AP"]

    with torch.inference_mode():
        torch_ap = ap_of(model)
        recorder = _Recorder((cfg.num_keypoints, *cfg.heatmap_size))
        ap_of(recorder)
    inputs = np.concatenate(recorder.inputs)
    sizes = [len(x) for x in recorder.inputs]
    fp32 = export_onnx(model)
    excluded = int8_excluded_nodes(fp32)
    avx2 = KERNELS["x86-avx2"]
    rows = []
    with tempfile.TemporaryDirectory(prefix="swinpose-recipes-") as tmp:
        ranges = Path(tmp) / "ranges.json"  # one calibration, shared by every recipe
        for name, kwargs in RECIPES.items():
            graph = quantize_int8(fp32, calib.batches(8), "minmax", ranges, excluded, **kwargs)
            path = Path(tmp) / "graph.onnx"
            onnx.save(graph, path)
            with torch.inference_mode():
                native = ap_of(OrtModule(ort_session(graph, threads=args.threads)))
                emulated = float("nan")
                if emulate:
                    t0 = time.perf_counter()
                    outputs = emulated_outputs(path, inputs, haswell, threads=args.threads)
                    emulated = ap_of(_Replay(outputs, sizes))
                    print(f"  emulated run: {time.perf_counter() - t0:.0f} s", flush=True)
            pair = max_weight_pair(graph)
            bad = saturating_ops(graph, avx2)
            rows.append([name, pair, avx2.pair_activation_max * pair, len(bad), native, emulated])
            print(
                f"{name:50s} pair {pair}  AVX2 bound {rows[-1][2]}  saturating ops {len(bad)}  AP here "
                f"{native:.2f}  AP emulated AVX2 {emulated:.2f}",
                flush=True,
            )
    here = describe_machine()
    lines = [
        f"Model `{cfg.name}`; PyTorch fp32 AP {torch_ap:.2f} on {len(st.instances)} val persons (GT boxes, flip test); "
        f'calibration: {len(calib)} train crops, min-max, the same ranges for every recipe. "Here": ONNX Runtime '
        f'on {here["cpu"]} ({int8_kernel().name} kernels, flags {", ".join(here["cpu_flags"])}). "Emulated AVX2": '
        f"the same ONNX Runtime under `qemu-x86_64 -cpu {haswell.qemu_cpu.split(',')[0]}` (AVX2, no AVX-512, no VNNI). "
        "The bound is the largest |a₁w₁ + a₂w₂| an AVX2 kernel can form (255 × the largest weight pair); int16 "
        "holds 32767.",
        "",
        "| recipe | largest weight pair | AVX2 pair bound | ops that can saturate on AVX2 | AP here | ΔAP here | "
        "AP emulated AVX2 | ΔAP emulated AVX2 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r[0]} | {r[1]} | {r[2]} | {r[3]} | {r[4]:.2f} | {torch_ap - r[4]:.2f} | "
            + (f"{r[5]:.2f} | {torch_ap - r[5]:.2f} |" if r[5] == r[5] else "- | - |")
        )
    emit(lines, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
