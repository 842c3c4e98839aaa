"""Sampler plugins (torch-free specs). Both are built as ``factory(params)``."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from disdiff_core.plugin import Params, PluginSpec

Spacing = Literal["uniform", "trailing", "linspace", "ldm"]

SPACING_HELP = (
    "which training timesteps a shortened loop visits: uniform = 0, c, 2c, … with c = T // steps "
    "(DDIM's uniform skip); trailing = T−1, T−1−T/steps, … (ends at the noisiest step); "
    "linspace = rounded linspace(0, T−1, steps); ldm = 1, c+1, 2c+1, … ending at ᾱ_0 (LDM's "
    "DDIM sampler, as the DisDiff reference samples)"
)


class DDPMParams(Params):
    """Ancestral sampling (Ho et al. 2020) with the posterior q(y_prev | y_t, ŷ0)."""

    steps: int | None = Field(
        None, ge=1, description="number of steps (default: all T training steps)"
    )
    spacing: Spacing = Field("uniform", description=SPACING_HELP)
    variance: Literal["small", "large"] = Field(
        "small", description="step variance: posterior β̃ (small) or β (large)"
    )


class DDIMParams(Params):
    """DDIM (Song et al. 2021); defaults are DisDiff's reference visuals (200 steps, η = 1).
    Reconstruction and editing from an inverted y_T always sample with η = 0."""

    steps: int = Field(200, ge=1, description="number of steps")
    eta: float = Field(1.0, ge=0, description="stochasticity η (0: deterministic, 1: DDPM-like)")
    spacing: Spacing = Field("uniform", description=SPACING_HELP)


DDPM = PluginSpec(
    kind="sampler",
    name="ddpm",
    description="Ancestral DDPM sampling.",
    params=DDPMParams,
    factory="disdiff_plugins.samplers.samplers:DDPMSampler",
)

DDIM = PluginSpec(
    kind="sampler",
    name="ddim",
    description="DDIM sampling (steps, η) and deterministic DDIM inversion.",
    params=DDIMParams,
    factory="disdiff_plugins.samplers.samplers:DDIMSampler",
)
