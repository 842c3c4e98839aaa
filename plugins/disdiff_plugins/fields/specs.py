"""Gradient-field plugins (torch-free specs).

The factory is called as ``factory(params, backbone=..., num_factors=N, factor_dim=D)``: the
field's decoder mirrors the backbone's encoder half (channels, levels, attention, block options
are read from it), and N, D come from the representation encoder, so a recipe repeats neither.
Every ``None`` below means "as the backbone (or the reference) has it".
"""

from __future__ import annotations

from pydantic import Field

from disdiff_core.plugin import Params, PluginSpec


class ShiftUNetParams(Params):
    """DisDiff's field: a new decoder half of the backbone UNet reading its frozen encoder
    features, conditioned on (time + factor embedding) and on a projection of z_k."""

    cond_dim: int | None = Field(
        None,
        ge=1,
        description="width of the linear projection of z_k fed to every residual block's "
        "second FiLM (default: the backbone's time-embedding width, 256 for the reference)",
    )
    orthogonal_factors: bool = Field(
        True,
        description="factor embeddings = rows of expm(W − Wᵀ) for a learnable square W, hence "
        "orthonormal (the reference); False: a free learnable embedding per factor",
    )
    factor_embed_dim: int | None = Field(
        None,
        ge=1,
        description="width of the learnable factor embedding before its linear map to the time "
        "embedding (default: half the time-embedding width when orthogonal, as the reference, "
        "else the code width D)",
    )
    attention_levels: list[int] | None = Field(
        None, description="decoder levels with self-attention (default: the backbone's)"
    )
    num_heads: int | None = Field(None, ge=1, description="attention heads (default: backbone)")
    num_head_channels: int | None = Field(
        None, ge=1, description="channels per attention head (default: backbone)"
    )
    dropout: float | None = Field(
        None, ge=0, lt=1, description="dropout in residual blocks (default: backbone)"
    )
    norm_groups: int | None = Field(None, ge=1, description="GroupNorm groups (default: backbone)")
    resblock_updown: bool | None = Field(
        None, description="upsample with residual blocks (default: backbone)"
    )
    per_factor_loop: bool = Field(
        False,
        description="run the decoder once per factor in a Python loop, as the reference does "
        "(same result, N passes; for comparison only). Default: one pass with the factor axis "
        "folded into the batch",
    )


SHIFT_UNET = PluginSpec(
    kind="field",
    name="shift-unet",
    description="DisDiff's gradient field: a new UNet decoder half over frozen backbone features.",
    params=ShiftUNetParams,
    factory="disdiff_plugins.fields.shift_unet:build_shift_unet",
)
