"""Loss-term plugins of the DisDiff objective (torch-free specs). Both are built as
``factory(params)``; defaults are the reference (faithful) settings, every stabiliser is off."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from disdiff_core.plugin import Params, PluginSpec


class MeanShiftParams(Params):
    """PDAE's mean-shift reconstruction: ε̂ = ε_θ − a_t·Σ_k G_k, L_rec = mean |ε − ε̂|."""

    loss_type: Literal["l1", "l2"] = Field(
        "l1", description="elementwise error |ε − ε̂| (l1, the reference) or (ε − ε̂)² (l2)"
    )
    snr_weighting: bool = Field(
        False,
        description="weight each example by PDAE's SNR^0.1/(1 + SNR) (off in DisDiff)",
    )


class DisentangleParams(Params):
    """DisDiff's disentangling loss on the sampled factor c: variant + invariant
    cross-entropies over the N codes, weighted per example by the detached w."""

    weight: float = Field(
        0.05, ge=0, description="λ (reference: 0.05 for Shapes3D, Cars3D, CelebA; 0.01 for MPI3D)"
    )
    weight_mode: Literal["latent", "image", "uniform"] = Field(
        "latent",
        description="dynamic weight w = mean((ŷ0 − ŷ0^c)²) over the diffusion-space latent "
        "(latent, the reference default) or over the decoded pixels (image); uniform: w ≡ 1, "
        "an option (not the reference) that neither gates the term by the field's magnitude "
        "nor concentrates it on t near T, where w ∝ (b_t²/√ᾱ_t)² puts almost all of it",
    )
    code_gradient: Literal["live", "detached"] = Field(
        "live",
        description="G_c in the term is the field on the live code z_c, so the term also "
        "trains the encoder (live, the reference), or on a detached z_c, so it trains the "
        "field only (detached: an ablation; one more field pass of B rows)",
    )
    t_range: tuple[int, int] | None = Field(
        None,
        description="option: the term only on timesteps in [low, high): in training its "
        "examples are drawn again with t in the band (the same images, codes and factors; one "
        "more backbone pass and a B-row field pass), and an example whose given t lies outside "
        "it weighs 0. None: every t, the step's shared draws (the reference). A field trained "
        "on the term alone learns a ranking that holds on new images within a 200-step slice "
        "of t, not across all of 0..T-1",
    )
    frozen_encoder_decay: float = Field(
        0.0,
        ge=0,
        lt=1,
        description="option: Ē, the frozen encoder that measures the term's edits, follows E "
        "as a moving average, Ē ← d·Ē + (1 − d)·E once per optimiser step (its weights are "
        "checkpointed), and the variant distances aim at Ē(x0) instead of z. 0: Ē is a copy "
        "of E at every step (the reference). At CPU scale a field learns the term's ranking "
        "only while Ē moves slowly",
    )
    warmup_steps: int = Field(
        0,
        ge=0,
        description="stabiliser: ramp λ linearly from 0 over this many optimiser steps (0: off)",
    )
    w_max: float | None = Field(
        None, gt=0, description="stabiliser: cap each example's w at this value (None: off)"
    )
    w_normalize: bool = Field(
        False,
        description="stabiliser: divide w by its batch mean, so the term's scale no longer "
        "grows with the field's magnitude (applied before w_max)",
    )

    @field_validator("t_range")
    @classmethod
    def _ordered_range(cls, value: tuple[int, int] | None) -> tuple[int, int] | None:
        if value is not None and not 0 <= value[0] < value[1]:
            raise ValueError(f"t_range must be [low, high) with 0 <= low < high, got {list(value)}")
        return value


MEAN_SHIFT = PluginSpec(
    kind="loss",
    name="mean-shift",
    description="PDAE mean-shift reconstruction with the sum of the sub-gradient fields.",
    params=MeanShiftParams,
    factory="disdiff_plugins.losses.mean_shift:MeanShiftLoss",
)

DISENTANGLE = PluginSpec(
    kind="loss",
    name="disentangle",
    description="DisDiff's disentangling loss (variant + invariant cross-entropy, weight w).",
    params=DisentangleParams,
    factory="disdiff_plugins.losses.disentangle:DisentangleLoss",
)


class DenoiseParams(Params):
    """The backbone's ε-prediction objective, L = mean |ε − ε_θ(y_t, t)|^p."""

    loss_type: Literal["l1", "l2"] = Field(
        "l1", description="elementwise error |ε − ε_θ| (l1, the DisDiff reference) or squared (l2)"
    )


DENOISE = PluginSpec(
    kind="loss",
    name="denoise",
    description="Backbone stage: ε-prediction loss of the diffusion model (l1 or l2).",
    params=DenoiseParams,
    factory="disdiff_plugins.losses.denoise:DenoiseLoss",
)
