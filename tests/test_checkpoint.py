"""load_pretrained_backbone on timm, official and MMPose layouts written by the tests themselves."""

from __future__ import annotations

import re

import pytest
import torch

from swinpose import CheckpointError, SwinTransformer, create_model, load_pretrained_backbone

TINY = dict(embed_dim=16, depths=(2, 2, 2, 2), num_heads=(1, 2, 2, 4), window_size=7)


@pytest.fixture(scope="module")
def timm_classifier_sd(timm):
    """A timm Swin classifier state dict (with final norm and head) of the TINY architecture, random weights."""
    model = timm.models.swin_transformer.SwinTransformer(img_size=224, num_classes=10, **TINY)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return {k: v.clone() for k, v in model.state_dict().items()}


def to_official(sd: dict) -> dict:
    """timm 1.0 → microsoft/Swin-Transformer layout: downsample at the end of the previous stage, ``head``,
    plus the buffers the official code saves (which the loader must drop)."""
    out = {}
    for k, v in sd.items():
        k = re.sub(r"^layers\.(\d+)\.downsample", lambda m: f"layers.{int(m[1]) - 1}.downsample", k)
        out[k.replace("head.fc.", "head.")] = v
    out["layers.0.blocks.1.attn_mask"] = torch.zeros(64, 49, 49)
    out["layers.0.blocks.0.attn.relative_position_index"] = torch.zeros(49, 49, dtype=torch.long)
    return out


def official_to_mmseg(ckpt: dict) -> dict:
    """mmseg's ``swin_converter`` (mmseg/models/utils/ckpt_convert.py), as MMPose applies it to official weights."""

    def correct_unfold_reduction_order(x):
        out_channel, in_channel = x.shape
        x = x.reshape(out_channel, 4, in_channel // 4)
        return x[:, [0, 2, 1, 3], :].transpose(1, 2).reshape(out_channel, in_channel)

    def correct_unfold_norm_order(x):
        in_channel = x.shape[0]
        x = x.reshape(4, in_channel // 4)
        return x[[0, 2, 1, 3], :].transpose(0, 1).reshape(in_channel)

    new = {}
    for k, v in ckpt.items():
        if k.startswith("head"):
            continue
        new_k, new_v = k, v
        if k.startswith("layers"):
            if "attn." in k:
                new_k = k.replace("attn.", "attn.w_msa.")
            elif "mlp.fc1." in k:
                new_k = k.replace("mlp.fc1.", "ffn.layers.0.0.")
            elif "mlp.fc2." in k:
                new_k = k.replace("mlp.fc2.", "ffn.layers.1.")
            elif "downsample" in k:
                if "reduction." in k:
                    new_v = correct_unfold_reduction_order(v)
                elif "norm." in k:
                    new_v = correct_unfold_norm_order(v)
            new_k = new_k.replace("layers", "stages", 1)
        elif k.startswith("patch_embed") and "proj" in k:
            new_k = k.replace("proj", "projection")
        new["backbone." + new_k] = new_v
    return new


def _load(sd: dict, tmp_path, name: str, **model_kw) -> SwinTransformer:
    path = tmp_path / name
    torch.save(sd, path)
    model = SwinTransformer(img_size=(224, 224), **{**TINY, **model_kw})
    load_pretrained_backbone(model, path)
    return model


def test_timm_official_and_mmpose_layouts_load_the_same_weights(timm_classifier_sd, tmp_path):
    from_timm = _load(timm_classifier_sd, tmp_path, "timm.pth").state_dict()

    official = to_official(timm_classifier_sd)
    assert "layers.0.downsample.reduction.weight" in official
    from_official = _load({"model": official}, tmp_path, "official.pth").state_dict()

    mm = official_to_mmseg({k: v for k, v in official.items() if "attn_mask" not in k and "index" not in k})
    mm = {k.replace("backbone.norm.", "backbone.norm3."): v for k, v in mm.items()}  # MMPose: norm{i} per output
    stage0_norm = torch.randn(16)
    mm["backbone.norm0.weight"] = stage0_norm
    mm["keypoint_head.final_layer.weight"] = torch.randn(17, 16, 1, 1)  # not backbone: ignored
    assert not torch.equal(
        mm["backbone.stages.0.downsample.reduction.weight"], official["layers.0.downsample.reduction.weight"]
    )
    from_mmpose = _load({"state_dict": mm, "meta": {"epoch": torch.tensor(3)}}, tmp_path, "mmpose.pth").state_dict()

    for k, v in from_timm.items():
        assert torch.equal(from_official[k], v), k
        if k != "out_norms.0.weight":
            assert torch.equal(from_mmpose[k], v), k
    assert torch.equal(from_mmpose["out_norms.0.weight"], stage0_norm)
    # the classifier's final norm became the last stage's output norm; the head was dropped
    assert torch.equal(from_timm["out_norms.3.weight"], timm_classifier_sd["norm.weight"])
    assert torch.equal(
        from_timm["layers.1.downsample.reduction.weight"], timm_classifier_sd["layers.1.downsample.reduction.weight"]
    )


def test_imagenet_224_weights_into_256x192_pose_model(timm_classifier_sd, tmp_path):
    path = tmp_path / "in1k.pth"
    torch.save(timm_classifier_sd, path)
    model = create_model("swinpose_t_256x192", **TINY)
    report = load_pretrained_backbone(model, path)
    assert report.source_format == "timm"
    # last stage is 8×6: window clipped 7 → 6, so its tables are resampled from 13×13 to 11×11
    assert report.resized == [
        "layers.3.blocks.0.attn.relative_position_bias_table",
        "layers.3.blocks.1.attn.relative_position_bias_table",
    ]
    assert model.backbone.layers[3].blocks[0].attn.relative_position_bias_table.shape == (121, 4)
    assert sorted(report.initialised) == sorted(f"out_norms.{i}.{p}" for i in range(3) for p in ("weight", "bias"))
    assert torch.equal(
        model.backbone.layers[0].blocks[1].attn.qkv.weight, timm_classifier_sd["layers.0.blocks.1.attn.qkv.weight"]
    )


def test_resized_table_keeps_a_constant_bias_constant(timm_classifier_sd, tmp_path):
    sd = dict(timm_classifier_sd)
    sd["layers.3.blocks.0.attn.relative_position_bias_table"] = torch.full((169, 4), 0.25)
    path = tmp_path / "const.pth"
    torch.save(sd, path)
    model = create_model("swinpose_t_256x192", **TINY)
    load_pretrained_backbone(model, path)
    table = model.backbone.layers[3].blocks[0].attn.relative_position_bias_table
    torch.testing.assert_close(table, torch.full((121, 4), 0.25))


def test_own_pose_checkpoint_round_trips(tmp_path):
    src = create_model("swinpose_nano_256x192")
    path = tmp_path / "pose.pth"
    torch.save({"state_dict": src.state_dict()}, path)
    dst = create_model("swinpose_nano_256x192")
    report = load_pretrained_backbone(dst, path)
    assert report.initialised == [] and report.resized == []
    for k, v in src.backbone.state_dict().items():
        assert torch.equal(dst.backbone.state_dict()[k], v), k


def test_model_without_output_norms_ignores_the_classifier_norm(timm_classifier_sd, tmp_path):
    path = tmp_path / "in1k.pth"
    torch.save(timm_classifier_sd, path)
    model = SwinTransformer(img_size=(224, 224), out_norm=False, **TINY)
    report = load_pretrained_backbone(model, path)
    assert report.ignored == ["out_norms.3.bias", "out_norms.3.weight"]


def test_renamed_key_is_reported_as_missing_and_unexpected(timm_classifier_sd, tmp_path):
    sd = dict(timm_classifier_sd)
    sd["layers.0.blocks.0.attn.qkv_typo.weight"] = sd.pop("layers.0.blocks.0.attn.qkv.weight")
    path = tmp_path / "bad.pth"
    torch.save(sd, path)
    with pytest.raises(CheckpointError) as err:
        load_pretrained_backbone(SwinTransformer(img_size=(224, 224), **TINY), path)
    msg = str(err.value)
    assert "missing (1): layers.0.blocks.0.attn.qkv.weight" in msg
    assert "unexpected (1): layers.0.blocks.0.attn.qkv_typo.weight" in msg


def test_wrong_size_checkpoint_names_shapes(timm_classifier_sd, tmp_path):
    path = tmp_path / "tiny.pth"
    torch.save(timm_classifier_sd, path)
    with pytest.raises(
        CheckpointError, match=r"wrong shape .*patch_embed\.proj\.weight: file \(16, 3, 4, 4\) vs model \(32, 3, 4, 4\)"
    ):
        load_pretrained_backbone(SwinTransformer(img_size=(224, 224), **{**TINY, "embed_dim": 32}), path)


class _NotATensor:
    pass


def test_pickled_code_is_refused(timm_classifier_sd, tmp_path):
    path = tmp_path / "pickled.pth"
    torch.save({"state_dict": timm_classifier_sd, "hook": _NotATensor()}, path)
    with pytest.raises(
        CheckpointError, match=r"pickled Python objects or code \(test_checkpoint._NotATensor\), which swinpose refuses"
    ):
        load_pretrained_backbone(SwinTransformer(img_size=(224, 224), **TINY), path)


def test_unreadable_files_fail_clearly(tmp_path):
    model = SwinTransformer(img_size=(224, 224), **TINY)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_pretrained_backbone(model, tmp_path / "nope.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable PyTorch checkpoint"):
        load_pretrained_backbone(model, tmp_path / "junk.pth")
    torch.save({"epoch": 3}, tmp_path / "nodict.pth")
    with pytest.raises(CheckpointError, match="holds no state dict"):
        load_pretrained_backbone(model, tmp_path / "nodict.pth")
