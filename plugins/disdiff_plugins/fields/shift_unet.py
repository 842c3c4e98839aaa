"""The ``shift-unet`` field: DisDiff's gradient-field network G_ψ.

A NEW decoder half of the backbone UNet (middle block, output blocks, output layer; see
:class:`~disdiff_plugins.nn.unet.UNetDecoder`), randomly initialised with its last convolutions
zeroed (so every G_k = 0 at step 0), reading the frozen backbone encoder half's skips and
bottleneck. Every residual block applies two FiLMs after the normalisation that precedes its
second convolution (:class:`~disdiff_plugins.nn.blocks.ResBlock`):

1. from ``emb_k = time embedding + FactorProj(factor embedding of k)`` (scale-shift);
2. from ``CodeProj(z_k)`` (Linear D → ``cond_dim``), through the block's own SiLU + Linear to
   its 2·channels.

The time embedding is the frozen backbone's (part of its features), as in the reference.

Batched evaluation (the default): for B examples and K requested factors the factor axis is
folded into the batch (row b·K + k), the backbone features are computed once per example and
shared by its K rows (below), and the decoder runs ONCE over B·K rows. ``per_factor_loop`` runs
it K times in a Python loop as the reference does; both give the same fields
(``bench/bench_field.py`` and ``bench/bench_step.py`` time them; figures in
``bench/RESULTS.md``).

Why batched is the default, by measurement at the reference size (B = 16, K = 6, CPU): with
the shared skips a whole training step runs at 4.67–5.42 images/s against the loop's
3.98–4.14 on an idle machine (×1.18–1.31 in the same invocation; 441 against 485 GFLOP a step)
and peaks no higher (≈ 2.65 GB both). Before the skips were shared (CPU time, which other
processes on a shared machine blur far less than wall time): one field
forward + backward costs 4.3 s of CPU batched against 4.8 s looped on one thread (fewer, larger
GEMMs, and one pass of per-layer dispatch instead of K); a whole training step 23 s against
36 s on two threads (interleaved in one process, best of four; wall-clock comparisons on the
shared machine went both ways, ``bench/RESULTS.md``). On a GPU the folded pass
launches K times fewer, K times larger kernels. The batched field pass alone then peaked about
0.2 GB higher (2.0 against 1.75 GB): each layer's transient buffers (its gradients, convolution
scratch, the repeated skip) held B·K rows at once instead of B. Before the attention blocks
took the fused kernels, a pass cost ≈ 1.7 s more (6.1 s batched, 6.4 s looped) and the
batched one peaked 0.6 GB higher: the math fallback materialised the (L × L) attention matrix
of all B·K rows at once (≈ 235 MB per 16×16 layer at 112 rows) and its backward a second one.

The skips are shared, not repeated: the K rows of an example read the same backbone skips,
so each decoder block's first GroupNorm–SiLU–convolution and its skip-path convolution spend
the skip channels' share once per example and add it to the example's K rows
(:mod:`disdiff_plugins.nn.shared_skip`; a GroupNorm group that straddles activation and skip
channels is kept per row). Same fields to float rounding; at the reference size it removes
14 % of the field's FLOPs (310.8 → 267.3 GFLOP forward + backward, ``bench/RESULTS.md``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from disdiff_core.errors import PluginError
from disdiff_core.interfaces.backbone import Backbone, BackboneFeatures, FeatureLayout
from disdiff_core.interfaces.field import GradientField
from disdiff_plugins.fields.factor_embeddings import (
    LearnedFactorEmbedding,
    OrthogonalFactorEmbedding,
)
from disdiff_plugins.fields.specs import ShiftUNetParams
from disdiff_plugins.nn.unet import BlockOptions, UNetDecoder


class ShiftUNetField(GradientField):
    """G_ψ over a backbone's :class:`FeatureLayout` (see the module docstring).

    Args:
        layout: the backbone encoder half the field reads.
        num_factors, factor_dim: N and D of the representation.
        cond_dim: width of the z_k projection.
        factor_embedding: module returning the (N, P) factor-embedding table.
        options: block hyperparameters of the decoder.
        attention_levels: decoder levels with self-attention.
        per_factor_loop: evaluate factors one decoder pass at a time.
    """

    def __init__(
        self,
        layout: FeatureLayout,
        *,
        num_factors: int,
        factor_dim: int,
        cond_dim: int,
        factor_embedding: nn.Module,
        options: BlockOptions,
        attention_levels: Sequence[int],
        per_factor_loop: bool = False,
    ) -> None:
        super().__init__(num_factors, factor_dim)
        self.layout = layout
        self.per_factor_loop = per_factor_loop
        self.factor_embedding = factor_embedding
        embed_width = factor_embedding().shape[1]
        self.factor_proj = nn.Linear(embed_width, layout.time_embed_dim)
        self.code_proj = nn.Linear(factor_dim, cond_dim)
        self.decoder = UNetDecoder(
            layout, attention_levels=attention_levels, options=options, cond_channels=(cond_dim,)
        )

    def factor_embeddings(self) -> Tensor:
        """(N, E): every factor's embedding in the time-embedding space."""
        return self.factor_proj(self.factor_embedding())

    def forward_codes(
        self, features: BackboneFeatures, t: Tensor, codes: Tensor, factor_ids: Tensor
    ) -> Tensor:
        batch, count = factor_ids.shape
        if features.emb.shape[0] != batch or codes.shape != (batch, count, self.factor_dim):
            raise ValueError(
                f"features of batch {features.emb.shape[0]}, codes {tuple(codes.shape)} and "
                f"factor ids {tuple(factor_ids.shape)} do not match"
            )
        emb = features.emb[:, None] + self.factor_embeddings()[factor_ids]  # (B, K, E)
        cond = self.code_proj(codes)  # (B, K, cond_dim)
        if self.per_factor_loop:
            return torch.stack(
                [self.decoder(features.skips, emb[:, j], (cond[:, j],)) for j in range(count)],
                dim=1,
            )
        out = self.decoder(features.skips, emb.flatten(0, 1), (cond.flatten(0, 1),),
                           skip_repeats=count)
        return out.unflatten(0, (batch, count))


def _block_options(params: ShiftUNetParams, base: BlockOptions) -> BlockOptions:
    """The backbone's block options with the field's overrides; FiLM conditioning always (the
    method's two FiLMs)."""
    overrides = {
        name: value
        for name in ("num_heads", "num_head_channels", "dropout", "norm_groups", "resblock_updown")
        if (value := getattr(params, name)) is not None
    }
    return dataclasses.replace(base, scale_shift=True, **overrides)


def build_shift_unet(
    params: ShiftUNetParams,
    *,
    num_factors: int,
    factor_dim: int,
    backbone: Backbone | None = None,
    layout: FeatureLayout | None = None,
    block_options: BlockOptions | None = None,
) -> ShiftUNetField:
    """The ``shift-unet`` factory: a field mirroring ``backbone`` (or an explicit ``layout`` and
    ``block_options``) for N = ``num_factors`` codes of D = ``factor_dim`` dims."""
    if backbone is not None:
        layout = backbone.feature_layout
        block_options = block_options or getattr(backbone, "block_options", None)
    if layout is None:
        raise PluginError("the shift-unet field is built from a backbone: pass `backbone`")
    options = _block_options(params, block_options or BlockOptions())
    attention_levels = (
        layout.attention_levels if params.attention_levels is None else params.attention_levels
    )
    stray = sorted(set(attention_levels) - set(range(layout.num_levels)))
    if stray:
        raise PluginError(
            f"shift-unet field: attention_levels {stray} do not exist (the backbone has levels "
            f"0..{layout.num_levels - 1})"
        )
    embed_width = layout.time_embed_dim
    try:
        if params.orthogonal_factors:
            embedding: nn.Module = OrthogonalFactorEmbedding(
                num_factors, params.factor_embed_dim or embed_width // 2
            )
        else:
            embedding = LearnedFactorEmbedding(num_factors, params.factor_embed_dim or factor_dim)
        return ShiftUNetField(
            layout,
            num_factors=num_factors,
            factor_dim=factor_dim,
            cond_dim=params.cond_dim or embed_width,
            factor_embedding=embedding,
            options=options,
            attention_levels=attention_levels,
            per_factor_loop=params.per_factor_loop,
        )
    except ValueError as exc:
        raise PluginError(f"shift-unet field: {exc}") from None
