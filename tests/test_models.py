"""Named configs, shapes, fusion methods, errors, counted complexity, and that the training path learns."""

from __future__ import annotations

import pytest
import torch

import swinpose
from swinpose import ConfigError, InputShapeError, PoseModelConfig, create_model, get_config, list_models

REQUIRED = {
    "swinpose_t_256x192",
    "swinpose_s_256x192",
    "swinpose_b_256x192",
    "swinpose_l_256x192",
    "swinpose_t_384x288",
    "swinpose_b_384x288",
    "swinpose_l_384x288",
    "swinpose_nano_256x192",
}


def test_registry_lists_the_named_configs():
    assert REQUIRED <= set(list_models())
    assert get_config("swinpose_b_384x288").backbone.window_size == 12
    assert get_config("swinpose_t_384x288").backbone.window_size == 7
    assert get_config("swinpose_l_256x192").backbone.embed_dim == 192


@pytest.mark.parametrize("fusion", ["sum", "concat"])
def test_swin_t_gives_17_heatmaps_at_a_quarter_of_the_input(fusion):
    model = create_model("swinpose_t_256x192", fusion=fusion).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, 256, 192))
    assert out.shape == (2, 17, 64, 48)
    assert torch.isfinite(out).all()


def test_fusion_methods_differ_in_structure():
    a = create_model("swinpose_nano_256x192", fusion="sum")
    b = create_model("swinpose_nano_256x192", fusion="concat")
    assert len(a.neck.merge) == 0 and len(b.neck.merge) == 3
    assert b.neck.merge[0].in_channels == 2 * b.cfg.neck_channels


def test_384x288_and_overrides():
    model = create_model("swinpose_nano_256x192", img_size=(384, 288), num_keypoints=14, window_size=12).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 384, 288)).shape == (1, 14, 96, 72)


def test_bad_names_and_options_fail_with_the_fix():
    with pytest.raises(ConfigError, match="unknown model 'swinpose_x'.*swinpose_t_256x192"):
        create_model("swinpose_x")
    with pytest.raises(ConfigError, match=r"unknown model option\(s\) \['fusoin'\]"):
        create_model("swinpose_nano_256x192", fusoin="sum")
    with pytest.raises(ConfigError, match="unknown fusion 'mean'"):
        create_model("swinpose_nano_256x192", fusion="mean")
    with pytest.raises(ConfigError, match=r"multiples of 32; try \(256, 192\)"):
        create_model("swinpose_nano_256x192", img_size=(250, 190))
    with pytest.raises(ConfigError, match="heads do not divide"):
        create_model("swinpose_nano_256x192", num_heads=(3, 2, 4, 8))


def test_wrong_input_size_names_the_fix():
    model = create_model("swinpose_nano_256x192")
    with pytest.raises(InputShapeError, match=r"built for B×3×256×192.*img_size=\(224, 224\)"):
        model(torch.randn(1, 3, 224, 224))


def test_config_round_trips_through_dict():
    cfg = get_config("swinpose_b_384x288", fusion="concat")
    assert PoseModelConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError, match="no field"):
        PoseModelConfig.from_dict({**cfg.to_dict(), "extra": 1})


def test_swin_t_backbone_params_match_timm_features_only(timm):
    reference = timm.create_model("swin_tiny_patch4_window7_224", pretrained=False, features_only=True)
    expected = sum(p.numel() for p in reference.parameters())
    got = swinpose.measure_complexity(get_config("swinpose_t_256x192")).backbone_params
    assert abs(expected - 27.5e6) / 27.5e6 < 0.01
    assert abs(got - expected) / expected < 0.01, (got, expected)


def test_flops_are_counted_and_match_the_swin_paper():
    # Swin paper, Table 1: Swin-T at 224×224 is 4.5 G multiply-accumulates.
    t224 = swinpose.measure_complexity(get_config("swinpose_t_256x192", img_size=(224, 224)))
    assert abs(t224.backbone_flops / 2e9 - 4.5) < 0.05
    t = swinpose.measure_complexity(get_config("swinpose_t_256x192"))
    b = swinpose.measure_complexity(get_config("swinpose_b_256x192"))
    assert t.flops > t.backbone_flops > t224.backbone_flops
    assert b.gflops > 2.5 * t.gflops


def test_training_step_lowers_the_loss_and_drop_path_is_stochastic():
    model = create_model("swinpose_nano_256x192", drop_path_rate=0.1).train()
    x, target = torch.randn(2, 3, 256, 192), torch.rand(2, 17, 64, 48)
    a, b = model(x), model(x)
    assert not torch.equal(a, b), "drop-path should make two training passes differ"
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(x), model(x))
    model = create_model("swinpose_nano_256x192").train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(5):
        loss = torch.nn.functional.mse_loss(model(x), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert all(later < earlier for earlier, later in zip(losses, losses[1:])), losses
    assert losses[-1] < 0.9 * losses[0], losses
    assert model.backbone.layers[0].blocks[1].attn.relative_position_bias_table.grad.abs().sum() > 0
