"""The Swin-T pose model exports to ONNX with a dynamic batch and no shape plumbing, and ONNX Runtime agrees."""

from __future__ import annotations

import collections

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from swinpose import create_model

FORBIDDEN = ("Shape", "Mod", "ScatterND", "Range", "Gather", "Pad", "ConstantOfShape")


@pytest.fixture(scope="module")
def swin_t(perturb):
    torch.manual_seed(0)
    model = create_model("swinpose_t_256x192").eval()
    perturb(model)
    return model


def _export(model, path) -> onnx.ModelProto:
    """torch's dynamo exporter, the one the product uses (export.onnx_export), called directly with a dynamic batch."""
    example = torch.randn(2, 3, 256, 192)  # batch 2: a batch-1 example makes the dynamo exporter fix the batch
    torch.onnx.export(
        model,
        (example,),
        str(path),
        dynamo=True,
        dynamic_shapes=({0: torch.export.Dim("batch", min=1, max=64)},),
        opset_version=17,
        input_names=["input"],
        output_names=["heatmaps"],
    )
    return onnx.load(str(path))


def _dims(value_info) -> list:
    return [d.dim_value or "dynamic" for d in value_info.type.tensor_type.shape.dim]


def test_swin_t_export_is_shape_free_and_matches_pytorch(swin_t, tmp_path):
    path = tmp_path / "swin_t.onnx"
    graph = _export(swin_t, path)
    onnx.checker.check_model(graph, full_check=True)
    ops = collections.Counter(n.op_type for n in graph.graph.node)
    assert {op: ops[op] for op in FORBIDDEN if ops[op]} == {}, ops
    assert [o.version for o in graph.opset_import if o.domain in ("", "ai.onnx")] == [17]

    # static H×W everywhere: ONNX's own shape inference resolves the output to batch×17×64×48
    for v in graph.graph.output:
        v.type.tensor_type.ClearField("shape")
    inferred = onnx.shape_inference.infer_shapes(graph, strict_mode=True)
    assert _dims(inferred.graph.input[0]) == ["dynamic", 3, 256, 192]
    assert _dims(inferred.graph.output[0]) == ["dynamic", 17, 64, 48]

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for batch in (1, 3):
        x = torch.randn(batch, 3, 256, 192)
        with torch.no_grad():
            expected = swin_t(x).numpy()
        got = session.run(None, {"input": x.numpy()})[0]
        assert got.shape == (batch, 17, 64, 48)
        assert np.abs(expected).max() > 0.5  # outputs large enough for the tolerance to mean something
        assert np.abs(got - expected).max() <= 1e-4
