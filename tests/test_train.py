"""Training: the loss falls on synthetic data, checkpoints are complete, resume continues, the CLI works."""

from __future__ import annotations

import json
import math
import os

import pytest
import torch
from torch.utils.data import default_collate

from runtime.codec import HeatmapCodec
from runtime.errors import ConfigError
from swinpose.data.coco import Augmentation, CocoKeypoints, find_split, load_coco_instances
from swinpose.data.synthetic import write_dataset
from swinpose.defaults import inference_for_codec
from swinpose.models import create_model
from swinpose.models.pose_io import load_pose_model
from swinpose.train import TrainConfig, heatmap_mse, lr_factor, train

STILL = Augmentation(flip_prob=0, rotation_prob=0, shift_prob=0, half_body_prob=0, scale_factor=0)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthetic")
    write_dataset(root, 10, 3, seed=11, progress=False)
    return root


def _cfg(**kw) -> TrainConfig:
    base = dict(
        model="swinpose_nano_128x96",
        batch_size=8,
        lr=2e-3,
        warmup_iters=0,
        epochs=8,
        workers=0,
        eval_every=100,
        save_every=2,
        augmentation=STILL,
        flip_test=False,
        sigma=1.5,
    )
    return TrainConfig(**{**base, **kw})


def _dataset_loss(model: torch.nn.Module, root) -> float:
    """Mean heatmap loss of ``model`` over every training instance, without augmentation.

    In train mode: after a few iterations BatchNorm's running statistics have not caught up with its weights.
    """
    ann, images = find_split(root, "train")
    codec = HeatmapCodec(model.cfg.input_size, model.cfg.heatmap_size, 1.5)
    ds = CocoKeypoints(load_coco_instances(ann, images)[0], inference_for_codec(codec))
    batch = default_collate([ds[i] for i in range(len(ds))])
    with torch.no_grad():
        return heatmap_mse(model.train()(batch["image"]), batch["target"], batch["target_weight"]).item()


def test_loss_falls_and_checkpoints_are_complete(tmp_path):
    data = tmp_path / "data"
    files = write_dataset(data, 3, 1, seed=11, progress=False)
    people = len(json.loads(files["train"].read_text())["annotations"])
    cfg = _cfg(lr=2e-3, epochs=40, batch_size=people, save_every=20)  # one batch per epoch: 40 steps on it
    out = tmp_path / "run"
    summary = train(cfg, data, out, device="cpu", progress=False)
    assert len(summary["losses"]) == summary["iterations"] == 40
    torch.manual_seed(cfg.seed)  # train() builds its model right after seeding: this is the model it started from
    before = _dataset_loss(create_model(cfg.model), data)
    after = _dataset_loss(load_pose_model(out / "last.pth"), data)
    assert after < 0.8 * before, (before, after)  # measured 0.00876 -> 0.00563
    assert {p.name for p in out.iterdir()} >= {"config.json", "last.pth", "best.pth", "log.jsonl", "epoch_40.pth"}
    resolved = json.loads((out / "config.json").read_text())
    assert resolved["train"]["sigma"] == 1.5 and resolved["model"]["name"] == "swinpose_nano_128x96"
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == list(range(1, 41)) and "AP" in log[-1] and 0 <= log[-1]["AP"] <= 1
    assert not list(out.glob(".*.tmp*"))  # atomic_path's temporary files are gone


def test_resume_continues_where_it_stopped(synthetic, tmp_path):
    first = train(_cfg(epochs=2), synthetic, tmp_path, device="cpu", progress=False)
    resumed = train(_cfg(epochs=3), synthetic, tmp_path / "b", resume=tmp_path, device="cpu", progress=False)
    assert resumed["epoch"] == 3 and resumed["iterations"] == first["iterations"] * 3 // 2
    assert len(resumed["losses"]) == first["iterations"] // 2


def test_lr_schedule_golden():
    cfg = TrainConfig(warmup_iters=100, schedule="cosine")
    assert lr_factor(0, 1000, 10, cfg) == pytest.approx(0.001)
    assert lr_factor(50, 1000, 10, cfg) == pytest.approx((0.001 + 0.999 * 0.5) * 0.5 * (1 + math.cos(math.pi * 0.05)))
    assert lr_factor(500, 1000, 10, cfg) == pytest.approx(0.5)
    step = TrainConfig(warmup_iters=0, schedule="step", milestones=(5, 8), gamma=0.1)
    assert [lr_factor(i * 10, 100, 10, step) for i in (4, 5, 8)] == pytest.approx([1.0, 0.1, 0.01])


def test_heatmap_mse_ignores_zero_weight_keypoints():
    pred, target = torch.zeros(1, 2, 4, 4), torch.ones(1, 2, 4, 4)
    assert heatmap_mse(pred, target, torch.tensor([[1.0, 0.0]])).item() == pytest.approx(0.5)


def test_config_errors_are_clear(tmp_path):
    with pytest.raises(ConfigError, match="unknown training config keys \\['lrr'\\]"):
        TrainConfig.from_dict({"lrr": 1})
    with pytest.raises(ConfigError, match="schedule must be"):
        TrainConfig(schedule="linear")


def test_cli_trains_a_few_iterations_and_reports_errors(synthetic, tmp_path, capsys):
    from swinpose.cli.train import main

    args = ["--config", "nano_synthetic", "--data", str(synthetic), "--out", str(tmp_path), "--device", "cpu"]
    assert (
        main([*args, "--max-iters", "2", "--set", "workers=0", "--set", "batch_size=4", "--set", "flip_test=false"])
        == 0
    )
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["iterations"] == 2 and (tmp_path / "last.pth").is_file()
    assert main(["--config", "nope", "--data", str(synthetic), "--out", str(tmp_path)]) == 1
    assert "neither a file nor a bundled config" in capsys.readouterr().err
    assert main(["--config", "nano_synthetic", "--data", str(tmp_path), "--out", str(tmp_path)]) == 1
    assert "no 'train' split" in capsys.readouterr().err


def test_torchrun_two_process_ddp_on_cpu(synthetic, tmp_path):
    """Multi-GPU goes through torchrun + DistributedDataParallel; on CPU the same path runs with gloo."""
    import subprocess
    import sys

    config = tmp_path / "cfg.json"
    config.write_text(json.dumps({**_cfg(epochs=1, batch_size=4).to_dict(), "augmentation": STILL.to_dict()}))
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc-per-node",
        "2",
        "--master-port",
        "29531",
        "-m",
        "swinpose.cli.train",
        "--config",
        str(config),
        "--data",
        str(synthetic),
        "--out",
        str(tmp_path / "run"),
        "--device",
        "cpu",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    resolved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert resolved["world_size"] == 2
    people = len(load_coco_instances(*find_split(synthetic, "train"))[0])
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["iterations"] == math.ceil(people / 2) // 4  # each rank sees half of the data


def test_model_files_round_trip_and_refuse_foreign_files(tmp_path):
    from safetensors.torch import save_file

    from runtime.errors import CheckpointError
    from swinpose.models.pose_io import load_pose_file, save_pose_model

    model = create_model("swinpose_nano_128x96", fusion="concat").eval()
    x = torch.randn(1, 3, 128, 96)
    path = save_pose_model(model, tmp_path / "m.safetensors", metadata={"sigma": "1.5"})
    loaded, meta = load_pose_file(path)
    assert loaded.cfg == model.cfg and meta["sigma"] == "1.5"
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))
        half = load_pose_model(save_pose_model(model, tmp_path / "h.safetensors", half=True))
        assert (half(x) - model(x)).abs().max() < 1e-2 and path.stat().st_size > 1.9 * (
            tmp_path / "h.safetensors"
        ).stat().st_size
    save_file({"w": torch.zeros(2)}, str(tmp_path / "backbone.safetensors"))
    with pytest.raises(CheckpointError, match="no 'swinpose_config' metadata"):
        load_pose_model(tmp_path / "backbone.safetensors")
    with pytest.raises(CheckpointError, match="does not exist"):
        load_pose_model(tmp_path / "none.safetensors")
    with pytest.raises(CheckpointError, match="use that suffix"):
        save_pose_model(model, tmp_path / "m.pth")


def test_training_preprocessing_travels_to_the_package_and_the_engine(synthetic, tmp_path):
    """Changing the box padding and mean/std in the training config changes what the checkpoint records, the
    exported package, and PoseEngine's crops, with no other code touched."""
    import cv2
    import numpy as np

    from export.package import ExportOptions, export_package
    from runtime import PoseEngine
    from runtime.transforms import box_to_center_scale, get_warp_matrix, warp_crop

    mean, std = (100.0, 110.0, 120.0), (50.0, 60.0, 70.0)
    cfg = _cfg(epochs=1, box_padding=1.5, mean=mean, std=std, color_order="BGR")
    train(cfg, synthetic, tmp_path / "run", device="cpu", max_iters=1, progress=False)
    package = export_package(
        tmp_path / "run" / "last.pth", tmp_path / "pk", ExportOptions(engine=False, parity_crops=4, progress=False)
    ).spec
    pre = package.preprocess
    assert (pre.box_padding, pre.mean, pre.std, pre.color_order) == (1.5, mean, std, "BGR")
    assert package.codec.sigma == 1.5
    image = cv2.imread(str(next((synthetic / "val").iterdir())))
    box = np.array([[20.0, 10.0, 70.0, 110.0]])  # xyxy
    with PoseEngine(tmp_path / "pk") as engine:
        inputs, matrices, _ = engine.preprocess([image], [box])
    # by hand: the crop of a 1.5-padded box, normalised in BGR order with the training mean/std
    center, scale = box_to_center_scale(np.array([20.0, 10.0, 50.0, 100.0]), 96 / 128, 1.5)
    want = get_warp_matrix(center, scale, (96, 128))
    np.testing.assert_allclose(matrices[0], want, rtol=1e-12)
    crop = warp_crop(image, want, (96, 128)).astype(np.float32)
    expected = ((crop - np.float32(mean)) / np.float32(std)).transpose(2, 0, 1)
    np.testing.assert_allclose(inputs[0], expected, rtol=1e-6, atol=1e-6)
    # the defaults give another crop: the padding really moved it
    default = export_package(
        "bundled", tmp_path / "bundled", ExportOptions(engine=False, parity_crops=4, progress=False)
    ).spec
    assert default.preprocess.box_padding == 1.25 and default.preprocess.mean != mean


def test_invalid_inference_settings_fail_before_training(synthetic, tmp_path):
    with pytest.raises(ConfigError, match="std must be positive"):
        train(_cfg(std=(0.0, 1.0, 1.0)), synthetic, tmp_path / "run", device="cpu", max_iters=1, progress=False)
    assert not (tmp_path / "run").exists()
