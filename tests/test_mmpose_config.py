"""MMPose config files read without running them (swinpose.models.mmpose_config), against MMPose's own configs:
tests/data/mmpose/configs holds MMPose's files as its repository has them (SOURCE), and the goldens'
``{name}.config.py`` are what mmengine's ``Config.dump`` wrote for the cut architectures."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

import swinpose
from export.cli import main as export_main
from runtime.errors import CheckpointError, ConfigError
from runtime.keypoints import KeypointSpec
from swinpose.models.mmpose_config import Unresolved, load_mmpose_settings, read_mmpose_config
from swinpose.models.pose_io import read_pose_file

GOLDEN = Path(__file__).parent / "data" / "mmpose"
CONFIGS = GOLDEN / "configs"
V1 = CONFIGS / "1.x" / "configs" / "body_2d_keypoint" / "topdown_heatmap" / "coco"
V0 = CONFIGS / "0.x" / "configs" / "body" / "2d_kpt_sview_rgb_img" / "topdown_heatmap" / "coco"

#: read by eye from MMPose's files: config → (layout, (H, W), embed, window, FPN neck)
PUBLISHED = {
    V1 / "td-hm_swin-t-p4-w7_8xb32-210e_coco-256x192.py": ("1.x", (256, 192), 96, 7, False),
    V1 / "td-hm_swin-b-p4-w7_8xb32-210e_coco-256x192.py": ("1.x", (256, 192), 128, 7, False),
    V1 / "td-hm_swin-b-p4-w7_8xb32-210e_coco-384x288.py": ("1.x", (384, 288), 128, 12, False),
    V1 / "td-hm_swin-l-p4-w7_8xb32-210e_coco-256x192.py": ("1.x", (256, 192), 192, 7, False),
    V1 / "td-hm_swin-l-p4-w7_8xb32-210e_coco-384x288.py": ("1.x", (384, 288), 192, 7, False),
    V0 / "swin_t_p4_w7_coco_256x192.py": ("0.x", (256, 192), 96, 7, False),
    V0 / "swin_b_p4_w7_coco_256x192.py": ("0.x", (256, 192), 128, 7, False),
    V0 / "swin_b_p4_w7_coco_384x288.py": ("0.x", (384, 288), 128, 12, False),
    V0 / "swin_l_p4_w7_coco_256x192.py": ("0.x", (256, 192), 192, 7, False),
    V0 / "swin_l_p4_w7_coco_384x288.py": ("0.x", (384, 288), 192, 7, False),
    V0 / "swin_b_p4_w7_fpn_coco_256x192.py": ("0.x", (256, 192), 128, 7, True),
    V0 / "swin_b_p4_w7_fpn_coco_384x288.py": ("0.x", (384, 288), 128, 12, True),
}


@pytest.mark.parametrize("path", list(PUBLISHED), ids=lambda p: f"{p.parent.parent.parent.parent.name}-{p.stem}")
def test_mmposes_published_configs_read_as_written(path):
    layout, size, embed, window, fpn = PUBLISHED[path]
    s = load_mmpose_settings(path)
    assert (s.layout, s.input_size, s.heatmap_size) == (layout, size, (size[0] // 4, size[1] // 4))
    assert (s.backbone["embed_dims"], s.backbone["window_size"], s.neck) == (embed, window, fpn)
    assert (s.sigma, s.color_order, s.box_padding, s.flip_test, s.shift_heatmap, s.num_keypoints) == (
        2.0,
        "RGB",
        1.25,
        True,
        True,
        17,
    )
    scale = 255.0 if layout == "1.x" else 1.0  # 1.x normalises 0..255 pixels, 0.x 0..1 tensors
    assert s.pixel_scale == scale and s.mean == pytest.approx((0.485 * scale, 0.456 * scale, 0.406 * scale), 1e-4)


def test_a_0x_configs_dataset_info_from_its_base_is_cocos_keypoints():
    """``{{_base_.dataset_info}}`` is read from MMPose's own _base_/datasets/coco.py: its names, swap pairs,
    skeleton and sigmas are COCO's as runtime.keypoints states them."""
    s = load_mmpose_settings(V0 / "swin_b_p4_w7_fpn_coco_256x192.py")
    ours, coco = KeypointSpec.from_dict(s.keypoints), KeypointSpec.coco()
    assert (ours.names, ours.flip_pairs, sorted(ours.skeleton)) == (coco.names, coco.flip_pairs, sorted(coco.skeleton))
    assert ours.oks_sigmas == pytest.approx(coco.oks_sigmas, abs=1e-12)  # MMPose writes .026, we .26 / 10
    assert (
        read_mmpose_config(V0 / "swin_b_p4_w7_fpn_coco_256x192.py")["data"]["val"]["dataset_info"]["dataset_name"]
        == "coco"
    )


def test_a_config_is_read_and_never_run(tmp_path):
    marker = tmp_path / "ran"
    text = (GOLDEN / "swin_t_256x192.config.py").read_text()
    evil = (
        f"import os\nos.system('touch {marker}')\nx = __import__('os').system('touch {marker}')\n"
        f"y = open('{marker}', 'w')\nz = [f'{{x}}', {{**x}}, lambda: 1]\n"
    )
    cfg = tmp_path / "evil.py"
    cfg.write_text(evil + text)
    s = load_mmpose_settings(cfg)
    assert not marker.exists()
    assert s.input_size == (256, 192)
    values = read_mmpose_config(cfg)
    assert isinstance(values["x"], Unresolved) and all(isinstance(v, Unresolved) for v in values["z"])
    assert isinstance(values["y"], Unresolved) and "open()" in values["y"].why
    # a setting swinpose needs that is not plain data: the error names it and its line
    cfg.write_text(re.sub(r"input_size=\(\s*192,\s*256,\s*\)", "input_size=open('x')", text))
    with pytest.raises(ConfigError, match=r"codec.input_size is a call of open\(\) at evil.py:\d+"):
        load_mmpose_settings(cfg)


def test_a_hostile_config_is_a_config_error_not_a_crash(tmp_path):
    text = (GOLDEN / "swin_t_256x192.config.py").read_text()
    cfg = tmp_path / "bomb.py"
    cfg.write_text("x = [0] * 1000000000\ny = 'a' * 10000000000\n" + text)
    values = read_mmpose_config(cfg)  # not built: 8 GB and 10 GB
    assert isinstance(values["x"], Unresolved) and "repetition of over" in values["x"].why
    assert isinstance(values["y"], Unresolved) and load_mmpose_settings(cfg).input_size == (256, 192)
    for deep in ("[" * 100_000 + "]" * 100_000, "+".join(["1"] * 100_000)):  # past the parser's, then our recursion
        cfg.write_text(f"x = {deep}\n")
        with pytest.raises(ConfigError, match="is not Python|cannot be parsed|nests its values too deeply"):
            read_mmpose_config(cfg)
    cfg.write_text("x = 1\x00\n")
    with pytest.raises(ConfigError, match="cannot be parsed|is not Python"):
        read_mmpose_config(cfg)


def _edited(tmp_path: Path, name: str, *subs: tuple[str, str]) -> Path:
    text = (GOLDEN / f"{name}.config.py").read_text()
    for old, new in subs:
        assert re.search(old, text), old
        text = re.sub(old, new, text)  # every copy: mmengine inlines the codec into the head
    out = tmp_path / f"{name}.edited.py"
    out.write_text(text)
    return out


def test_the_configs_settings_reach_the_package(tmp_path):
    cfg = _edited(
        tmp_path,
        "swin_t_256x192",
        (r"shift_heatmap=True", "shift_heatmap=False"),
        (r"bgr_to_rgb=True", "bgr_to_rgb=False"),
        (r"dict\(type='GetBBoxCenterScale'\)", "dict(type='GetBBoxCenterScale', padding=1.5)"),
    )
    _, _, meta = read_pose_file(GOLDEN / "swin_t_256x192.0x.pth", mmpose_config=cfg)
    spec = json.loads(meta["swinpose_inference"])
    assert spec["codec"]["flip_shift"] is False and spec["codec"]["convention"] == "msra"
    assert spec["preprocess"]["color_order"] == "BGR" and spec["preprocess"]["box_padding"] == 1.5
    assert meta["mmpose_config"] == str(cfg)
    # without a config the 0.x file gets MMPose's defaults, which the published configs state
    spec = json.loads(read_pose_file(GOLDEN / "swin_t_256x192.0x.pth", input_size=(256, 192))[2]["swinpose_inference"])
    assert spec["codec"]["flip_shift"] is True and spec["preprocess"]["color_order"] == "RGB"


@pytest.mark.parametrize(
    "old, new, match",
    [
        (r"type='MSRAHeatmap'", "type='UDPHeatmap'", "codec is 'UDPHeatmap', not MSRAHeatmap"),
        (r"type='MSRAHeatmap'", "type='MSRAHeatmap', unbiased=True", "DARK"),
        (
            r"dict\(input_size=\(\s*192,\s*256,\s*\), type='TopdownAffine'\)",
            "dict(input_size=(192, 256), type='TopdownAffine', use_udp=True)",
            "uses UDP",
        ),
        (r"flip_mode='heatmap'", "flip_mode='feature'", "flip_mode is 'feature'"),
        (r"type='SwinTransformer'", "type='HRNet'", "backbone is 'HRNet', not SwinTransformer"),
        (r"heatmap_size=\(\s*48,\s*64,\s*\)", "heatmap_size=64", r"heatmap_size is 64, not \(width, height\)"),
    ],
)
def test_what_swinpose_does_not_reproduce_is_refused_by_name(tmp_path, old, new, match):
    with pytest.raises(ConfigError, match=match):
        load_mmpose_settings(_edited(tmp_path, "swin_t_256x192", (old, new)))


def test_0x_decoding_other_than_default_is_refused(tmp_path):
    cfg = _edited(tmp_path, "swin_b_fpn_256x192", (r"post_process='default'", "post_process='unbiased'"))
    with pytest.raises(ConfigError, match="post_process is 'unbiased'"):
        load_mmpose_settings(cfg)


def test_bad_files_are_named(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_mmpose_settings(tmp_path / "nope.py")
    (tmp_path / "index.yml").write_text("Models:\n- Name: x\n  Config: a.py\n")
    with pytest.raises(ConfigError, match="is not Python .*model index is not one"):
        load_mmpose_settings(tmp_path / "index.yml")
    (tmp_path / "loop.py").write_text("_base_ = ['./loop.py']\n")
    with pytest.raises(ConfigError, match="includes itself"):
        read_mmpose_config(tmp_path / "loop.py")


def test_bases_merge_as_mmengine_merges_them(tmp_path):
    shutil.copy(GOLDEN / "swin_t_256x192.config.py", tmp_path / "base.py")
    child = tmp_path / "child.py"
    child.write_text("_base_ = ['./base.py']\nmodel = dict(test_cfg=dict(shift_heatmap=False))\n")
    s = load_mmpose_settings(child)
    assert s.backbone["embed_dims"] == 8 and s.flip_test is True and s.shift_heatmap is False  # merged into the base
    child.write_text("_base_ = './base.py'\nmodel = dict(test_cfg=dict(_delete_=True, shift_heatmap=True))\n")
    s = load_mmpose_settings(child)
    assert s.flip_test is False and s.shift_heatmap is True  # _delete_ replaced test_cfg: flip_test's default
    child.write_text("_base_ = ['./missing.py']\nmodel = dict(test_cfg=dict(flip_test=True))\n")
    with pytest.raises(ConfigError, match="backbone is None, not SwinTransformer"):
        load_mmpose_settings(child)


def test_a_config_of_another_model_or_size_is_refused(tmp_path):
    with pytest.raises(CheckpointError, match=r"not the model its config .* describes: embed_dims 8 in the file, 96"):
        read_pose_file(GOLDEN / "swin_t_256x192.0x.pth", mmpose_config=V0 / "swin_t_p4_w7_coco_256x192.py")
    with pytest.raises(CheckpointError, match="window_size 7 in the file, 12 in the config"):
        wider = _edited(tmp_path, "swin_b_256x192", (r"window_size=7", "window_size=12"))
        read_pose_file(GOLDEN / "swin_b_256x192.0x.pth", mmpose_config=wider)
    with pytest.raises(CheckpointError, match="--input-size says 384x288, and the config .* says 256x192; drop"):
        read_pose_file(
            GOLDEN / "swin_t_256x192.0x.pth", input_size=(384, 288), mmpose_config=GOLDEN / "swin_t_256x192.config.py"
        )
    with pytest.raises(CheckpointError, match="no FPN neck in the file, a neck in the config"):
        read_pose_file(GOLDEN / "swin_b_256x192.0x.pth", mmpose_config=GOLDEN / "swin_b_fpn_256x192.config.py")
    with pytest.raises(CheckpointError, match="is a swinpose model file; --mmpose-config .* applies only to MMPose"):
        swinpose.load_model("bundled", mmpose_config=GOLDEN / "swin_t_256x192.config.py")


def test_swinpose_export_takes_mmpose_config(tmp_path, capsys):
    out = tmp_path / "pk"
    cfg = _edited(tmp_path, "swin_t_256x192", (r"shift_heatmap=True", "shift_heatmap=False"))
    rc = export_main(
        [
            "--weights",
            str(GOLDEN / "swin_t_256x192.0x.pth"),
            "--mmpose-config",
            str(cfg),
            "--onnx-only",
            "--out",
            str(out),
            "--parity-crops",
            "2",
            "--batch",
            "1,1,2",
            "--quiet",
        ]
    )
    assert rc == 0
    meta = json.loads((out / "model.json").read_text())
    assert meta["codec"]["flip_shift"] is False and meta["input"]["shape"][-2:] == [256, 192]
    rc = export_main(
        [
            "--weights",
            str(GOLDEN / "swin_t_256x192.0x.pth"),
            "--mmpose-config",
            str(tmp_path / "x.py"),
            "--out",
            str(tmp_path / "pk2"),
            "--quiet",
        ]
    )
    err = capsys.readouterr().err
    assert rc == 1 and "MMPose config" in err and "does not exist" in err
