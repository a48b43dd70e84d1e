"""Our Swin backbone against independent references.

* 224×224 (no padding anywhere): timm's ``SwinTransformer`` features, same random weights, max abs <= 1e-5.
* 256×192 (every stage padded, last window clipped): a slow reference written here from the definition of
  official Swin / MMPose: per-window attention in a Python loop, ``torch.roll`` for the shift, and the shifted-window
  mask derived from which tokens wrapped around, not from region slices.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from swinpose import SwinTransformer, load_pretrained_backbone
from swinpose.models.swin import cyclic_shift, zero_pad_bottom_right


@pytest.mark.parametrize(
    "variant, arch",
    [
        ("swin_tiny_patch4_window7_224", dict(embed_dim=96, depths=(2, 2, 6, 2), num_heads=(3, 6, 12, 24))),
        ("swin_base_patch4_window7_224", dict(embed_dim=128, depths=(2, 2, 18, 2), num_heads=(4, 8, 16, 32))),
    ],
)
def test_backbone_equals_timm_at_224(timm, perturb, tmp_path, variant, arch):
    ref = timm.create_model(variant, pretrained=False, features_only=True).eval()
    perturb(ref)
    path = tmp_path / "timm_features.pth"
    torch.save(ref.state_dict(), path)

    ours = SwinTransformer(img_size=(224, 224), window_size=7, out_norm=False, **arch).eval()
    report = load_pretrained_backbone(ours, path)
    assert report.source_format == "timm" and not report.resized

    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        expected = [f.permute(0, 3, 1, 2) for f in ref(x)]  # timm features are NHWC
        got = ours(x)
    assert [g.shape for g in got] == [e.shape for e in expected]
    for i, (g, e) in enumerate(zip(got, expected)):
        err = (g - e).abs().max().item()
        assert err <= 1e-5, f"stage {i}: max abs {err:.2e}"


# ---------------------------------------------------------------------------------------------------------------
# Slow reference at 256×192
# ---------------------------------------------------------------------------------------------------------------


def _ln(x, sd, prefix):
    return F.layer_norm(x, x.shape[-1:], sd[prefix + ".weight"], sd[prefix + ".bias"], eps=1e-5)


def _reference_block(x, sd, p, heads, window, shifted):
    """One block, official order: norm → pad (bottom/right) → roll → windows → roll back → crop → residual."""
    b, h, w, c = x.shape
    ws, s = window, (window // 2 if shifted else 0)
    if min(h, w) <= window:  # official Swin: window clipped to the grid, no shift
        ws, s = min(h, w), 0
    hp, wp = math.ceil(h / ws) * ws, math.ceil(w / ws) * ws
    y = F.pad(_ln(x, sd, p + "norm1"), (0, 0, 0, wp - w, 0, hp - h))
    y = torch.roll(y, (-s, -s), (1, 2))
    # after rolling by -s, grid position r holds original row (r + s) mod hp; "wrapped" = it came round the edge.
    # Tokens may attend to each other only if they wrapped the same way on both axes (the SW-MSA mask).
    wrapped_r, wrapped_c = torch.arange(hp) + s >= hp, torch.arange(wp) + s >= wp
    table = sd[p + "attn.relative_position_bias_table"]
    d = c // heads
    out = torch.zeros_like(y)
    for r0 in range(0, hp, ws):
        for c0 in range(0, wp, ws):
            rows = torch.arange(r0, r0 + ws).repeat_interleave(ws)
            cols = torch.arange(c0, c0 + ws).repeat(ws)
            tokens = y[:, r0 : r0 + ws, c0 : c0 + ws].reshape(b, ws * ws, c)
            q, k, v = F.linear(tokens, sd[p + "attn.qkv.weight"], sd[p + "attn.qkv.bias"]).split(c, dim=-1)
            q, k, v = (t.reshape(b, ws * ws, heads, d) for t in (q, k, v))
            logits = torch.einsum("bnhd,bmhd->bhnm", q * d**-0.5, k)
            dy, dx = rows[:, None] - rows[None, :], cols[:, None] - cols[None, :]
            logits = logits + table[(dy + ws - 1) * (2 * ws - 1) + (dx + ws - 1)].permute(2, 0, 1)
            allowed = (wrapped_r[rows][:, None] == wrapped_r[rows][None, :]) & (
                wrapped_c[cols][:, None] == wrapped_c[cols][None, :]
            )
            logits = logits + torch.where(allowed, 0.0, -100.0).to(logits)
            o = torch.einsum("bhnm,bmhd->bnhd", logits.softmax(-1), v).reshape(b, ws * ws, c)
            o = F.linear(o, sd[p + "attn.proj.weight"], sd[p + "attn.proj.bias"])
            out[:, r0 : r0 + ws, c0 : c0 + ws] = o.reshape(b, ws, ws, c)
    x = x + torch.roll(out, (s, s), (1, 2))[:, :h, :w]
    hidden = F.gelu(F.linear(_ln(x, sd, p + "norm2"), sd[p + "mlp.fc1.weight"], sd[p + "mlp.fc1.bias"]))
    return x + F.linear(hidden, sd[p + "mlp.fc2.weight"], sd[p + "mlp.fc2.bias"])


def _reference_merge(x, sd, p):
    x = F.pad(x, (0, 0, 0, x.shape[2] % 2, 0, x.shape[1] % 2))
    x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], dim=-1)
    return F.linear(_ln(x, sd, p + "norm"), sd[p + "reduction.weight"])


def _reference_backbone(sd, x, depths, heads, window):
    x = F.conv2d(x, sd["patch_embed.proj.weight"], sd["patch_embed.proj.bias"], stride=4).permute(0, 2, 3, 1)
    x = _ln(x, sd, "patch_embed.norm")
    outs = []
    for i, depth in enumerate(depths):
        if i:
            x = _reference_merge(x, sd, f"layers.{i}.downsample.")
        for j in range(depth):
            x = _reference_block(x, sd, f"layers.{i}.blocks.{j}.", heads[i], window, shifted=j % 2 == 1)
        outs.append(_ln(x, sd, f"out_norms.{i}").permute(0, 3, 1, 2))
    return outs


@pytest.mark.parametrize("img_size", [(256, 192), (384, 288)])
def test_padded_backbone_equals_slow_reference(perturb, img_size):
    arch = dict(embed_dim=16, depths=(2, 2, 2, 2), num_heads=(1, 2, 2, 4), window_size=7)
    model = SwinTransformer(img_size=img_size, **arch).double().eval()
    perturb(model)
    x = torch.randn(2, 3, *img_size, dtype=torch.float64)
    with torch.no_grad():
        got = model(x)
        expected = _reference_backbone(model.state_dict(), x, arch["depths"], arch["num_heads"], 7)
    for i, (g, e) in enumerate(zip(got, expected)):
        assert g.shape == e.shape
        err = (g - e).abs().max().item()
        assert err <= 1e-9, f"stage {i}: max abs {err:.2e}"


def test_swin_t_geometry_at_256x192():
    """Window, shift and padded grid per stage as documented in swin.py (window clipped to 6 in the last stage)."""
    model = SwinTransformer(img_size=(256, 192))
    geoms = [
        [(b.geom.window, b.geom.shift, b.geom.padded_height, b.geom.padded_width) for b in s.blocks]
        for s in model.layers
    ]
    assert geoms == [
        [(7, 0, 70, 49), (7, 3, 70, 49)],
        [(7, 0, 35, 28), (7, 3, 35, 28)],
        [(7, 0, 21, 14), (7, 3, 21, 14)] * 3,
        [(6, 0, 12, 6), (6, 0, 12, 6)],
    ]
    assert all(not k.endswith(("attn_mask", "relative_position_index")) for k in model.state_dict())


@pytest.mark.parametrize("shift", [1, 3, -3, -1])
def test_cyclic_shift_equals_roll(shift):
    x = torch.randn(2, 9, 7, 4)
    assert torch.equal(cyclic_shift(x, shift), torch.roll(x, (shift, shift), (1, 2)))


@pytest.mark.parametrize("pad", [(0, 0), (1, 0), (0, 3), (6, 1)])
def test_zero_pad_equals_f_pad(pad):
    x = torch.randn(2, 8, 6, 5)
    assert torch.equal(zero_pad_bottom_right(x, *pad), F.pad(x, (0, 0, 0, pad[1], 0, pad[0])))


@pytest.mark.parametrize("pad", [(3, 4), (10, 11), (0, 7)])
def test_zero_pad_larger_than_the_grid_equals_f_pad(pad):
    """MMPose's unclipped windows pad small grids by more than their size (4×3 at window 7: to 7×7)."""
    x = torch.randn(2, 4, 3, 5)
    assert torch.equal(zero_pad_bottom_right(x, *pad, (4, 3)), F.pad(x, (0, 0, 0, pad[1], 0, pad[0])))
