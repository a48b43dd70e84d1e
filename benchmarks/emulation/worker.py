"""What runs inside the emulated process: ONNX graphs and PoseEngine on the jobs the host hands it, in one process per
CPU model (its start-up, about 4 s under emulation, is paid once). Only numpy, ONNX Runtime and the ``runtime``
package (OpenCV) are imported here, never torch or onnx, since the arm64 side has nothing else::

    python -m benchmarks.emulation.worker job.json results.npz

``job.json`` (written by :func:`benchmarks.emulation.session.run_jobs`) lists

* ``graphs``: ``{"name", "path", "feeds" (an .npz), "threads", "batch", "runtime"}``: every output of the graph on
  the feeds, by ONNX Runtime's CPU provider or (``"runtime": "openvino"``) OpenVINO's CPU plugin at f32 (with
  ``batch``, in runs of that many along the first axis);
* ``poses``: ``{"name", "package", "images", "boxes" (per image, N×4 xyxy), "inputs" (an .npz of crops, or null),
  "threads"}``: :class:`runtime.PoseEngine` from the image files (crops, heatmaps, keypoints, scores) and, with
  ``inputs``, the heatmaps of those given crops.

* ``opens``: ``{"name", "backend", "path", "options"}``: :func:`runtime.backends.open_backend` on the file, which
  reports ``NAME:error`` (the error's type and message, empty when it opened), ``NAME:inputs`` (its inputs'
  names) and ``NAME:precision`` (the precision it compiled for, where the backend says: OpenVINO's).

``results.npz`` holds ``GRAPH:OUTPUT`` and ``POSE:keypoints|scores|inputs|heatmaps|given_heatmaps`` arrays, and
``cpu:*`` entries saying what the process saw: its machine, the int8 kernel family :mod:`runtime.int8_cpu` names
(``cpu:kernel`` for ONNX Runtime, ``cpu:kernel:openvino``; and ``cpu:openvino`` OpenVINO's optimization capabilities,
empty where it is not installed),
numpy's CPU features, the ``/proc/cpuinfo`` it was served and whether torch got imported.
"""

from __future__ import annotations

import json
import platform
import sys
from pathlib import Path

import numpy as np

__all__ = ["run_job"]


def _session(path: str, threads: int):
    # a bare session, not runtime.backends.onnxruntime.ort_session: graph jobs need neither OpenCV nor the package
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 3
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def _openvino(path: str, threads: int):
    # a bare compiled model, not runtime.backends.openvino: no model cache in a throwaway process
    import openvino

    config = {"INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": "f32"}
    compiled = openvino.Core().compile_model(path, "CPU", config)
    names = [o.get_any_name() for o in compiled.outputs]

    def run(names_: list[str], feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        out = compiled.create_infer_request().infer(feeds)
        by_name = {port.get_any_name(): value for port, value in out.items()}
        return [np.array(by_name[n]) for n in names_]

    return names, run


def _graph(job: dict) -> dict[str, np.ndarray]:
    if job.get("runtime", "onnxruntime") == "openvino":
        names, run = _openvino(job["path"], job.get("threads", 1))
    else:
        session = _session(job["path"], job.get("threads", 1))
        names, run = [o.name for o in session.get_outputs()], session.run
    with np.load(job["feeds"]) as f:
        feeds = {k: f[k] for k in f.files}
    batch = job.get("batch") or 0
    if not batch:
        runs = [run(names, feeds)]
    else:
        n = len(next(iter(feeds.values())))
        runs = [run(names, {k: v[i : i + batch] for k, v in feeds.items()}) for i in range(0, n, batch)]
    return {f"{job['name']}:{name}": np.concatenate([r[j] for r in runs]) for j, name in enumerate(names)}


def _poses(job: dict) -> dict[str, np.ndarray]:
    from runtime import PoseEngine
    from runtime.images import read_image

    out: dict[str, list[np.ndarray]] = {k: [] for k in ("keypoints", "scores", "inputs", "heatmaps")}
    with PoseEngine(job["package"], threads=job.get("threads", 1)) as engine:
        for file, boxes in zip(job["images"], job["boxes"]):
            image = read_image(file)
            inputs, matrices, _ = engine.preprocess([image], [np.asarray(boxes, np.float64)])
            heatmaps = engine.heatmaps(inputs)
            keypoints, scores = engine.decode(heatmaps, matrices)
            for key, value in zip(out, (keypoints, scores, inputs, heatmaps)):
                out[key].append(value)
        results = {f"{job['name']}:{k}": np.concatenate(v) for k, v in out.items()}
        if job.get("inputs"):
            with np.load(job["inputs"]) as f:
                results[f"{job['name']}:given_heatmaps"] = engine.heatmaps(f["inputs"])
    return results


def _openvino_capabilities() -> list[str]:
    try:
        import openvino
    except ImportError:
        return []
    return list(openvino.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"))


def _cpu() -> dict[str, np.ndarray]:
    from runtime.int8_cpu import cpu_features, int8_kernel

    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:
        cpuinfo = ""
    return {
        "cpu:machine": np.array(platform.machine()),
        "cpu:kernel": np.array(int8_kernel().name),
        "cpu:kernel:openvino": np.array(int8_kernel(runtime="openvino").name),
        "cpu:openvino": np.array(_openvino_capabilities()),
        "cpu:features": np.array(sorted(cpu_features())),
        "cpu:cpuinfo": np.array(cpuinfo),
        "cpu:torch": np.array("torch" in sys.modules),
    }


def _open(job: dict) -> dict[str, np.ndarray]:
    from runtime.backends import open_backend
    from runtime.errors import SwinPoseError

    name, error, inputs, precision = job["name"], "", [], ""
    try:
        with open_backend(job["backend"], job["path"], **job.get("options", {})) as backend:
            inputs = [s.name for s in backend.inputs]
            precision = str(getattr(backend, "inference_precision", ""))
    except SwinPoseError as e:
        error = f"{type(e).__name__}: {e}"
    return {
        f"{name}:error": np.array(error),
        f"{name}:inputs": np.array(inputs),
        f"{name}:precision": np.array(precision),
    }


def run_job(job: dict) -> dict[str, np.ndarray]:
    """Every result of ``job`` (see the module docstring)."""
    results = {}
    for graph in job.get("graphs", []):
        results.update(_graph(graph))
    for opening in job.get("opens", []):
        results.update(_open(opening))
    for poses in job.get("poses", []):
        results.update(_poses(poses))
    results.update(_cpu())  # last: after every import the jobs made
    return results


if __name__ == "__main__":
    np.savez(sys.argv[2], **run_job(json.loads(Path(sys.argv[1]).read_text())))
