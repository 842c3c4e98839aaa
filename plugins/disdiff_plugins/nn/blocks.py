"""Conditioned blocks of ADM-style UNets: the residual block with FiLM conditioning and
self-attention.

A :class:`ConditionedBlock` takes ``(x, emb, conds)``: ``emb`` is the time embedding (B, E) and
``conds`` a sequence of extra conditioning vectors (each (B, D_i)). The backbone passes no extra
conditioning; DisDiff's gradient field passes the projection of z_k, which a :class:`ResBlock`
applies as a second FiLM after the time FiLM (see :class:`ResBlock`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from disdiff_plugins.nn.layers import Downsample, Upsample, normalization, zero_module
from disdiff_plugins.nn.shared_skip import SharedSkipConcat, shared_conv, shared_norm_act_conv


class ConditionedBlock(nn.Module):
    """A block whose forward takes the time embedding and extra conditionings."""

    def forward(self, x: Tensor, emb: Tensor, conds: Sequence[Tensor] = ()) -> Tensor:
        raise NotImplementedError


class ConditionedSequential(nn.Sequential):
    """A sequence of blocks: conditioned ones get ``(x, emb, conds)``, the others ``x``. The
    input may be a :class:`SharedSkipConcat` (a decoder block's [activation, shared skip]):
    a :class:`ResBlock` takes it as it is, any other layer gets the plain concatenation."""

    def forward(self, x: Tensor | SharedSkipConcat, emb: Tensor,  # type: ignore[override]
                conds: Sequence[Tensor] = ()) -> Tensor:
        for layer in self:
            if isinstance(x, SharedSkipConcat) and not isinstance(layer, ResBlock):
                x = x.materialize()
            x = layer(x, emb, conds) if isinstance(layer, ConditionedBlock) else layer(x)
        assert isinstance(x, Tensor)
        return x


def _film_projection(in_dim: int, channels: int, scale_shift: bool) -> nn.Sequential:
    """SiLU + Linear to (scale, shift) pairs (2·channels) or to an additive bias (channels)."""
    return nn.Sequential(nn.SiLU(), nn.Linear(in_dim, 2 * channels if scale_shift else channels))


class ResBlock(ConditionedBlock):
    """ADM residual block: GroupNorm–SiLU–conv, FiLM conditioning, GroupNorm–SiLU–dropout–conv
    (zero-initialised, so the block starts as its skip path), optional 2× up/downsampling.

    Conditioning, applied after the normalisation that precedes the second convolution:

    * ``scale_shift=True`` (FiLM, ADM's ``use_scale_shift_norm``):
      h = norm(h)·(1 + s_t) + b_t with (s_t, b_t) = Linear(SiLU(emb)), then for each extra
      conditioning c_i in order: h = h·(1 + s_i) + b_i with (s_i, b_i) = Linear_i(SiLU(c_i));
    * ``scale_shift=False``: h = norm(h + Linear(SiLU(emb)) + Σ_i Linear_i(SiLU(c_i))).

    This is DisDiff's ``ResBlockShift`` with one extra conditioning (the z_k projection).

    Args:
        channels: input channels.
        emb_channels: width of the time embedding.
        out_channels: output channels (default: ``channels``).
        dropout: dropout rate before the second convolution.
        scale_shift: FiLM (True) or additive (False) conditioning.
        up / down: resample by 2 inside the block (ADM's ``resblock_updown``).
        conv_skip: a 3×3 instead of a 1×1 convolution on the skip path when channels change.
        norm_groups: GroupNorm groups.
        cond_channels: widths of the extra conditionings this block accepts, in order.
    """

    def __init__(
        self,
        channels: int,
        emb_channels: int,
        out_channels: int | None = None,
        *,
        dropout: float = 0.0,
        scale_shift: bool = True,
        up: bool = False,
        down: bool = False,
        conv_skip: bool = False,
        norm_groups: int = 32,
        cond_channels: Sequence[int] = (),
    ) -> None:
        super().__init__()
        if up and down:
            raise ValueError("a ResBlock cannot both upsample and downsample")
        out_channels = out_channels or channels
        self.scale_shift = scale_shift
        self.in_layers = nn.Sequential(
            normalization(channels, norm_groups),
            nn.SiLU(),
            nn.Conv2d(channels, out_channels, 3, padding=1),
        )
        self.updown = up or down
        if up:
            self.h_upd: nn.Module = Upsample(channels, use_conv=False)
            self.x_upd: nn.Module = Upsample(channels, use_conv=False)
        elif down:
            self.h_upd = Downsample(channels, use_conv=False)
            self.x_upd = Downsample(channels, use_conv=False)
        else:
            self.h_upd = self.x_upd = nn.Identity()
        self.emb_layers = _film_projection(emb_channels, out_channels, scale_shift)
        self.cond_layers = nn.ModuleList(
            _film_projection(width, out_channels, scale_shift) for width in cond_channels
        )
        self.out_layers = nn.Sequential(
            normalization(out_channels, norm_groups),
            nn.SiLU(),
            nn.Dropout(p=dropout),
            zero_module(nn.Conv2d(out_channels, out_channels, 3, padding=1)),
        )
        if out_channels == channels:
            self.skip_connection: nn.Module = nn.Identity()
        else:
            kernel = 3 if conv_skip else 1
            self.skip_connection = nn.Conv2d(channels, out_channels, kernel, padding=kernel // 2)

    def forward(self, x: Tensor | SharedSkipConcat, emb: Tensor,  # type: ignore[override]
                conds: Sequence[Tensor] = ()) -> Tensor:
        """x (B, C, H, W), emb (B, E), conds[i] (B, cond_channels[i]) → (B, C_out, H', W').
        ``x`` may be a :class:`SharedSkipConcat`: the skip channels' share of the first
        convolution and of the skip path then runs once per example (same numbers)."""
        if len(conds) != len(self.cond_layers):
            raise ValueError(
                f"this ResBlock takes {len(self.cond_layers)} extra conditionings, got {len(conds)}"
            )
        if isinstance(x, SharedSkipConcat):
            if self.updown or not isinstance(self.skip_connection, nn.Conv2d):
                return self(x.materialize(), emb, conds)
            norm, act, conv = self.in_layers
            h = shared_norm_act_conv(norm, act, conv, x)
            skip = shared_conv(self.skip_connection, x, x.h.shape[1])
        elif self.updown:
            in_rest, in_conv = self.in_layers[:-1], self.in_layers[-1]
            h = in_conv(self.h_upd(in_rest(x)))
            skip = self.skip_connection(self.x_upd(x))
        else:
            h = self.in_layers(x)
            skip = self.skip_connection(x)
        projections = [self.emb_layers(emb)] + [
            layer(cond) for layer, cond in zip(self.cond_layers, conds, strict=True)
        ]
        out_norm, out_rest = self.out_layers[0], self.out_layers[1:]
        if self.scale_shift:
            h = out_norm(h)
            for projection in projections:
                scale, shift = projection.to(h.dtype)[..., None, None].chunk(2, dim=1)
                h = h * (1 + scale) + shift
        else:
            h = out_norm(h + sum(p.to(h.dtype)[..., None, None] for p in projections))
        return skip + out_rest(h)


def spatial_attention(q: Tensor, k: Tensor, v: Tensor, num_heads: int) -> Tensor:
    """Multi-head attention over positions: q, k, v (B, C, L) → (B, C, L), head i being channels
    [i·C/heads, (i+1)·C/heads) (ADM's and LDM's channel layout, so their weights keep working).

    Each head is copied to a contiguous (B, heads, L, C/heads) tensor before
    ``scaled_dot_product_attention``: its fused kernels (flash on CPU, flash / memory-efficient on
    CUDA) refuse inputs whose last dimension is not contiguous, and the math fallback they leave
    materialises the whole (L, L) attention matrix per head (≈ 2.5× slower on CPU at 16×16). The
    copies cost one pass over q, k and v."""
    b, c, length = q.shape

    def heads_last(x: Tensor) -> Tensor:
        return x.reshape(b, num_heads, c // num_heads, length).transpose(-1, -2).contiguous()

    h = F.scaled_dot_product_attention(heads_last(q), heads_last(k), heads_last(v))
    return h.transpose(-1, -2).reshape(b, c, length)


class AttentionBlock(nn.Module):
    """Multi-head self-attention over the spatial positions, with a zero-initialised output
    projection (starts as the identity). The 1×1 ``qkv`` convolution's 3C outputs are
    [all q | all k | all v], heads contiguous inside each (ADM's order); attention runs in
    :func:`spatial_attention`, which hands ``scaled_dot_product_attention`` the layout its fused
    kernels take."""

    def __init__(self, channels: int, num_heads: int, norm_groups: int = 32) -> None:
        super().__init__()
        if channels % num_heads:
            raise ValueError(f"{channels} channels cannot be split into {num_heads} heads")
        self.num_heads = num_heads
        self.norm = normalization(channels, norm_groups)
        self.qkv = nn.Conv1d(channels, 3 * channels, 1)
        self.proj_out = zero_module(nn.Conv1d(channels, channels, 1))

    def forward(self, x: Tensor) -> Tensor:
        b, c, *spatial = x.shape
        flat = x.reshape(b, c, -1)
        q, k, v = self.qkv(self.norm(flat)).chunk(3, dim=1)  # each (B, C, L)
        h = spatial_attention(q, k, v, self.num_heads)
        return (flat + self.proj_out(h)).reshape(b, c, *spatial)


def attention_heads(channels: int, num_heads: int, num_head_channels: int | None) -> int:
    """Number of heads for ``channels``: ``channels // num_head_channels`` when a head width is
    given, else ``num_heads``."""
    if num_head_channels is None:
        return num_heads
    if channels % num_head_channels:
        raise ValueError(f"{channels} channels are not a multiple of {num_head_channels} per head")
    return channels // num_head_channels
