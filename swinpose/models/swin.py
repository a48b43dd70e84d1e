"""Swin Transformer backbone, written once in the shape it is deployed in.

Shape legend: B batch, H×W a stage's token grid, Hp×Wp that grid padded to a multiple of the window,
C channels, ws window side, N = ws*ws tokens per window, nW windows per image.

Why this file differs from timm's ``swin_transformer.py`` although the weights are interchangeable:

* **The input size is fixed at construction.** Every stage knows its grid, padding, window and shift as Python
  ints, so every reshape in ``forward`` is ``(-1, <constants>)``. Exported with a dynamic batch axis, the ONNX graph
  has no ``Shape``, ``Gather``-on-shape, ``Mod``, ``Range`` or ``ScatterND`` plumbing.
* **The cyclic shift is slicing + concatenation** (:func:`cyclic_shift`), not ``torch.roll``.
* **Shifted-window masks are precomputed** for the padded grid and kept as non-persistent buffers.
* **Padding follows official Swin / MMPose, not timm.** A block normalises, *then* pads the grid with zeros on the
  bottom/right to a multiple of the window, *then* shifts, and the shifted-window mask is built on the padded grid.
  Padded tokens are not masked out (the reference implementations do not mask them either). timm shifts *before*
  padding, which at 256×192 (grids 64×48, 32×24, 16×12, 8×6 with window 7) puts different tokens into each
  window; at 224×224 nothing is padded and the two agree exactly.
* **Last-stage window clip, as in official Swin:** when ``min(H, W) <= window`` the window shrinks to
  ``min(H, W)`` and the block does not shift. At 256×192 the last stage (8×6) uses 6×6 windows without shift.
  ``window_clip=False`` is MMPose's rule instead (its pose models were trained with it): the window never shrinks
  and shifted blocks always shift, on a grid padded to a multiple of the window (8×6 → 14×7 at window 7).

Parameter names follow timm 1.0 (``layers.{i}.downsample`` at the *start* of stages 1..3), so timm state dicts
load as they are; :mod:`swinpose.models.checkpoint` maps official and MMPose names onto these.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from runtime.errors import InputShapeError

__all__ = [
    "BlockGeometry",
    "block_geometry",
    "cyclic_shift",
    "zero_pad_bottom_right",
    "relative_position_index",
    "shifted_window_mask",
    "WindowAttention",
    "SwinBlock",
    "PatchMerging",
    "PatchEmbed",
    "SwinStage",
    "SwinTransformer",
]

#: Value added to attention logits between tokens that a shifted window brought together from different regions.
MASK_VALUE = -100.0


# --------------------------------------------------------------------------------------------------------------
# Pure helpers: geometry, shift, relative positions, masks
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BlockGeometry:
    """Everything a block needs to know about its grid, computed once from the configured input size."""

    height: int  # H: token grid height
    width: int  # W
    window: int  # ws after the last-stage clip
    shift: int  # 0 for W-MSA blocks and for clipped windows
    padded_height: int  # Hp = ceil(H / ws) * ws
    padded_width: int  # Wp

    @property
    def windows_h(self) -> int:
        return self.padded_height // self.window

    @property
    def windows_w(self) -> int:
        return self.padded_width // self.window

    @property
    def num_windows(self) -> int:
        return self.windows_h * self.windows_w

    @property
    def pad_bottom(self) -> int:
        return self.padded_height - self.height

    @property
    def pad_right(self) -> int:
        return self.padded_width - self.width


def block_geometry(height: int, width: int, window: int, shifted: bool, clip: bool = True) -> BlockGeometry:
    """Window, shift and padding for one block on an H×W grid: official Swin's window clip when ``clip``, else
    MMPose's (the window is kept, and padding covers it)."""
    if clip and min(height, width) <= window:
        window, shift = min(height, width), 0
    else:
        shift = window // 2 if shifted else 0
    padded_h = -(-height // window) * window
    padded_w = -(-width // window) * window
    return BlockGeometry(height, width, window, shift, padded_h, padded_w)


def cyclic_shift(x: Tensor, shift: int) -> Tensor:
    """``torch.roll(x, (shift, shift), dims=(1, 2))`` as two slice+concat pairs (ONNX has no Roll op).

    Args:
        x: B×H×W×C.
        shift: positive rolls towards higher indices; negative towards lower. Must be non-zero.
    """
    x = torch.cat((x[:, -shift:], x[:, :-shift]), dim=1)
    return torch.cat((x[:, :, -shift:], x[:, :, :-shift]), dim=2)


def zero_pad_bottom_right(x: Tensor, pad_h: int, pad_w: int, grid: tuple[int, int] | None = None) -> Tensor:
    """``F.pad(x, (0, 0, 0, pad_w, 0, pad_h))`` for B×H×W×C, written as concatenation with zeroed slices.

    Exported, this is Slice/Mul/Concat with constants only. ``F.pad`` instead gives a ``Pad`` whose pads the classic
    exporter builds from an unfolded ConstantOfShape chain (leaving H×W symbolic downstream), and which the dynamo
    exporter cannot down-convert to opset 17. ``grid`` is the (H, W) the caller built for: a pad larger than it
    (MMPose's unclipped windows on small grids) is added in several slices, with no size read from the tensor.
    Without ``grid`` the pads must not exceed H and W.
    """
    height, width = grid if grid is not None else (pad_h, pad_w)
    while pad_h:
        step = min(pad_h, height)
        x = torch.cat((x, x[:, :step] * 0.0), dim=1)
        pad_h, height = pad_h - step, height + step
    while pad_w:
        step = min(pad_w, width)
        x = torch.cat((x, x[:, :, :step] * 0.0), dim=2)
        pad_w, width = pad_w - step, width + step
    return x


def relative_position_index(window: int) -> Tensor:
    """Index into the (2ws-1)² relative-position table for every token pair of a window: N×N int64."""
    coords = torch.stack(torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")).flatten(1)
    rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (window - 1)  # N×N×2, both >= 0
    return rel[..., 0] * (2 * window - 1) + rel[..., 1]


def shifted_window_mask(geom: BlockGeometry) -> Tensor:
    """Additive attention mask for a shifted block: nW×N×N, 0 within a region and ``MASK_VALUE`` across.

    Regions are labelled on the padded Hp×Wp grid (after the shift), exactly as official Swin / MMPose do.
    """
    hp, wp, ws, s = geom.padded_height, geom.padded_width, geom.window, geom.shift
    labels = torch.zeros(hp, wp)
    bounds_h = ((0, hp - ws), (hp - ws, hp - s), (hp - s, hp))
    bounds_w = ((0, wp - ws), (wp - ws, wp - s), (wp - s, wp))
    for i, (h0, h1) in enumerate(bounds_h):
        for j, (w0, w1) in enumerate(bounds_w):
            labels[h0:h1, w0:w1] = i * 3 + j
    windows = labels.view(geom.windows_h, ws, geom.windows_w, ws).permute(0, 2, 1, 3).reshape(-1, ws * ws)
    differs = windows[:, None, :] != windows[:, :, None]
    return torch.zeros(differs.shape).masked_fill(differs, MASK_VALUE)


# --------------------------------------------------------------------------------------------------------------
# Blocks
# --------------------------------------------------------------------------------------------------------------


class DropPath(nn.Module):
    """Stochastic depth per sample; identity in eval mode (so it never reaches an export)."""

    def __init__(self, p: float = 0.0) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = 1.0 - self.p
        # B×1×…×1 without reading x.shape: slice every non-batch axis to length 1.
        mask = torch.empty_like(x[(slice(None),) + (slice(0, 1),) * (x.dim() - 1)]).bernoulli_(keep)
        return x * mask / keep

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Mlp(nn.Module):
    """fc1 → GELU → fc2 on the last axis."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(x)))


class WindowAttention(nn.Module):
    """Multi-head self-attention inside windows, with a learned relative-position bias.

    Input and output: (B·nW)×N×C. The optional additive mask is nW×N×N.
    """

    def __init__(self, dim: int, num_heads: int, window: int, qkv_bias: bool = True) -> None:
        super().__init__()
        self.dim, self.num_heads, self.window = dim, num_heads, window
        self.tokens = window * window
        self.scale = (dim // num_heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * window - 1) ** 2, num_heads))
        self.register_buffer("relative_position_index", relative_position_index(window), persistent=False)

    def relative_position_bias(self) -> Tensor:
        """heads×N×N bias gathered from the table (constant-folded by the ONNX exporter)."""
        bias = self.relative_position_bias_table[self.relative_position_index.reshape(-1)]
        return bias.reshape(self.tokens, self.tokens, self.num_heads).permute(2, 0, 1)

    def forward(self, x: Tensor, mask: Tensor | None, num_windows: int) -> Tensor:
        n, h = self.tokens, self.num_heads
        qkv = self.qkv(x).reshape(-1, n, 3, h, self.dim // h).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)  # each (B·nW)×heads×N×d
        attn = (q * self.scale) @ k.transpose(-2, -1) + self.relative_position_bias()
        if mask is not None:
            attn = attn.reshape(-1, num_windows, h, n, n) + mask.unsqueeze(1)
            attn = attn.reshape(-1, h, n, n)
        out = attn.softmax(dim=-1) @ v
        return self.proj(out.transpose(1, 2).reshape(-1, n, self.dim))


class SwinBlock(nn.Module):
    """One W-MSA or SW-MSA block followed by the MLP. Input and output: B×H×W×C for its configured H×W."""

    def __init__(
        self,
        dim: int,
        num_heads: int,
        grid: tuple[int, int],
        window: int,
        shifted: bool,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        drop_path: float = 0.0,
        window_clip: bool = True,
    ) -> None:
        super().__init__()
        self.dim = dim
        self.geom = block_geometry(grid[0], grid[1], window, shifted, window_clip)
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, num_heads, self.geom.window, qkv_bias)
        self.drop_path1 = DropPath(drop_path)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.drop_path2 = DropPath(drop_path)
        mask = shifted_window_mask(self.geom) if self.geom.shift else None
        self.register_buffer("attn_mask", mask, persistent=False)

    def _attention(self, x: Tensor) -> Tensor:
        g, c = self.geom, self.dim
        x = zero_pad_bottom_right(x, g.pad_bottom, g.pad_right, (g.height, g.width))  # pad first (official) ...
        if g.shift:  # ... then shift the padded grid
            x = cyclic_shift(x, -g.shift)
        ws, nh, nw = g.window, g.windows_h, g.windows_w
        windows = x.reshape(-1, nh, ws, nw, ws, c).permute(0, 1, 3, 2, 4, 5).reshape(-1, ws * ws, c)
        windows = self.attn(windows, self.attn_mask, g.num_windows)
        x = (
            windows.reshape(-1, nh, nw, ws, ws, c)
            .permute(0, 1, 3, 2, 4, 5)
            .reshape(-1, g.padded_height, g.padded_width, c)
        )
        if g.shift:
            x = cyclic_shift(x, g.shift)
        if g.pad_bottom or g.pad_right:
            x = x[:, : g.height, : g.width]
        return x

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.drop_path1(self._attention(self.norm1(x)))
        return x + self.drop_path2(self.mlp(self.norm2(x)))


class PatchMerging(nn.Module):
    """2×2 neighbourhood → one token: B×H×W×C → B×ceil(H/2)×ceil(W/2)×2C (odd grids padded first)."""

    def __init__(self, dim: int, grid: tuple[int, int]) -> None:
        super().__init__()
        self.dim = dim
        self.grid = tuple(grid)
        self.pad = (grid[0] % 2, grid[1] % 2)
        self.out_grid = ((grid[0] + 1) // 2, (grid[1] + 1) // 2)
        self.norm = nn.LayerNorm(4 * dim)
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        x = zero_pad_bottom_right(x, *self.pad, self.grid)
        h, w = self.out_grid
        # channel order x(0,0), x(1,0), x(0,1), x(1,1) as in official Swin and timm
        x = x.reshape(-1, h, 2, w, 2, self.dim).permute(0, 1, 3, 4, 2, 5).reshape(-1, h, w, 4 * self.dim)
        return self.reduction(self.norm(x))


class PatchEmbed(nn.Module):
    """Non-overlapping patch projection: B×3×H×W → B×(H/p)×(W/p)×C."""

    def __init__(self, patch_size: int, in_chans: int, dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_chans, dim, kernel_size=patch_size, stride=patch_size)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.norm(self.proj(x).permute(0, 2, 3, 1))


class SwinStage(nn.Module):
    """Optional patch merging (stages 1..3), then ``depth`` blocks alternating W-MSA / SW-MSA."""

    def __init__(
        self,
        in_dim: int,
        grid_in: tuple[int, int],
        depth: int,
        num_heads: int,
        window: int,
        downsample: bool,
        mlp_ratio: float,
        qkv_bias: bool,
        drop_path: list[float],
        window_clip: bool = True,
    ) -> None:
        super().__init__()
        if downsample:
            self.downsample: nn.Module = PatchMerging(in_dim, grid_in)
            self.dim, self.grid = 2 * in_dim, self.downsample.out_grid
        else:
            self.downsample = nn.Identity()
            self.dim, self.grid = in_dim, grid_in
        self.blocks = nn.Sequential(
            *[
                SwinBlock(
                    self.dim, num_heads, self.grid, window, i % 2 == 1, mlp_ratio, qkv_bias, drop_path[i], window_clip
                )
                for i in range(depth)
            ]
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.blocks(self.downsample(x))


# --------------------------------------------------------------------------------------------------------------
# The backbone
# --------------------------------------------------------------------------------------------------------------


class SwinTransformer(nn.Module):
    """Swin backbone for a fixed input size, returning one feature map per stage.

    Input: B×3×H×W with (H, W) = ``img_size``. Output: a list of B×C_i×H_i×W_i (NCHW) at strides 4, 8, 16, 32
    (C_i = embed_dim·2^i), each after its own LayerNorm when ``out_norm`` is set (as MMPose's Swin).
    """

    def __init__(
        self,
        img_size: tuple[int, int] = (256, 192),
        patch_size: int = 4,
        in_chans: int = 3,
        embed_dim: int = 96,
        depths: tuple[int, ...] = (2, 2, 6, 2),
        num_heads: tuple[int, ...] = (3, 6, 12, 24),
        window_size: int = 7,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        drop_path_rate: float = 0.0,
        out_norm: bool = True,
        window_clip: bool = True,
    ) -> None:
        super().__init__()
        self.img_size = tuple(img_size)
        self.in_chans = in_chans
        self.patch_embed = PatchEmbed(patch_size, in_chans, embed_dim)
        total = sum(depths)
        rates = [drop_path_rate * i / max(total - 1, 1) for i in range(total)]  # linear stochastic-depth decay
        grid = (img_size[0] // patch_size, img_size[1] // patch_size)
        stages, dim, start = [], embed_dim, 0
        for i, (depth, heads) in enumerate(zip(depths, num_heads)):
            stage = SwinStage(
                dim,
                grid,
                depth,
                heads,
                window_size,
                i > 0,
                mlp_ratio,
                qkv_bias,
                rates[start : start + depth],
                window_clip,
            )
            stages.append(stage)
            dim, grid, start = stage.dim, stage.grid, start + depth
        self.layers = nn.Sequential(*stages)
        self.out_channels = [s.dim for s in stages]
        self.out_grids = [s.grid for s in stages]
        self.out_norms = nn.ModuleList([nn.LayerNorm(c) if out_norm else nn.Identity() for c in self.out_channels])
        self.apply(_init_weights)

    def check_input(self, x: Tensor) -> None:
        """Raise :class:`InputShapeError` unless ``x`` is B×in_chans×H×W at the configured size."""
        expected = (self.in_chans, *self.img_size)
        if x.dim() != 4 or tuple(x.shape[1:]) != expected:
            raise InputShapeError(
                f"input has shape {tuple(x.shape)} but the model was built for B×{expected[0]}×{expected[1]}×"
                f"{expected[2]}; resize/crop the input, or build the model for this size with "
                f"create_model(name, img_size=({x.shape[-2]}, {x.shape[-1]}))"
            )

    def forward(self, x: Tensor) -> list[Tensor]:
        if not torch.jit.is_tracing():  # the tracer would record the size reads
            self.check_input(x)
        x = self.patch_embed(x)
        outs = []
        for stage, norm in zip(self.layers, self.out_norms):
            x = stage(x)
            outs.append(norm(x).permute(0, 3, 1, 2))
        return outs


def _init_weights(m: nn.Module) -> None:
    if isinstance(m, nn.Linear):
        nn.init.trunc_normal_(m.weight, std=0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, WindowAttention):
        nn.init.trunc_normal_(m.relative_position_bias_table, std=0.02)
