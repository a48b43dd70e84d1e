"""The CPU matrix: one model's packages on this host and on every emulated CPU (:mod:`benchmarks.emulation`), checked
against references computed here. Results only: emulation says nothing about speed.

Per CPU, one emulated process runs

* the four MatMuls of :mod:`benchmarks.int8_saturation` (which arithmetic the int8 kernels perform, from int8 and
  uint8 activations);
* every quantized op of the int8 package's graph, isolated and fed the same bytes, and of the same graph quantized
  with 8-bit weights, against :func:`benchmarks.int8_reference.exact_op_outputs`;
* where OpenVINO is installed (on x86, this host's; on arm64, the sysroot's, from the host's version), both again
  through OpenVINO (results ``ov-NAME``), the OpenVINO backend opened on the fp32 graph (``ov-fp32:precision``,
  what it compiled for) and, on x86, opened in bf16 (``ov-bf16:error``: empty where it opened);
* on arm64, PoseEngine on the fp32 and int8 packages over the COCO sample photos with their ground-truth boxes, from
  the files and from this host's crops.

::

    python -m benchmarks.cpu_matrix --package pk/bundled --out benchmarks/results/cpu_matrix.md

``--package`` is a folder with the fp32 and int8 packages of one model (the int8 one with its ``calibration.json``).
Shape legend: N crops, K keypoints, H×W network input, h×w heatmaps.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx

from benchmarks._markdown import emit
from benchmarks.emulation import CPUS, GraphJob, OpenJob, PoseJob, emulated_cpu, run_jobs
from benchmarks.emulation.arm64 import Arm64Sysroot
from benchmarks.int8_reference import agrees, exact_op_outputs
from benchmarks.int8_saturation import EXTREMES, REFERENCES, UNSIGNED_ZERO_POINT, matmuls, measure, reference_of
from export.calibration import synthetic_set
from export.int8_check import isolate_quantized_ops, saturating_ops
from export.onnx_export import ort_session
from export.precision import int8_excluded_nodes, quantize_int8
from runtime import PoseEngine, read_package
from runtime.errors import ConfigError, PackageError
from runtime.images import read_image
from runtime.int8_cpu import INT8_RUNTIMES, KERNELS, int8_kernel

__all__ = [
    "PHOTOS",
    "OP_CROPS",
    "OpGraph",
    "HostPoses",
    "CpuMatrix",
    "coco_photos",
    "host_poses",
    "openvino_installed",
    "main",
]

PHOTOS = Path(__file__).resolve().parents[1] / "tests" / "data" / "coco-val2017-sample"
#: crops fed to the isolated quantized ops
OP_CROPS = 8


@dataclass(frozen=True)
class OpGraph:
    """An int8 graph cut into its quantized ops (:func:`~export.int8_check.isolate_quantized_ops`): the original
    ``model``, the cut graph's file, its feeds, each output's quantization step and its exact value."""

    model: onnx.ModelProto
    path: Path
    feeds: dict[str, np.ndarray]
    steps: dict[str, float]
    exact: dict[str, np.ndarray]

    def agreement(self, outputs: dict[str, np.ndarray]) -> dict[str, bool]:
        """Per op output: whether ``outputs`` (by output name) equal the exact values (:func:`agrees`)."""
        return {n: agrees(self.exact[n], outputs[n], step) for n, step in self.steps.items()}


def on_grid(graph: onnx.GraphProto, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``feeds`` with each one that enters a ``QuantizeLinear`` of ``graph`` moved onto that quantizer's grid: the
    float32 value of its own 8-bit code, ``(q - zero) · scale``. The codes stay what ONNX's rounding makes them, but
    no value sits near a rounding boundary any more, where runtimes that quantize through another formula (OpenVINO's
    FakeQuantize, ``(x - low) / (high - low) · 255``) round some values to the neighbouring code: then every kernel
    multiplies the same bytes, and only their sums are compared."""
    from onnx import numpy_helper

    from benchmarks.int8_reference import quantize

    constants = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    out = dict(feeds)
    for node in graph.node:
        if node.op_type == "QuantizeLinear" and node.input[0] in feeds and node.input[1] in constants:
            scale = constants[node.input[1]]
            zero = constants[node.input[2]] if len(node.input) > 2 else np.zeros((), np.uint8)
            if scale.size != 1:
                continue  # per-channel activations: none in swinpose's graphs
            q = quantize(feeds[node.input[0]], float(scale), int(zero), zero.dtype.type)
            out[node.input[0]] = ((q - int(zero)) * np.float32(scale)).astype(np.float32)
    return out


def op_graph(model: onnx.ModelProto, preprocess, path: Path) -> OpGraph:
    """``model`` cut into its quantized ops, saved to ``path``, each op fed what it reads on :data:`OP_CROPS`
    synthetic crops (made with ``preprocess``, run here through the whole graph), moved onto its quantizer's grid
    (:func:`on_grid`)."""
    forced, feeds, steps = isolate_quantized_ops(model)
    capture = onnx.ModelProto()
    capture.CopyFrom(model)
    capture.graph.output.extend(
        onnx.helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, None) for n in feeds.values()
    )
    inputs = synthetic_set(OP_CROPS, preprocess).inputs()
    name = model.graph.input[0].name
    values = dict(zip(feeds.values(), ort_session(capture).run(list(feeds.values()), {name: inputs})))
    forced_feeds = on_grid(forced.graph, {name: inputs, **{new: values[old] for new, old in feeds.items()}})
    for graph_input in forced.graph.input:  # the cut's inputs get their shapes: OpenVINO needs a static rank
        if graph_input.name in feeds:
            shape = values[feeds[graph_input.name]].shape
            graph_input.CopyFrom(onnx.helper.make_tensor_value_info(graph_input.name, onnx.TensorProto.FLOAT, shape))
    onnx.save(forced, path)
    return OpGraph(model, path, forced_feeds, steps, exact_op_outputs(model, forced, steps, forced_feeds))


def coco_photos() -> tuple[list[Path], list[np.ndarray]]:
    """The COCO sample photos and their ground-truth person boxes (N×4 xyxy per photo): 4 photos, 14 people."""
    ann = json.loads((PHOTOS / "test_coco.json").read_text())
    images, boxes = [], []
    for image in ann["images"]:
        bbox = np.array([a["bbox"] for a in ann["annotations"] if a["image_id"] == image["id"]], np.float64)
        images.append(PHOTOS / image["file_name"])
        boxes.append(np.concatenate([bbox[:, :2], bbox[:, :2] + bbox[:, 2:]], 1))
    return images, boxes


@dataclass(frozen=True)
class HostPoses:
    """PoseEngine on this host over :func:`coco_photos`: N×3×H×W crops, their N×2×3 image → input affines, N×K×h×w
    heatmaps, N×K×2 keypoints (image pixels), N×K scores."""

    inputs: np.ndarray
    matrices: np.ndarray
    heatmaps: np.ndarray
    keypoints: np.ndarray
    scores: np.ndarray


def host_poses(package: Path) -> HostPoses:
    images, boxes = coco_photos()
    with PoseEngine(package) as engine:
        inputs, matrices, _ = engine.preprocess([read_image(f) for f in images], boxes)
        heatmaps = engine.heatmaps(inputs)
        keypoints, scores = engine.decode(heatmaps, matrices)
    return HostPoses(inputs, matrices, heatmaps, keypoints, scores)


class CpuMatrix:
    """The runs of one model's fp32 and int8 ``packages`` (precision → folder) on this host and on each emulated CPU,
    each made on first use and kept; ``folder`` holds the graphs handed to the emulated processes, ``weights`` the
    PyTorch model's (None: the bundled ones, for packages exported from them)."""

    def __init__(self, packages: dict[str, Path], folder: Path, weights: str | Path | None = None) -> None:
        missing = {"fp32", "int8"} - set(packages)
        if missing:
            raise PackageError(f"the CPU matrix runs an fp32 and an int8 package; {sorted(missing)} missing")
        self.packages, self.folder, self.weights = packages, Path(folder), weights
        self._results: dict[str, dict[str, np.ndarray]] = {}
        self._ops: dict[int, OpGraph] = {}
        self._host: dict[str, HostPoses] = {}
        self._pytorch: np.ndarray | None = None

    def ops(self, bits: int) -> OpGraph:
        """The int8 graph's quantized ops with ``bits``-bit weights (7: the package's own graph; 8: requantized from
        the package's calibration.json)."""
        if bits not in self._ops:
            if bits == 7:
                model = onnx.load(str(self.packages["int8"] / "model.onnx"))
            else:
                fp32 = onnx.load(str(self.packages["fp32"] / "model.onnx"))
                cache = self.packages["int8"] / "calibration.json"
                model = quantize_int8(fp32, None, "minmax", cache, int8_excluded_nodes(fp32), weight_bits=bits)
            preprocess = read_package(self.packages["int8"]).preprocess
            self._ops[bits] = op_graph(model, preprocess, self.folder / f"ops{bits}.onnx")
        return self._ops[bits]

    def host(self, precision: str) -> HostPoses:
        """PoseEngine's run of the ``precision`` package here."""
        if precision not in self._host:
            self._host[precision] = host_poses(self.packages[precision])
        return self._host[precision]

    def pytorch(self) -> np.ndarray:
        """PyTorch's fp32 heatmaps on this host's crops (N×K×h×w), the reference of the export's gates."""
        if self._pytorch is None:
            import torch

            from benchmarks.torch_backend import package_weights, torch_model_for

            spec = read_package(self.packages["fp32"])
            weights = package_weights(spec, self.weights)
            if weights is None:
                raise ConfigError(
                    f"{spec.folder} was not exported from the bundled weights: pass the weights file it "
                    "was exported from (--weights) for PyTorch's reference heatmaps"
                )
            model, _ = torch_model_for(spec, weights)
            with torch.no_grad():
                self._pytorch = model(torch.from_numpy(self.host("fp32").inputs)).numpy()
        return self._pytorch

    def _matmul_files(self) -> dict[str, Path]:
        files = {}
        for name, matmul in matmuls().items():
            files[name] = self.folder / f"{name}.onnx"
            files[name].write_bytes(matmul.model)
        return files

    def here(self) -> dict[str, np.ndarray]:
        """The graphs run by ONNX Runtime (and OpenVINO, where installed) on this host, keyed as an emulated run's
        results."""
        results = {
            "cpu:kernel": np.array(int8_kernel().name),
            "cpu:kernel:openvino": np.array(int8_kernel(runtime="openvino").name),
        }
        for name, matmul in matmuls().items():
            results[f"{name}:y"] = ort_session(onnx.load_from_string(matmul.model)).run(None, {"x": matmul.x})[0]
        for bits in (7, 8):
            graph = self.ops(bits)
            session = ort_session(onnx.load(str(graph.path)))
            names = [o.name for o in session.get_outputs()]
            results.update({f"ops{bits}:{n}": v for n, v in zip(names, session.run(names, graph.feeds))})
        if openvino_installed():
            from runtime.backends.openvino import OvBackend

            runs = [(f"ov-{n}", p, {"x": matmuls()[n].x}) for n, p in self._matmul_files().items()]
            runs += [(f"ov-ops{b}", self.ops(b).path, self.ops(b).feeds) for b in (7, 8)]
            for key, path, feeds in runs:
                with OvBackend(path, threads=1, cache=False) as backend:
                    results.update({f"{key}:{n}": v for n, v in backend.infer(feeds).items()})
        return results

    def results(self, cpu: str) -> dict[str, np.ndarray]:
        """Everything the emulated ``cpu`` computed (keys in :mod:`benchmarks.emulation.worker`), or :meth:`here`'s
        for ``"here"``. Raises what :func:`~benchmarks.emulation.run_jobs` raises where the emulator cannot run."""
        if cpu == "here":
            return self._results.setdefault(cpu, self.here())
        if cpu in self._results:
            return self._results[cpu]
        files = self._matmul_files()
        graphs = [GraphJob(name, files[name], {"x": matmul.x}) for name, matmul in matmuls().items()]
        graphs += [GraphJob(f"ops{bits}", self.ops(bits).path, self.ops(bits).feeds) for bits in (7, 8)]
        poses, opens = [], []
        arm = emulated_cpu(cpu).arch == "aarch64"
        if arm:
            images, boxes = coco_photos()
            poses = [PoseJob(p, self.packages[p], images, boxes, self.host(p).inputs) for p in ("fp32", "int8")]
        # an emulated x86 process imports this host's wheels, an arm64 one the sysroot's (OpenVINO if the host has it)
        openvino_there = ("openvino" in Arm64Sysroot.find().manifest["wheels"]) if arm else openvino_installed()
        if openvino_there:
            graphs += [GraphJob(f"ov-{g.name}", g.path, g.feeds, runtime="openvino") for g in graphs]
            fp32 = self.packages["fp32"] / "model.onnx"
            opens = [OpenJob("ov-fp32", "openvino", fp32, {"cache": False})]
            if not arm:  # bf16 is checked on x86 CPUs (OpenVINO's ARM plugin has no bf16 path)
                opens.append(OpenJob("ov-bf16", "openvino", fp32, {"precision": "bf16", "cache": False}))
        self._results[cpu] = run_jobs(cpu, graphs, poses, timeout=1200, opens=opens)
        return self._results[cpu]

    def op_agreement(self, cpu: str, bits: int, runtime: str = "onnxruntime") -> dict[str, bool]:
        """Per quantized op of the ``bits``-bit graph: whether ``runtime`` (``"onnxruntime"`` or ``"openvino"``) on
        ``cpu`` computed it exactly."""
        run, prefix = self.results(cpu), "ov-" if runtime == "openvino" else ""
        return self.ops(bits).agreement({n: run[f"{prefix}ops{bits}:{n}"] for n in self.ops(bits).steps})


def openvino_installed() -> bool:
    """Whether OpenVINO imports here (and so in an emulated x86 process, which runs this interpreter's wheels)."""
    return importlib.util.find_spec("openvino") is not None


def _row(matrix: CpuMatrix, cpu: str, runtime: str = "onnxruntime") -> list[str] | None:
    """The table row of ``runtime`` on ``cpu``, or None where that process ran no graph on it (OpenVINO missing)."""
    run = matrix.results(cpu)
    prefix, suffix = ("ov-", ":openvino") if runtime == "openvino" else ("", "")
    if f"{prefix}extremes:y" not in run:
        return None
    kernel = KERNELS[str(run[f"cpu:kernel{suffix}"])]
    matched = []
    for name in EXTREMES:
        r = measure(name, run[f"{prefix}{name}:y"])
        matched.append(" / ".join(ref for ref in REFERENCES if r[ref] <= r["fp32_error"]) or "none")
    exact = [f"{sum(matrix.op_agreement(cpu, b, runtime).values())}/{len(matrix.ops(b).steps)}" for b in (7, 8)]
    unsafe = "yes" if saturating_ops(matrix.ops(8).model, kernel) else "no"
    name = "this host" if cpu == "here" else f"`-cpu {CPUS[cpu].qemu_cpu.split(',')[0]}`"
    return [name, runtime, kernel.name, *matched, reference_of(kernel), exact[0], exact[1], unsafe]


def _pose_row(matrix: CpuMatrix, cpu: str, precision: str) -> list[str]:
    from export.parity import FP32_GATE, compare_heatmaps, shift_limit

    run, host = matrix.results(cpu), matrix.host(precision)
    spec = read_package(matrix.packages[precision])
    std = np.array(spec.preprocess.std)[None, :, None, None] * 255 / spec.preprocess.pixel_scale
    levels = np.abs(run[f"{precision}:inputs"] - host.inputs) * std
    sure = matrix.host("fp32").scores >= 0.3
    scale = np.sqrt(np.abs(np.linalg.det(host.matrices[:, :, :2])))[:, None]
    shift = (np.linalg.norm(run[f"{precision}:keypoints"] - host.keypoints, axis=-1) * scale)[sure]
    given = run[f"{precision}:given_heatmaps"]
    vs_host = compare_heatmaps(host.heatmaps, given, spec.codec)
    vs_torch = compare_heatmaps(matrix.pytorch(), given, spec.codec)
    gate = (
        f"max \\|Δheatmap\\| {vs_torch.max_abs:.2g} (gate {FP32_GATE:g})"
        if precision == "fp32"
        else f"median shift {vs_torch.median_kpt_px:.3f} px (gate {shift_limit('int8', spec.codec):g})"
    )
    end_to_end = f"{np.median(shift):.4f} / {np.percentile(shift, 99):.3f} / {shift.max():.2f}"
    return [
        f"`-cpu {cpu}`",
        precision,
        f"{levels.max():.0f} ({(levels > 0).sum()} of {levels.size})",
        f"{np.abs(given - host.heatmaps).max():.2g}",
        f"{vs_host.median_kpt_px:.3f} / {vs_host.max_kpt_px:.2f}",
        gate,
        end_to_end,
        str(int(sure.sum())),
    ]


def report(matrix: CpuMatrix, cpus: list[str]) -> list[str]:
    """The matrix as Markdown: the int8 kernels per CPU, then PoseEngine on the arm64 ones."""
    lines = [
        "| CPU | runtime | int8 family (runtime.int8_cpu, in that process) | extremes MatMul matches (int8 "
        f"activations) | extremes matches (uint8 activations, zero point {UNSIGNED_ZERO_POINT}) | the family's "
        "reference | ops exact, 7-bit | ops exact, 8-bit | 8-bit graph can overflow there |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    rows = [_row(matrix, cpu, runtime) for runtime in INT8_RUNTIMES for cpu in ["here", *cpus]]
    lines += ["| " + " | ".join(row) + " |" for row in rows if row is not None]
    arm = [cpu for cpu in cpus if CPUS[cpu].arch == "aarch64"]
    if arm:
        lines += [
            "",
            "PoseEngine on arm64 against this host, the COCO sample photos and their ground-truth boxes; shifts of "
            "the confident keypoints (score ≥ 0.3 here), in network-input pixels.",
            "",
            "| CPU | package | crops: max grey-level difference (pixels that differ) | max \\|Δheatmap\\|, same "
            "crops | keypoint shift, same crops: median / max | against PyTorch, same crops | end to end: median / "
            "p99 / max | keypoints |",
            "|---|---|---|---|---|---|---|---|",
        ]
        lines += ["| " + " | ".join(_pose_row(matrix, cpu, p)) + " |" for cpu in arm for p in ("fp32", "int8")]
    return lines


def main(argv: list[str] | None = None) -> int:
    from tqdm import tqdm

    from benchmarks.runners import find_packages
    from runtime.exitcodes import run_guarded

    p = argparse.ArgumentParser(prog="python -m benchmarks.cpu_matrix", description=__doc__.split("\n\n")[0])
    p.add_argument("--package", type=Path, required=True, help="a folder with the fp32 and int8 packages of a model")
    p.add_argument("--cpus", default=",".join(CPUS), help=f"emulated CPUs, comma-separated (default {','.join(CPUS)})")
    p.add_argument("--weights", help="the weights the packages were exported from (default: the bundled model's)")
    p.add_argument("--out", type=Path, help="also write the Markdown table here")

    def run(args: argparse.Namespace) -> int:
        packages = {precision: spec.folder for precision, spec in find_packages(args.package).items()}
        cpus = [emulated_cpu(c).name for c in args.cpus.split(",") if c]
        with tempfile.TemporaryDirectory(prefix="swinpose-cpu-matrix-") as tmp:
            matrix = CpuMatrix(packages, Path(tmp), args.weights)
            for cpu in tqdm(["here", *cpus], desc="CPUs", unit="cpu", file=sys.stderr):
                matrix.results(cpu)  # one emulated process each, minutes on arm64
            emit(report(matrix, cpus), args.out)
        return 0

    return run_guarded(p.prog, run, p.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
