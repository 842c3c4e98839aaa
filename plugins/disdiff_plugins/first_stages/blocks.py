"""Convolutional encoder and decoder of LDM's autoencoders (``ldm.modules.diffusionmodules.model``).

Module and parameter names follow LDM's (``encoder.down.0.block.1.norm1.weight``,
``decoder.mid.attn_1.q.weight`` …), so an LDM / DisDiff first-stage checkpoint converted to
safetensors loads unchanged. No time embedding: these are plain autoencoder blocks.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from disdiff_plugins.nn.blocks import spatial_attention


def _norm(channels: int, groups: int) -> nn.GroupNorm:
    """LDM's ``Normalize``: GroupNorm with eps 1e-6."""
    return nn.GroupNorm(groups, channels, eps=1e-6)


class ResnetBlock(nn.Module):
    """GroupNorm → SiLU → conv3×3, twice (dropout before the second conv), plus a 1×1-conv
    shortcut when the width changes. (B, in, H, W) → (B, out, H, W)."""

    def __init__(self, in_channels: int, out_channels: int, groups: int, dropout: float) -> None:
        super().__init__()
        self.norm1 = _norm(in_channels, groups)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.norm2 = _norm(out_channels, groups)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.nin_shortcut = (
            nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels else None
        )

    def forward(self, x: Tensor) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        shortcut = x if self.nin_shortcut is None else self.nin_shortcut(x)
        return shortcut + h


class AttnBlock(nn.Module):
    """Single-head self-attention over the H·W positions, residual. (B, C, H, W) → same."""

    def __init__(self, channels: int, groups: int) -> None:
        super().__init__()
        self.norm = _norm(channels, groups)
        self.q = nn.Conv2d(channels, channels, 1)
        self.k = nn.Conv2d(channels, channels, 1)
        self.v = nn.Conv2d(channels, channels, 1)
        self.proj_out = nn.Conv2d(channels, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        b, c, height, width = x.shape
        h = self.norm(x)
        # one head of width C, scaled by C^-1/2 as in LDM
        q, k, v = (p(h).flatten(2) for p in (self.q, self.k, self.v))
        h = spatial_attention(q, k, v, num_heads=1).reshape(b, c, height, width)
        return x + self.proj_out(h)


class Downsample(nn.Module):
    """Stride-2 3×3 conv after zero-padding right and bottom by one (LDM): H → H/2."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(F.pad(x, (0, 1, 0, 1)))


class Upsample(nn.Module):
    """Nearest-neighbour 2× upsampling then a 3×3 conv: H → 2H."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class _Level(nn.Module):
    """One resolution level: residual blocks (each optionally followed by attention) and an
    optional resampling layer, under LDM's names ``block``, ``attn``, ``downsample``/``upsample``."""

    def __init__(
        self,
        widths: Sequence[tuple[int, int]],
        attention: bool,
        groups: int,
        dropout: float,
        resample: str | None,
    ) -> None:
        super().__init__()
        self.block = nn.ModuleList(ResnetBlock(i, o, groups, dropout) for i, o in widths)
        self.attn = nn.ModuleList(AttnBlock(o, groups) for _, o in widths) if attention else None
        out = widths[-1][1]
        self.downsample = Downsample(out) if resample == "down" else None
        self.upsample = Upsample(out) if resample == "up" else None

    def forward(self, h: Tensor) -> Tensor:
        for i, block in enumerate(self.block):
            h = block(h)
            if self.attn is not None:
                h = self.attn[i](h)
        for resample in (self.downsample, self.upsample):
            if resample is not None:
                h = resample(h)
        return h


class _Middle(nn.Module):
    """ResnetBlock → self-attention → ResnetBlock at the lowest resolution."""

    def __init__(self, channels: int, groups: int, dropout: float) -> None:
        super().__init__()
        self.block_1 = ResnetBlock(channels, channels, groups, dropout)
        self.attn_1 = AttnBlock(channels, groups)
        self.block_2 = ResnetBlock(channels, channels, groups, dropout)

    def forward(self, h: Tensor) -> Tensor:
        return self.block_2(self.attn_1(self.block_1(h)))


class Encoder(nn.Module):
    """Image (B, in_channels, H, W) → features (B, out_channels, H/f, W/f), f = 2**(levels−1).

    conv_in → per level ``num_res_blocks`` residual blocks (+ attention on ``attn_levels``) and
    a downsampling except at the last level → middle block → GroupNorm → SiLU → conv_out.
    """

    def __init__(
        self,
        *,
        in_channels: int,
        out_channels: int,
        ch: int,
        ch_mult: Sequence[int],
        num_res_blocks: int,
        attn_levels: Sequence[int],
        groups: int,
        dropout: float,
    ) -> None:
        super().__init__()
        self.conv_in = nn.Conv2d(in_channels, ch, 3, padding=1)
        levels, width = [], ch
        for level, mult in enumerate(ch_mult):
            out = ch * mult
            widths = [(width if i == 0 else out, out) for i in range(num_res_blocks)]
            last = level == len(ch_mult) - 1
            levels.append(
                _Level(widths, level in attn_levels, groups, dropout, None if last else "down")
            )
            width = out
        self.down = nn.ModuleList(levels)
        self.mid = _Middle(width, groups, dropout)
        self.norm_out = _norm(width, groups)
        self.conv_out = nn.Conv2d(width, out_channels, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        h = self.conv_in(x)
        for level in self.down:
            h = level(h)
        h = self.mid(h)
        return self.conv_out(F.silu(self.norm_out(h)))


class Decoder(nn.Module):
    """Latent features (B, in_channels, h, w) → image (B, out_channels, h·f, w·f), unbounded.

    conv_in → middle block → per level, deepest first, ``num_res_blocks + 1`` residual blocks
    (+ attention) and an upsampling except at level 0 → GroupNorm → SiLU → conv_out. As in LDM,
    ``up[i]`` is level i (so ``up`` runs in reverse).
    """

    def __init__(
        self,
        *,
        in_channels: int,
        out_channels: int,
        ch: int,
        ch_mult: Sequence[int],
        num_res_blocks: int,
        attn_levels: Sequence[int],
        groups: int,
        dropout: float,
    ) -> None:
        super().__init__()
        width = ch * ch_mult[-1]
        self.conv_in = nn.Conv2d(in_channels, width, 3, padding=1)
        self.mid = _Middle(width, groups, dropout)
        levels: list[_Level] = []
        for level in reversed(range(len(ch_mult))):
            out = ch * ch_mult[level]
            widths = [(width if i == 0 else out, out) for i in range(num_res_blocks + 1)]
            resample = "up" if level != 0 else None
            levels.insert(0, _Level(widths, level in attn_levels, groups, dropout, resample))
            width = out
        self.up = nn.ModuleList(levels)
        self.norm_out = _norm(width, groups)
        self.conv_out = nn.Conv2d(width, out_channels, 3, padding=1)

    def forward(self, z: Tensor) -> Tensor:
        h = self.mid(self.conv_in(z))
        for level in reversed(self.up):
            h = level(h)
        return self.conv_out(F.silu(self.norm_out(h)))
