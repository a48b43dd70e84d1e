"""swinpose-export: packages of the bundled model in fp32/fp16/int8, checked against PyTorch with ONNX Runtime."""

from __future__ import annotations

import collections
import dataclasses
import json
import os
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, numpy_helper

import export.parity
from export.calibration import load_calibration_set
from export.cli import main
from export.onnx_export import FORBIDDEN_OPS, ort_session
from export.package import ExportOptions, export_package
from runtime.codec import HeatmapCodec
from runtime.errors import ExportError
from runtime.keypoints import COCO_KEYPOINTS
from runtime.package import read_package
from swinpose.defaults import inference_for_codec
from swinpose.models.pose_io import BUNDLED_WEIGHTS, load_pose_file

PHOTOS = Path(__file__).parent / "data" / "coco-val2017-sample"
#: the bundled model's pre-processing (our training's, at 128×96)
PRE = inference_for_codec(HeatmapCodec((128, 96), (32, 24), 1.5)).preprocess


@pytest.fixture(scope="module")
def bundled():
    return load_pose_file(BUNDLED_WEIGHTS)[0]


@pytest.fixture(scope="module")
def photo_inputs():
    """8 person crops of real COCO photos (GT boxes of test_coco.json), 3×128×96 float32 each."""
    data = json.loads((PHOTOS / "test_coco.json").read_text())
    files = {im["id"]: PHOTOS / im["file_name"] for im in data["images"]}
    crops = []
    for ann in data["annotations"][:8]:
        image = cv2.imread(str(files[ann["image_id"]]))
        crops.append(PRE.crop(image, ann["bbox"])[0][0])
    return PRE.normalize(np.stack(crops))


def _producers(graph: onnx.ModelProto) -> dict[str, onnx.NodeProto]:
    return {o: n for n in graph.graph.node for o in n.output}


def _heatmaps(package: Path, inputs: np.ndarray) -> np.ndarray:
    return ort_session(package / "model.onnx").run(None, {"input": inputs})[0]


@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
def test_package_graph_is_shape_free_opset17_and_dynamic_batch(bundled_packages, precision):
    graph = onnx.load(str(bundled_packages[precision] / "model.onnx"))
    ops = collections.Counter(n.op_type for n in graph.graph.node)
    assert {op: ops[op] for op in FORBIDDEN_OPS if ops[op]} == {}
    assert [o.version for o in graph.opset_import if o.domain in ("", "ai.onnx")] == [17]
    onnx.checker.check_model(graph, full_check=True)
    session = ort_session(graph)
    for batch in (1, 5):
        out = session.run(None, {"input": np.zeros((batch, 3, 128, 96), np.float32)})[0]
        assert out.shape == (batch, 17, 32, 24) and out.dtype == np.float32


def _check_against_pytorch(model, package: Path, inputs: np.ndarray, max_abs: float, mean_px: float) -> None:
    from runtime.codec import HeatmapCodec

    with torch.no_grad():
        expected = model(torch.from_numpy(inputs)).numpy()
    got = _heatmaps(package, inputs)
    assert expected.max() > 0.3  # real peaks, so that the tolerances mean something
    assert np.abs(got - expected).max() <= max_abs
    codec = HeatmapCodec((128, 96), (32, 24), 1.5)
    shift = np.linalg.norm(codec.decode(got)[0] - codec.decode(expected)[0], axis=-1) * codec.stride
    assert shift.mean() <= mean_px


@pytest.mark.parametrize("precision, max_abs, mean_px", [("fp32", 1e-4, 1e-3), ("fp16", 5e-3, 0.05)])
def test_package_matches_pytorch_on_real_photos(bundled_packages, bundled, photo_inputs, precision, max_abs, mean_px):
    """An independent check on crops the export never saw: ONNX Runtime against the PyTorch model."""
    _check_against_pytorch(bundled, bundled_packages[precision], photo_inputs, max_abs, mean_px)


def test_int8_package_matches_pytorch_on_held_out_synthetic_crops(bundled_packages, bundled, synthetic_root):
    """int8 is checked in the bundled model's own domain (synthetic figures), on the val split it was not calibrated
    on: a broken scale moves keypoints by tens of pixels, int8 rounding by under one."""
    val = load_calibration_set(
        synthetic_root / "annotations" / "person_keypoints_val.json", PRE, 100, progress=False
    ).inputs()
    assert len(val) >= 12
    _check_against_pytorch(bundled, bundled_packages["int8"], val, max_abs=0.4, mean_px=1.5)


def test_fp16_graph_keeps_layernorm_and_softmax_in_fp32(bundled_packages):
    graph = onnx.load(str(bundled_packages["fp16"] / "model.onnx"))
    inferred = onnx.shape_inference.infer_shapes(graph)
    types = {v.name: v.type.tensor_type.elem_type for v in [*inferred.graph.value_info, *inferred.graph.input]}
    types.update({i.name: i.data_type for i in graph.graph.initializer})
    f32, f16 = TensorProto.FLOAT, TensorProto.FLOAT16
    assert [v.type.tensor_type.elem_type for v in [*graph.graph.input, *graph.graph.output]] == [f32, f32]
    kept = [n for n in graph.graph.node if n.op_type in ("LayerNormalization", "Softmax")]
    assert len(kept) == 24 + 8  # LayerNorms: 8 blocks × 2, patch embed, 3 merges, 4 outputs; a Softmax per block
    for node in kept:
        assert {types[i] for i in node.input if i} == {f32}, node.name
    heavy = [n for n in graph.graph.node if n.op_type in ("MatMul", "Conv")]
    assert heavy and all({types[i] for i in n.input if i} == {f16} for n in heavy)
    weights = [i for i in graph.graph.initializer if i.data_type == f16]
    assert sum(numpy_helper.to_array(w).size for w in weights) > 2_000_000  # the 2.3 M parameters are fp16
    assert sum(n.op_type == "Cast" for n in graph.graph.node) >= 2 * len(kept)


def test_int8_graph_quantizes_matmul_and_conv_except_the_head(bundled_packages):
    graph = onnx.load(str(bundled_packages["int8"] / "model.onnx"))
    spec = read_package(bundled_packages["int8"])
    producers = _producers(graph)
    inits = {i.name: numpy_helper.to_array(i) for i in graph.graph.initializer}

    def from_dq(name: str) -> bool:
        return name in producers and producers[name].op_type == "DequantizeLinear"

    quantized = collections.Counter(  # the ops that read int8 weights
        n.op_type for n in graph.graph.node if any(from_dq(i) and producers[i].input[0] in inits for i in n.input)
    )
    assert set(quantized) == {"MatMul", "Conv"}
    head = producers["heatmaps"]
    assert head.op_type == "Conv" and not any(from_dq(i) for i in head.input)
    attention = [
        n
        for n in graph.graph.node
        if n.op_type == "MatMul" and not set(n.input) & set(inits) and not any(from_dq(i) for i in n.input)
    ]
    depths = spec.model.config["backbone"]["depths"]
    assert len(attention) == 2 * sum(depths)  # q·kᵀ and attn·v of every block stay fp32
    assert spec.calibration["excluded_nodes"] == [head.name] + [n.name for n in attention]
    assert spec.calibration["keep_fp32"] == ["head", "attention"]
    fp32_nodes = {head.name} | {n.name for n in attention}
    for node in graph.graph.node:
        if node.op_type in ("MatMul", "Conv") and node.name not in fp32_nodes:
            assert all(from_dq(i) for i in node.input[:2]), node.name
        if node.op_type in ("LayerNormalization", "Softmax"):
            assert not any(from_dq(i) for i in node.input), node.name
    # conv outputs are quantized (ONNX Runtime runs QLinearConv), MatMul outputs (the residual stream) are not
    consumers = collections.defaultdict(list)
    for node in graph.graph.node:
        for name in node.input:
            consumers[name].append(node.op_type)
    for node in graph.graph.node:
        if node.op_type == "Conv" and node is not head:
            assert consumers[node.output[0]] == ["QuantizeLinear"], node.name
        if node.op_type == "MatMul":
            assert "QuantizeLinear" not in consumers[node.output[0]], node.name
    # symmetric int8 everywhere (TensorRT's explicit quantization needs zero points of 0)
    for node in graph.graph.node:
        if node.op_type in ("QuantizeLinear", "DequantizeLinear"):
            zp = inits[node.input[2]]
            assert zp.dtype == np.int8 and not zp.any()
    # weights are per output channel: MatMul weights K×N on axis 1, conv weights on axis 0
    for node in graph.graph.node:
        if node.op_type in ("MatMul", "Conv") and node.name not in fp32_nodes:
            dq = producers[node.input[1]]
            if dq.input[0] in inits:
                axis = {a.name: a.i for a in dq.attribute}.get("axis", 1)
                assert axis == (1 if node.op_type == "MatMul" else 0)
                assert inits[dq.input[1]].shape == (inits[dq.input[0]].shape[axis],)
    assert (bundled_packages["int8"] / "calibration.json").is_file()


def test_model_json_carries_what_a_runtime_needs(bundled_packages):
    spec = read_package(bundled_packages["fp32"])
    d = json.loads((bundled_packages["fp32"] / "model.json").read_text())  # the file itself: the contract on disk
    assert d["format_version"] == 2 and d["precision"] == "fp32"
    assert d["input"] == {"name": "input", "shape": [-1, 3, 128, 96], "dtype": "float32", "layout": "NCHW"}
    assert d["output"] == {"name": "heatmaps", "shape": [-1, 17, 32, 24], "dtype": "float32", "layout": "NCHW"}
    assert d["batch"] == {"min": 1, "opt": 8, "max": 32}
    assert d["preprocess"] == {
        "input_size": [128, 96],
        "color_order": "RGB",
        "mean": [123.675, 116.28, 103.53],
        "std": [58.395, 57.12, 57.375],
        "pixel_scale": 255.0,
        "box_padding": 1.25,
        "aspect": "fixed",
        "warp": "centre",
    }
    assert d["codec"] == {
        "input_size": [128, 96],
        "heatmap_size": [32, 24],
        "sigma": 1.5,
        "use_dark": True,
        "convention": "centre",
        "flip_shift": False,
    }
    assert spec.codec.sigma == 1.5  # the bundled file's training sigma, from its metadata
    assert d["keypoints"]["names"] == list(COCO_KEYPOINTS) and len(d["keypoints"]["skeleton"]) == 19
    assert d["model"]["config"]["name"] == "swinpose_nano_128x96"
    graph = onnx.load(str(spec.onnx_path))
    assert d["onnx"]["nodes"] == len(graph.graph.node)
    import hashlib

    assert d["onnx"]["sha256"] == hashlib.sha256(spec.onnx_path.read_bytes()).hexdigest()
    assert d["files"] == {"onnx": "model.onnx", "engine": None, "calibration": None, "opencv": "model.opencv.onnx"}
    assert d["engine"] is None and spec.engine_path is None
    assert 0 <= d["parity"]["fp32"]["max_abs"] <= 1e-3 and d["parity"]["images"] == 32
    assert {"torch", "onnx", "onnxruntime"} <= set(d["tools"])
    files = ["model.json", "model.onnx", "model.opencv.onnx"]
    assert sorted(p.name for p in bundled_packages["fp32"].iterdir()) == files
    assert read_package(bundled_packages["fp16"]).files.opencv is None
    int8 = read_package(bundled_packages["int8"])
    assert int8.files.calibration == "calibration.json" and int8.calibration["method"] == "minmax"
    assert int8.calibration["images"] == 48 and int8.parity["images"] == 16
    assert read_package(bundled_packages["fp16"]).parity["source"] == str(PHOTOS)


def test_cli_prints_one_summary_line(bundled_packages):
    lines = bundled_packages["summary"].strip().splitlines()
    assert len(lines) == 1
    assert "fp32 package" in lines[0] and "model.onnx" in lines[0] and "Parity vs PyTorch fp32" in lines[0]
    assert any(f"engine skipped: {why}" in lines[0] for why in ("TensorRT is not installed", "TensorRT-RTX builds"))


def test_int8_from_calibration_cache_reproduces_the_graph(bundled_packages, cached_onnx, tmp_path):
    out = tmp_path / "again"
    result = export_package("bundled", out, ExportOptions("int8", calib_cache=bundled_packages["int8"], progress=False))
    assert result.spec.calibration["source"].startswith("cache")

    def scales(folder: Path) -> list[float]:
        graph = onnx.load(str(folder / "model.onnx"))
        inits = {i.name: numpy_helper.to_array(i) for i in graph.graph.initializer}
        return [float(inits[n.input[1]]) for n in graph.graph.node if n.op_type == "QuantizeLinear"]

    assert len(scales(out)) > 40 and scales(out) == scales(bundled_packages["int8"])
    assert (out / "calibration.json").read_bytes() == (bundled_packages["int8"] / "calibration.json").read_bytes()


def test_parity_gate_fails_the_export_and_writes_nothing(bundled_packages, cached_onnx, monkeypatch, tmp_path):
    monkeypatch.setattr(export.parity, "FP32_GATE", 0.0)  # any difference at all now fails the gate
    with pytest.raises(ExportError, match="differ from PyTorch's by .* the export is wrong"):
        export_package("bundled", tmp_path / "pk", ExportOptions(progress=False))
    assert list(tmp_path.iterdir()) == []  # no package folder, no half-written ONNX, no staging folder beside it


def test_calibration_sets_from_a_folder_and_a_coco_json(synthetic_root):
    folder = load_calibration_set(PHOTOS, PRE, size=3, progress=False)
    assert folder.crops.shape == (3, 128, 96, 3) and folder.crops.dtype == np.uint8
    again = load_calibration_set(PHOTOS, PRE, size=3, progress=False)
    assert np.array_equal(folder.crops, again.crops)  # a seeded sample
    coco = load_calibration_set(synthetic_root / "annotations" / "person_keypoints_val.json", PRE, 1000, progress=False)
    ann = json.loads((synthetic_root / "annotations" / "person_keypoints_val.json").read_text())["annotations"]
    assert len(coco) == sum(1 for a in ann if a["num_keypoints"] > 0 and not a.get("iscrowd"))
    batches = list(coco.batches(4))
    assert [len(b) for b in batches][:-1] == [4] * (len(batches) - 1)
    assert np.allclose(np.concatenate(batches), coco.inputs())


def _error(capsys, argv: list[str]) -> str:
    assert main(argv + ["--quiet"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("swinpose-export: error:") and "Traceback" not in err
    return err


def _bare(tmp_path: Path, bundled) -> str:
    torch.save(bundled.state_dict(), tmp_path / "bare.pth")
    return str(tmp_path / "bare.pth")


def _folder(tmp_path: Path, name: str, mode: int = 0o777) -> str:
    (tmp_path / name).mkdir(mode=mode)
    return str(tmp_path / name)


def _file(tmp_path: Path, name: str) -> str:
    (tmp_path / name).write_text("")
    return str(tmp_path / name)


#: (case, the arguments before --out (made in tmp_path), what the one-line error must say); each exports nothing
CLI_ERRORS = [
    ("missing-weights", lambda t, b: ["--weights", str(t / "missing.pth")], "does not exist"),
    ("unknown-model", lambda t, b: ["--weights", "bundled", "--model", "swinpose_x"], "unknown model 'swinpose_x'"),
    (
        "other-model",
        lambda t, b: ["--weights", "bundled", "--model", "swinpose_t_256x192"],
        "holds a swinpose_nano_128x96 model, not swinpose_t_256x192",
    ),
    ("bare-state-dict", lambda t, b: ["--weights", _bare(t, b)], "--model"),
    (
        "bare-state-dict-of-another-model",
        lambda t, b: ["--weights", _bare(t, b), "--model", "swinpose_t_256x192"],
        "does not fit swinpose_t_256x192",
    ),
    ("int8-without-data", lambda t, b: ["--weights", "bundled", "--int8"], "--calib-data"),
    ("random-without-model", lambda t, b: ["--weights", "random"], "needs --model NAME"),
    ("random-unknown-model", lambda t, b: ["--weights", "random", "--model", "swinpose_x"], "swinpose_x"),
    (
        "calib-data-and-cache",
        lambda t, b: ["--weights", "bundled", "--int8", "--calib-data", str(PHOTOS), "--calib-cache", str(t)],
        "pass one of them",
    ),
    (
        "no-calibration-images",
        lambda t, b: ["--weights", "bundled", "--int8", "--calib-data", _folder(t, "empty")],
        "holds no images",
    ),
    ("fp16-opencv", lambda t, b: ["--weights", "bundled", "--fp16", "--opencv"], "fp32 package"),
]


@pytest.mark.parametrize("case, args, message", CLI_ERRORS, ids=[c[0] for c in CLI_ERRORS])
def test_cli_errors_name_the_problem_and_the_fix(capsys, tmp_path, bundled, case, args, message):
    assert message in _error(capsys, [*args(tmp_path, bundled), "--out", str(tmp_path / "pk")])
    assert not (tmp_path / "pk").exists() or not any((tmp_path / "pk").iterdir())


def test_cli_refuses_an_out_it_cannot_write(capsys, tmp_path):
    err = _error(capsys, ["--weights", "bundled", "--out", str(Path(_file(tmp_path, "a-file")) / "pk")])
    assert "a-file is a file; pass a folder" in err
    if os.geteuid() != 0:  # root writes through permission bits
        locked = _folder(tmp_path, "locked", 0o500)
        assert "cannot be written" in _error(capsys, ["--weights", "bundled", "--out", locked])


def test_cli_engine_without_a_gpu_says_what_to_install_or_pass(capsys, tmp_path):
    err = _error(capsys, ["--weights", "bundled", "--engine", "--out", str(tmp_path / "pk")])
    try:
        import tensorrt_rtx_bindings  # noqa: F401  (the dev extra's TensorRT-RTX: it builds, but not for no GPU)
    except (ImportError, OSError):
        assert "pip install 'swinpose[trt]'" in err and "tensorrt" in err
    else:
        assert "could not build" in err and "--compute-capability from sm75" in err
    assert not (tmp_path / "pk").exists() or not any((tmp_path / "pk").iterdir())


def test_cli_precision_flags_exclude_each_other():
    with pytest.raises(SystemExit) as usage:  # argparse: usage error, exit 2
        main(["--weights", "bundled", "--fp16", "--int8"])
    assert usage.value.code == 2


def test_bare_state_dict_loads_with_its_model_name(tmp_path, bundled):
    bare = tmp_path / "bare.pth"
    torch.save({"state_dict": bundled.state_dict()}, bare)
    model, _ = load_pose_file(bare, "swinpose_nano_128x96")
    x = torch.randn(2, 3, 128, 96)
    with torch.no_grad():
        assert torch.equal(model(x), bundled(x))


def test_entropy_calibration_searches_a_clipping_threshold(bundled_packages, synthetic_root, tmp_path):
    """Entropy (TensorRT's 2048-bin histogram) clips long tails that min-max keeps: its ranges are never wider and
    some are narrower. With ONNX Runtime's own 128-bin default the two would be identical."""
    from onnxruntime.quantization.calibrate import load_tensors_data

    from export.precision import calibrate_ranges

    graph = bundled_packages["fp32"] / "model.onnx"
    data = load_calibration_set(synthetic_root / "annotations" / "person_keypoints_train.json", PRE, 16, progress=False)
    ranges = {}
    for method in ("minmax", "entropy"):
        calibrate_ranges(graph, data.batches(8), method, tmp_path / f"{method}.json", ["Conv"])
        cache = load_tensors_data(tmp_path / f"{method}.json")
        ranges[method] = {k: float(np.abs(np.ravel(v.range_value)).max()) for k, v in cache.data.items()}
    assert ranges["entropy"].keys() == ranges["minmax"].keys() and len(ranges["minmax"]) >= 6
    assert all(ranges["entropy"][k] <= ranges["minmax"][k] * (1 + 1e-6) for k in ranges["minmax"])
    assert sum(ranges["entropy"][k] < 0.9 * ranges["minmax"][k] for k in ranges["minmax"]) >= 2
    files = ["model.json", "model.onnx", "model.opencv.onnx"]
    assert sorted(p.name for p in graph.parent.iterdir()) == files  # no leftovers


_OPENCV_RUN = """
import sys, cv2, numpy as np
net = cv2.dnn.readNetFromONNX(sys.argv[1])
x = np.load(sys.argv[2])
out = []
for crop in x:
    net.setInput(crop[None])
    out.append(net.forward())
np.save(sys.argv[3], np.concatenate(out))
"""


def test_opencv_graph_runs_in_opencv_dnn_and_matches_model_onnx(bundled_packages, photo_inputs, tmp_path):
    """The --opencv graph: static batch 1, none of the ops OpenCV 4.6 cannot load, and the fp32 graph's heatmaps in
    ONNX Runtime and in pip's OpenCV (in a subprocess: OpenCV 5.0 crashed on the plain export's GELU)."""
    import subprocess
    import sys

    package = bundled_packages["fp32"]
    spec = json.loads((package / "model.json").read_text())
    assert spec["files"]["opencv"] == "model.opencv.onnx" and spec["opencv"]["max_abs_vs_onnx"] <= 1e-5
    graph = onnx.load(str(package / "model.opencv.onnx"))
    assert graph.graph.input[0].type.tensor_type.shape.dim[0].dim_value == 1
    ops = collections.Counter(n.op_type for n in graph.graph.node)
    assert not {"LayerNormalization", "Squeeze", "Unsqueeze"} & set(ops) and ops["ReduceMean"] == 2 * 24
    expected = _heatmaps(package, photo_inputs)
    session = ort_session(package / "model.opencv.onnx")
    got = np.concatenate([session.run(None, {"input": x[None]})[0] for x in photo_inputs])
    assert np.abs(got - expected).max() <= 1e-5
    np.save(tmp_path / "x.npy", photo_inputs)
    run = [sys.executable, "-c", _OPENCV_RUN, str(package / "model.opencv.onnx"), str(tmp_path / "x.npy")]
    done = subprocess.run([*run, str(tmp_path / "y.npy")], capture_output=True, text=True)
    assert done.returncode == 0, f"OpenCV {cv2.__version__} failed on the --opencv graph: {done.stderr[-2000:]}"
    assert np.abs(np.load(tmp_path / "y.npy") - expected).max() <= 1e-5
    assert read_package(package).files.opencv == "model.opencv.onnx"


def test_random_weights_export_a_package_to_time(tmp_path):
    """--weights random --model NAME: seeded weights (the same package twice), the caller's RNG left alone."""
    state = torch.random.get_rng_state()
    result = export_package(
        "random", tmp_path / "pk", ExportOptions(model="swinpose_nano_128x96", engine=False, progress=False)
    )
    assert torch.equal(torch.random.get_rng_state(), state)
    assert result.spec.model.weights == "random init (seed 0)" and result.parity["fp32"].max_abs <= 1e-3
    from benchmarks.torch_backend import package_weights

    assert package_weights(read_package(tmp_path / "pk"), None) is None  # benchmarks time it with random weights


def test_int8_package_records_its_gate_verdict_on_labelled_held_out_crops(bundled_packages):
    gate = read_package(bundled_packages["int8"]).parity["gate"]
    assert gate["passed"] is True and gate["delta_ap_limit"] == 0.5
    assert gate["delta_ap_judged"] is False  # 16 crops cannot resolve 0.5 AP (export.parity.MIN_AP_CROPS)
    assert gate["median_confident_shift_limit_px"] == 1.0  # a quarter of the 4-pixel heatmap stride
    assert gate["ap_pytorch"] > 50 and gate["ap"] > 50  # the held-out crops of the synthetic train split
    assert read_package(bundled_packages["fp16"]).parity["gate"]["passed"] is True  # photos: shift only
    assert read_package(bundled_packages["fp32"]).parity["gate"] is None  # fp32 has its 1e-3 gate


def test_a_missed_gate_writes_nothing_unless_no_gate(cached_onnx, monkeypatch, tmp_path):
    """export_package acts on the verdict of export.parity.parity_gate (tested alone in test_parity_gate.py): a miss
    leaves no package and no staging folder, and --no-gate writes the package with the miss recorded."""
    monkeypatch.setitem(export.parity.SHIFT_LIMITS, "fp16", -1.0)  # no shift is below a negative limit
    options = ExportOptions("fp16", engine=False, progress=False)
    match = r"confident keypoints moved .* px \(median\) .*Nothing was written.*--no-gate"
    with pytest.raises(ExportError, match=match):
        export_package("bundled", tmp_path / "pk", options)
    assert list(tmp_path.iterdir()) == []
    result = export_package("bundled", tmp_path / "pk", dataclasses.replace(options, gate=False))
    assert result.spec.parity["gate"]["passed"] is False and (tmp_path / "pk" / "model.json").is_file()


def test_int8_weight_bits_reach_the_graph_and_model_json(bundled_packages, cached_onnx, tmp_path, capsys):
    assert (
        main(
            [
                "--weights",
                "bundled",
                "--int8",
                "--int8-weight-bits",
                "8",
                "--calib-cache",
                str(bundled_packages["int8"]),
                "--out",
                str(tmp_path / "pk8"),
                "--quiet",
            ]
        )
        == 0
    )
    calibration = read_package(tmp_path / "pk8").calibration
    assert calibration["weight_bits"] == 8 and calibration["max_weight_pair"] > 128
    assert calibration["saturates_on"] == ["x86-avx2", "x86-sse"]  # x86-sse: OpenVINO on x86 without AVX2
    graph = onnx.load(str(tmp_path / "pk8" / "model.onnx"))
    weights = [numpy_helper.to_array(i) for i in graph.graph.initializer if i.data_type == TensorProto.INT8]
    assert max(int(np.abs(w.astype(np.int32)).max()) for w in weights) == 127
    err = _error(capsys, ["--weights", "bundled", "--fp16", "--int8-weight-bits", "8", "--out", str(tmp_path / "x")])
    assert "--int8 exports only" in err
