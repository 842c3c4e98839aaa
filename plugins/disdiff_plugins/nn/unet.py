"""The two halves of an ADM-style UNet (Dhariwal & Nichol 2021, as LDM and DisDiff use it).

* :class:`UNetEncoder`: time embedding, stem convolution and input blocks; returns
  :class:`~disdiff_core.interfaces.backbone.BackboneFeatures` (every block's output, in order)
  and describes itself with a :class:`~disdiff_core.interfaces.backbone.FeatureLayout`.
* :class:`UNetDecoder`: middle block (res–attention–res), output blocks (one per skip, each
  concatenating the next skip, deepest first), and the output layer (GroupNorm–SiLU–zero conv).
  It is built from a ``FeatureLayout`` alone, so it mirrors any backbone's encoder half (ours or a
  diffusers UNet2DModel's), and its residual blocks can take extra FiLM conditionings: DisDiff's
  gradient field is a ``UNetDecoder(layout, cond_channels=(E,))`` fed with the frozen backbone's
  features, the time + factor embedding as ``emb`` and the z_k projection as ``conds``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from disdiff_core.interfaces.backbone import BackboneFeatures, FeatureLayout
from disdiff_plugins.nn.blocks import (
    AttentionBlock,
    ConditionedSequential,
    ResBlock,
    attention_heads,
)
from disdiff_plugins.nn.embeddings import TimestepEmbedder
from disdiff_plugins.nn.layers import Downsample, Upsample, normalization, zero_module
from disdiff_plugins.nn.shared_skip import SharedSkipConcat


@dataclass(frozen=True)
class BlockOptions:
    """Hyperparameters shared by the blocks of a UNet half.

    Attributes:
        num_heads: attention heads (used when ``num_head_channels`` is None).
        num_head_channels: channels per attention head (overrides ``num_heads``).
        dropout: dropout in residual blocks.
        resblock_updown: resample with residual blocks (ADM) instead of plain layers.
        conv_resample: plain resampling layers use a convolution.
        scale_shift: FiLM conditioning (ADM's ``use_scale_shift_norm``).
        norm_groups: GroupNorm groups.
    """

    num_heads: int = 8
    num_head_channels: int | None = None
    dropout: float = 0.0
    resblock_updown: bool = True
    conv_resample: bool = True
    scale_shift: bool = True
    norm_groups: int = 32

    def res(
        self,
        channels: int,
        emb_channels: int,
        out_channels: int | None = None,
        cond_channels: Sequence[int] = (),
        **resample: bool,
    ) -> ResBlock:
        return ResBlock(
            channels,
            emb_channels,
            out_channels,
            dropout=self.dropout,
            scale_shift=self.scale_shift,
            norm_groups=self.norm_groups,
            cond_channels=cond_channels,
            **resample,
        )

    def attention(self, channels: int) -> AttentionBlock:
        heads = attention_heads(channels, self.num_heads, self.num_head_channels)
        return AttentionBlock(channels, heads, self.norm_groups)

    def downsample(self, channels: int, emb_channels: int) -> nn.Module:
        if self.resblock_updown:
            return self.res(channels, emb_channels, down=True)
        return Downsample(channels, self.conv_resample)

    def upsample(
        self, channels: int, emb_channels: int, cond_channels: Sequence[int] = ()
    ) -> nn.Module:
        if self.resblock_updown:
            return self.res(channels, emb_channels, cond_channels=cond_channels, up=True)
        return Upsample(channels, self.conv_resample)


class UNetEncoder(nn.Module):
    """Time embedding + stem + input blocks of an ADM UNet.

    Args:
        in_channels: channels of y_t.
        base_channels: base width (stem output, sinusoidal embedding width).
        channel_mult: width of level l is ``base_channels * channel_mult[l]``.
        num_res_blocks: residual blocks per level.
        image_size: (H, W) of y_t; must be divisible by 2**(levels − 1).
        attention_levels: levels whose residual blocks are followed by self-attention.
        time_embed_dim: width of the time embedding (default 4 × base_channels).
        options: shared block hyperparameters.
    """

    def __init__(
        self,
        *,
        in_channels: int,
        base_channels: int,
        channel_mult: Sequence[int],
        num_res_blocks: int,
        image_size: tuple[int, int],
        attention_levels: Sequence[int] = (),
        time_embed_dim: int | None = None,
        options: BlockOptions = BlockOptions(),
    ) -> None:
        super().__init__()
        time_embed_dim = time_embed_dim or 4 * base_channels
        factor = 2 ** (len(channel_mult) - 1)
        if image_size[0] % factor or image_size[1] % factor:
            raise ValueError(f"image size {image_size} is not divisible by {factor}")
        self.layout = FeatureLayout(
            sample_channels=in_channels,
            image_size=(int(image_size[0]), int(image_size[1])),
            stem_channels=base_channels,
            level_channels=tuple(base_channels * m for m in channel_mult),
            num_res_blocks=num_res_blocks,
            time_embed_dim=time_embed_dim,
            attention_levels=tuple(sorted(set(attention_levels))),
        )
        self.time_embed = TimestepEmbedder(base_channels, time_embed_dim)
        blocks = [ConditionedSequential(nn.Conv2d(in_channels, base_channels, 3, padding=1))]
        ch = base_channels
        for level, width in enumerate(self.layout.level_channels):
            if level > 0:
                blocks.append(ConditionedSequential(options.downsample(ch, time_embed_dim)))
            for _ in range(num_res_blocks):
                layers: list[nn.Module] = [options.res(ch, time_embed_dim, width)]
                ch = width
                if level in self.layout.attention_levels:
                    layers.append(options.attention(ch))
                blocks.append(ConditionedSequential(*layers))
        self.input_blocks = nn.ModuleList(blocks)

    def forward(self, x: Tensor, t: Tensor) -> BackboneFeatures:
        """x (B, C, H, W), t (B,) long → the time embedding and every block's output."""
        emb = self.time_embed(t)
        skips = []
        h = x
        for block in self.input_blocks:
            h = block(h, emb)
            skips.append(h)
        return BackboneFeatures(skips=skips, emb=emb)


class UNetDecoder(nn.Module):
    """Middle block + output blocks + output layer, mirroring a :class:`FeatureLayout`.

    Level l of the decoder (deepest first) has ``num_res_blocks + 1`` residual blocks, each
    taking the concatenation of the running activation and the next skip (popped from the end),
    followed by self-attention at ``attention_levels`` and, except at level 0, a 2× upsampling.
    The output convolution is zero-initialised, so a fresh decoder outputs 0.

    Args:
        layout: the encoder half whose features this decoder reads.
        out_channels: output channels (default ``layout.sample_channels``).
        attention_levels: levels with self-attention (default ``layout.attention_levels``).
        options: shared block hyperparameters.
        cond_channels: widths of the extra FiLM conditionings of every residual block.
    """

    def __init__(
        self,
        layout: FeatureLayout,
        *,
        out_channels: int | None = None,
        attention_levels: Sequence[int] | None = None,
        options: BlockOptions = BlockOptions(),
        cond_channels: Sequence[int] = (),
    ) -> None:
        super().__init__()
        self.layout = layout
        self.cond_channels = tuple(cond_channels)
        attention_levels = layout.attention_levels if attention_levels is None else attention_levels
        emb = layout.time_embed_dim
        ch = layout.bottleneck_channels
        self.middle_block = ConditionedSequential(
            options.res(ch, emb, cond_channels=cond_channels),
            options.attention(ch),
            options.res(ch, emb, cond_channels=cond_channels),
        )
        skip_channels = list(layout.skip_channels)
        blocks = []
        for level in reversed(range(layout.num_levels)):
            width = layout.level_channels[level]
            for i in range(layout.num_res_blocks + 1):
                layers: list[nn.Module] = [
                    options.res(ch + skip_channels.pop(), emb, width, cond_channels)
                ]
                ch = width
                if level in attention_levels:
                    layers.append(options.attention(ch))
                if level > 0 and i == layout.num_res_blocks:
                    layers.append(options.upsample(ch, emb, cond_channels))
                blocks.append(ConditionedSequential(*layers))
        self.output_blocks = nn.ModuleList(blocks)
        self.out = nn.Sequential(
            normalization(ch, options.norm_groups),
            nn.SiLU(),
            zero_module(nn.Conv2d(ch, out_channels or layout.sample_channels, 3, padding=1)),
        )

    def forward(self, skips: Sequence[Tensor], emb: Tensor, conds: Sequence[Tensor] = (), *,
                skip_repeats: int = 1) -> Tensor:
        """skips: the encoder half's outputs in order (the last one is the bottleneck);
        emb (B·R, E); conds[i] (B·R, cond_channels[i]) → (B·R, out_channels, H, W).

        ``skip_repeats`` R > 1: the skips have B rows, each shared by R consecutive rows of the
        decoder's batch (DisDiff's field: one row per example and factor). The skips are then
        never repeated: each block reads them as a :class:`SharedSkipConcat` and spends the
        skip channels' share of its first convolutions once per example."""
        if len(skips) != len(self.output_blocks):
            raise ValueError(f"{len(skips)} skips for {len(self.output_blocks)} output blocks")
        bottleneck = skips[-1]
        if skip_repeats > 1:
            bottleneck = bottleneck.repeat_interleave(skip_repeats, dim=0)
        h = self.middle_block(bottleneck, emb, conds)
        for block, skip in zip(self.output_blocks, reversed(skips), strict=True):
            joined = (torch.cat([h, skip], dim=1) if skip_repeats == 1
                      else SharedSkipConcat(h, skip, skip_repeats))
            h = block(joined, emb, conds)
        return self.out(h)
