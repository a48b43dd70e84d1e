"""Real TensorRT in the test suite: TensorRT for RTX (PyPI ``tensorrt-rtx-cu12-libs`` and ``-bindings``, in the
``dev`` extra) parses our graphs and builds engines ahead of time on this CPU, with no GPU.

What it cannot do without a GPU (deserialise and run an engine) stays with the recording fake
(``tests/fake_tensorrt.py``) and ``tests/test_trt_real.py``.
"""

from __future__ import annotations

import json

import onnx
import pytest
from onnx import TensorProto, helper

from export.int8_check import quantized_ops
from export.package import ExportOptions, export_package
from export.trt import EngineOptions, TrtFeatures, build_engine, import_tensorrt
from runtime.errors import EngineBuildError
from runtime.package import read_package

trt = pytest.importorskip("tensorrt_rtx_bindings", reason="TensorRT-RTX is in the dev extra: pip install -e '.[dev]'")
CHW = (3, 128, 96)


def _build(packages, precision, tmp_path, **options):
    options = {"batch": (1, 8, 32), "workspace_gb": 1.0, "compute_capabilities": ("sm86",), **options}
    return build_engine(
        packages[precision] / "model.onnx",
        packages["fp32"] / "model.onnx",
        tmp_path / "model.engine",
        "input",
        CHW,
        EngineOptions(precision, **options),
        trt=trt,
    )


def test_the_rtx_module_is_found_by_its_features():
    features = TrtFeatures.detect(trt)
    assert features.flavor == "rtx" and not features.weak_typing and features.strong_typing
    assert {"SM86", "SM89"} <= set(features.compute_capabilities)
    assert features.choose_mode("int8") == "typed"
    with pytest.raises(EngineBuildError, match="no BuilderFlag.INT8.*--trt-mode typed"):
        features.choose_mode("int8", "legacy")  # RTX has no builder precision flags and no calibrators
    assert import_tensorrt("rtx") is trt


@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
def test_rtx_builds_each_precision_ahead_of_time_with_the_package_io(bundled_packages, tmp_path, precision):
    info = _build(bundled_packages, precision, tmp_path)
    spec = read_package(bundled_packages[precision])
    engine = tmp_path / "model.engine"
    assert info["flavor"] == "rtx" and info["compute_capabilities"] == ["sm86"] and info["mode"] == "typed"
    assert info["bytes"] == engine.stat().st_size > 1_000_000 and info["source_onnx"] == "model.onnx"
    # what TensorRT parsed is what model.json describes: names, dtypes, shapes and the batch profile
    assert info["io"] == {t.name: {"dtype": t.dtype, "shape": list(t.shape)} for t in (spec.input, spec.output)}
    assert info["profile"] == {k: [v, *CHW] for k, v in spec.batch.to_dict().items()}
    gemm = info["layers"]["gemm_layers"]
    graph = onnx.load(str(bundled_packages[precision] / "model.onnx"))
    gemm_nodes = sum(n.op_type in ("MatMul", "Conv") for n in graph.graph.node)
    assert sum(gemm.values()) == gemm_nodes
    if precision == "int8":  # every quantized op of the graph became an int8 layer, the rest stayed float
        assert gemm["int8"] == len(quantized_ops(graph)) == 41 and gemm["float32"] == gemm_nodes - 41
    elif precision == "fp16":  # the heavy layers run in half; fp32 keeps LayerNorm and Softmax, not GEMMs
        assert gemm == {"float16": gemm_nodes}
    else:
        assert gemm == {"float32": gemm_nodes}


def test_rtx_builds_for_several_architectures_in_one_engine(bundled_packages, tmp_path):
    info = _build(bundled_packages, "int8", tmp_path, compute_capabilities=("sm86", "SM89"))
    assert info["compute_capabilities"] == ["sm86", "sm89"]
    with pytest.raises(EngineBuildError, match="cannot build for 'sm90'.*sm86"):
        _build(bundled_packages, "int8", tmp_path, compute_capabilities=("sm90",))  # Hopper: not an RTX target


def test_a_graph_the_parser_rejects_names_the_node(tmp_path, bundled_packages):
    bad = helper.make_model(
        helper.make_graph(
            [helper.make_node("Foo", ["input"], ["heatmaps"], name="my_custom", domain="com.example")],
            "g",
            [helper.make_tensor_value_info("input", TensorProto.FLOAT, [-1, *CHW])],
            [helper.make_tensor_value_info("heatmaps", TensorProto.FLOAT, [-1, 17, 32, 24])],
        ),
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.example", 1)],
    )
    onnx.save(bad, tmp_path / "bad.onnx")
    options = EngineOptions("fp32", (1, 1, 1), 1.0, compute_capabilities=("sm86",))
    with pytest.raises(EngineBuildError, match=r"cannot parse bad.onnx: node 'my_custom' \(Foo\).*Plugin not found"):
        build_engine(tmp_path / "bad.onnx", tmp_path / "bad.onnx", tmp_path / "e", "input", CHW, options, trt=trt)
    assert not (tmp_path / "e").exists()


def test_without_a_gpu_or_a_target_the_build_says_what_to_pass(bundled_packages, tmp_path):
    with pytest.raises(EngineBuildError, match="--compute-capability"):
        _build(bundled_packages, "fp32", tmp_path, compute_capabilities=())


def test_one_command_writes_a_swint_int8_package_with_an_rtx_engine(tmp_path, synthetic_root, capsys):
    from export.cli import main

    calib = synthetic_root / "annotations" / "person_keypoints_train.json"
    argv = [
        "--weights",
        "random",
        "--model",
        "swinpose_t_256x192",
        "--int8",
        "--calib-data",
        str(calib),
        "--calib-size",
        "8",
        "--parity-crops",
        "4",
        "--engine",
        "--trt-flavor",
        "rtx",
        "--compute-capability",
        "sm86,sm89",
        "--out",
        str(tmp_path / "pk"),
        "--quiet",
    ]
    assert main(argv) == 0
    spec = read_package(tmp_path / "pk")
    engine = spec.engine
    assert engine["flavor"] == "rtx" and engine["compute_capabilities"] == ["sm86", "sm89"]
    assert engine["tensorrt_version"] == trt.__version__ and engine["mode"] == "typed"
    assert spec.engine_path.stat().st_size == engine["bytes"] > 10_000_000
    graph = onnx.load(str(spec.onnx_path))
    assert engine["layers"]["gemm_layers"]["int8"] == len(quantized_ops(graph)) > 50  # 4 per block, merges, neck
    assert "model.engine" in capsys.readouterr().out


def test_auto_export_with_only_rtx_installed_skips_the_engine_with_the_command(bundled_packages, cached_onnx, tmp_path):
    try:
        import tensorrt  # noqa: F401
    except (ImportError, OSError):
        pass
    else:
        pytest.skip("standard TensorRT is installed here, and auto picks it")
    result = export_package("bundled", tmp_path / "pk", ExportOptions(progress=False))
    assert "--compute-capability" in result.engine_skipped and result.spec.engine is None
    json.loads((tmp_path / "pk" / "model.json").read_text())
