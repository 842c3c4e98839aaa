"""DDPM / DDIM samplers and DDIM inversion, driven by exact-ε oracles.

For data drawn from a mixture of isotropic Gaussians N(μ_m, σ²I) (weights equal), y_t is a
mixture of N(√ᾱ_t·μ_m, s_t²I) with s_t² = ᾱ_t·σ² + 1 − ᾱ_t, and the optimal noise prediction is
E[ε | y_t] = Σ_m r_m(y_t)·√(1−ᾱ_t)·(y_t − √ᾱ_t·μ_m)/s_t², with r_m the posterior responsibilities.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor

from disdiff_core import registry
from disdiff_core.diffusion.schedule import NoiseSchedule
from disdiff_core.errors import DisdiffError
from disdiff_core.interfaces.sampler import SamplerStep
from disdiff_plugins.samplers.functional import (
    ddim_invert,
    ddim_sample,
    ddpm_sample,
    spaced_timesteps,
)


def mixture_oracle(schedule: NoiseSchedule, means: Tensor, sigma: float):
    """Exact ε(y_t, t) for data ~ (1/M)·Σ_m N(means[m], σ²I); means: (M, C, H, W)."""

    def eps_fn(y: Tensor, t: Tensor) -> Tensor:
        assert t.dtype == torch.long and t.shape == (y.shape[0],)
        abar = schedule.alphas_cumprod[t].view(-1, 1, 1, 1, 1).double()
        var = abar * sigma**2 + 1 - abar
        diff = y.double()[:, None] - abar.sqrt() * means.double()[None]  # (B, M, C, H, W)
        logits = -(diff**2).flatten(2).sum(-1) / (2 * var.flatten(1))
        resp = torch.softmax(logits, dim=1).view(*logits.shape, 1, 1, 1)
        return ((resp * diff).sum(1) * (1 - abar[:, 0]).sqrt() / var[:, 0]).to(y.dtype)

    return eps_fn


def psnr(a: Tensor, b: Tensor) -> float:
    """PSNR in dB for data in [-1, 1] (peak-to-peak 2)."""
    return 10 * math.log10(4 / (a - b).square().mean().item())


def test_spaced_timesteps() -> None:
    assert spaced_timesteps(1000, 4) == [750, 500, 250, 0]
    assert spaced_timesteps(1000, 4, "trailing") == [999, 749, 499, 249]
    assert spaced_timesteps(1000, 4, "linspace") == [999, 666, 333, 0]
    assert spaced_timesteps(10, 10) == list(range(9, -1, -1))
    for spacing in ("uniform", "trailing", "linspace"):
        steps = spaced_timesteps(1000, 200, spacing)
        assert len(set(steps)) == 200 and steps == sorted(steps, reverse=True)
        assert min(steps) >= 0 and max(steps) <= 999
    with pytest.raises(ValueError):
        spaced_timesteps(10, 11)


def test_ddpm_with_a_perfect_oracle_gives_the_right_moments() -> None:
    schedule = NoiseSchedule()
    mean = torch.tensor([1.0, -0.5, 0.3, 2.0]).view(1, 1, 2, 2)
    sigma = 0.5
    eps_fn = mixture_oracle(schedule, mean, sigma)
    gen = torch.Generator().manual_seed(0)
    # Start from the exact marginal at the first timestep (ᾱ_{T−1} ≈ 0.005, not 0).
    abar = schedule.alphas_cumprod[-1]
    start = abar.sqrt() * mean + (abar * sigma**2 + 1 - abar).sqrt() * torch.randn(
        4000, 1, 2, 2, generator=gen
    )
    samples = ddpm_sample(eps_fn, schedule, start, list(range(999, -1, -1)), generator=gen)
    torch.testing.assert_close(samples.mean(0), mean[0], atol=0.04, rtol=0)
    torch.testing.assert_close(samples.std(0), torch.full((1, 2, 2), sigma), atol=0.03, rtol=0)


def test_ddim_eta_zero_is_deterministic_and_eta_one_is_ddpm() -> None:
    schedule = NoiseSchedule()
    gen = torch.Generator().manual_seed(3)
    means = torch.rand(3, 2, 4, 4, generator=gen) * 2 - 1
    eps_fn = mixture_oracle(schedule, means, 0.1)
    y_T = torch.randn(5, 2, 4, 4, generator=gen)
    steps = spaced_timesteps(1000, 25)
    a = ddim_sample(
        eps_fn, schedule, y_T, steps, eta=0.0, generator=torch.Generator().manual_seed(1)
    )
    b = ddim_sample(
        eps_fn, schedule, y_T, steps, eta=0.0, generator=torch.Generator().manual_seed(2)
    )
    assert torch.equal(a, b)
    stochastic = [
        ddim_sample(
            eps_fn, schedule, y_T, steps, eta=1.0, generator=torch.Generator().manual_seed(s)
        )
        for s in (1, 1, 2)
    ]
    assert torch.equal(stochastic[0], stochastic[1])
    assert not torch.allclose(stochastic[0], stochastic[2])
    # DDIM with η = 1 is ancestral sampling with the posterior variance.
    ancestral = ddpm_sample(
        eps_fn, schedule, y_T, steps, generator=torch.Generator().manual_seed(1)
    )
    torch.testing.assert_close(stochastic[0], ancestral, rtol=1e-4, atol=1e-4)


def test_ddim_inversion_reconstructs_far_better_than_fresh_noise() -> None:
    schedule = NoiseSchedule()
    gen = torch.Generator().manual_seed(0)
    means = torch.rand(4, 3, 8, 8, generator=gen) * 1.6 - 0.8
    sigma = 0.2
    eps_fn = mixture_oracle(schedule, means, sigma)
    y0 = means.repeat(2, 1, 1, 1) + sigma * torch.randn(8, 3, 8, 8, generator=gen)
    sampler = registry.build("sampler", "ddim", {"steps": 100})  # η = 1 by default …
    assert sampler.can_invert
    y_T = sampler.invert(eps_fn, schedule, y0)
    recon = sampler.sample(eps_fn, schedule, y_T, deterministic=True)  # … but not here
    fresh = sampler.sample(
        eps_fn, schedule, torch.randn(8, 3, 8, 8, generator=gen), deterministic=True
    )
    recon_psnr, fresh_psnr = psnr(recon, y0), psnr(fresh, y0)
    print(f"DDIM-100 reconstruction {recon_psnr:.1f} dB, fresh noise {fresh_psnr:.1f} dB")
    assert recon_psnr > 33, recon_psnr
    assert recon_psnr > fresh_psnr + 20, (recon_psnr, fresh_psnr)
    assert 0.8 < y_T.std().item() < 1.2  # the inverted y_T looks like N(0, I)

    def round_trip_psnr(steps: int) -> float:
        timesteps = spaced_timesteps(1000, steps)
        y_T = ddim_invert(eps_fn, schedule, y0, timesteps)
        return psnr(ddim_sample(eps_fn, schedule, y_T, timesteps), y0)

    assert round_trip_psnr(200) > round_trip_psnr(50) + 5  # the error is discretisation only


def test_callbacks_and_errors() -> None:
    schedule = NoiseSchedule({"num_timesteps": 100})
    eps_fn = mixture_oracle(schedule, torch.zeros(1, 1, 2, 2), 1.0)
    seen: list[SamplerStep] = []
    ddim = registry.build("sampler", "ddim", {"steps": 5, "eta": 0.0})
    ddim.sample(eps_fn, schedule, torch.randn(2, 1, 2, 2), callback=seen.append)
    assert [s.t for s in seen] == [80, 60, 40, 20, 0]
    assert [s.index for s in seen] == list(range(5)) and seen[0].total == 5
    seen.clear()
    ddim_invert(
        eps_fn, schedule, torch.randn(2, 1, 2, 2), ddim.timesteps(100), callback=seen.append
    )
    assert [s.t for s in seen] == [0, 20, 40, 60, 80]

    ddpm = registry.build("sampler", "ddpm", {"steps": 10, "variance": "large"})
    assert ddpm.timesteps(100) == list(range(90, -1, -10))
    assert ddpm.sample(eps_fn, schedule, torch.randn(2, 1, 2, 2)).shape == (2, 1, 2, 2)
    assert not ddpm.can_invert
    with pytest.raises(DisdiffError, match="ddim"):
        ddpm.invert(eps_fn, schedule, torch.randn(2, 1, 2, 2))
    with pytest.raises(DisdiffError, match="stochastic"):
        ddpm.sample(eps_fn, schedule, torch.randn(2, 1, 2, 2), deterministic=True)
    with pytest.raises(DisdiffError, match="200 steps"):
        registry.build("sampler", "ddim").timesteps(100)


def test_samplers_drive_a_backbone() -> None:
    backbone = registry.build(
        "backbone",
        "unet",
        {
            "image_size": 8,
            "base_channels": 8,
            "channel_mult": [1, 2],
            "num_res_blocks": 1,
            "attention_resolutions": [4],
            "num_heads": 2,
            "norm_groups": 4,
        },
    ).eval()
    sampler = registry.build("sampler", "ddim", {"steps": 3})
    out = sampler.sample(
        backbone,
        backbone.schedule,
        torch.randn(2, 3, 8, 8),
        generator=torch.Generator().manual_seed(0),
    )
    assert out.shape == (2, 3, 8, 8) and torch.isfinite(out).all()
