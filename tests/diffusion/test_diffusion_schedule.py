"""Noise schedules against their closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from disdiff_core.diffusion.config import ScheduleConfig
from disdiff_core.diffusion.schedule import NoiseSchedule, as_timesteps, make_betas


def reference_tables(betas: np.ndarray) -> dict[str, np.ndarray]:
    """The closed forms of the module docstring, in numpy float64."""
    alphas = 1 - betas
    abar = np.cumprod(alphas)
    abar_prev = np.concatenate([[1.0], abar[:-1]])
    return {
        "alphas_cumprod": abar,
        "alphas_cumprod_prev": abar_prev,
        "posterior_mean_coef1": np.sqrt(abar_prev) * betas / (1 - abar),
        "posterior_mean_coef2": np.sqrt(alphas) * (1 - abar_prev) / (1 - abar),
        "posterior_variance": betas * (1 - abar_prev) / (1 - abar),
        "shift_coef": np.sqrt(alphas) * (1 - abar_prev) / np.sqrt(1 - abar),
        "guidance_coef": np.sqrt(1 - abar),
    }


def test_linear_sqrt_is_the_ldm_schedule() -> None:
    schedule = NoiseSchedule()
    expected = np.linspace(math.sqrt(0.0015), math.sqrt(0.0155), 1000) ** 2
    assert schedule.num_timesteps == 1000
    np.testing.assert_allclose(schedule.betas.numpy(), expected, rtol=1e-6)
    assert schedule.betas[0].item() == pytest.approx(0.0015)
    assert schedule.betas[-1].item() == pytest.approx(0.0155)
    for name, values in reference_tables(expected).items():
        np.testing.assert_allclose(getattr(schedule, name).numpy(), values, rtol=1e-5, atol=1e-7)


def test_linear_and_cosine_schedules() -> None:
    linear = NoiseSchedule({"kind": "linear"})
    np.testing.assert_allclose(linear.betas.numpy(), np.linspace(1e-4, 0.02, 1000), rtol=1e-6)

    cosine = NoiseSchedule({"kind": "cosine", "num_timesteps": 50})

    def f(u: float) -> float:
        return math.cos((u + 0.008) / 1.008 * math.pi / 2) ** 2

    expected = [min(1 - f((t + 1) / 50) / f(t / 50), 0.999) for t in range(50)]
    np.testing.assert_allclose(cosine.betas.numpy(), expected, rtol=1e-5)
    # ᾱ_t = f((t+1)/T)/f(0) until the cap bites.
    np.testing.assert_allclose(
        cosine.alphas_cumprod[:40].numpy(), [f((t + 1) / 50) / f(0) for t in range(40)], rtol=1e-5
    )


def test_disdiff_coefficients() -> None:
    schedule = NoiseSchedule()
    alphas = 1 - make_betas(schedule.config)  # float64 reference
    abar = alphas.cumprod(0)
    assert schedule.shift_coef[0].item() == 0.0  # a_0 = 0 because ᾱ_{-1} = 1
    t = torch.tensor([1, 10, 500, 999])
    a = alphas[t].sqrt() * (1 - abar[t - 1]) / (1 - abar[t]).sqrt()
    torch.testing.assert_close(schedule.shift_coef[t].double(), a, rtol=1e-6, atol=0)
    torch.testing.assert_close(
        schedule.guidance_coef.double(), (1 - abar).sqrt(), rtol=1e-6, atol=0
    )
    assert (schedule.shift_coef >= 0).all() and (schedule.guidance_coef > 0).all()
    like = torch.zeros(4, 3, 2, 2)
    assert schedule.a(t, like).shape == (4, 1, 1, 1)
    torch.testing.assert_close(schedule.b(t, like).flatten(), schedule.guidance_coef[t])


def test_shift_coefficient_shifts_the_posterior_mean_by_its_variance() -> None:
    """PDAE: ε − a_t·G in the DDPM mean gives the mean + β̃_t·G."""
    schedule = NoiseSchedule()
    gen = torch.Generator().manual_seed(0)
    y_t, eps, field = (torch.randn(5, 3, 4, 4, generator=gen) for _ in range(3))
    t = torch.tensor([1, 3, 100, 600, 999])

    def mean(e: torch.Tensor) -> torch.Tensor:
        x0 = schedule.predict_x0(y_t, t, e)
        return schedule.q_posterior(x0, y_t, t)[0]

    shifted = mean(eps - schedule.a(t, y_t) * field)
    expected = mean(eps) + schedule.gather(schedule.posterior_variance, t, y_t) * field
    torch.testing.assert_close(shifted, expected, rtol=1e-4, atol=1e-5)


def test_q_sample_round_trips() -> None:
    schedule = NoiseSchedule()
    gen = torch.Generator().manual_seed(1)
    y0, eps = torch.randn(6, 3, 4, 4, generator=gen), torch.randn(6, 3, 4, 4, generator=gen)
    t = torch.tensor([0, 1, 50, 400, 900, 999])
    y_t = schedule.q_sample(y0, t, eps)
    abar = schedule.alphas_cumprod[t].view(-1, 1, 1, 1)
    torch.testing.assert_close(y_t, abar.sqrt() * y0 + (1 - abar).sqrt() * eps)
    torch.testing.assert_close(schedule.predict_x0(y_t, t, eps), y0, rtol=1e-3, atol=2e-3)
    torch.testing.assert_close(schedule.predict_eps(y_t, t, y0), eps, rtol=1e-3, atol=2e-3)
    v = abar.sqrt() * eps - (1 - abar).sqrt() * y0
    torch.testing.assert_close(schedule.eps_from_v(y_t, t, v), eps, rtol=1e-4, atol=1e-5)


def test_posterior_matches_the_ddpm_mean() -> None:
    """μ̃(y_t, y0) = (y_t − β_t/√(1−ᾱ_t)·ε)/√α_t when y_t = q_sample(y0, ε)."""
    schedule = NoiseSchedule({"kind": "linear"})
    gen = torch.Generator().manual_seed(2)
    y0, eps = torch.randn(4, 2, 3, 3, generator=gen), torch.randn(4, 2, 3, 3, generator=gen)
    t = torch.tensor([1, 20, 500, 999])
    y_t = schedule.q_sample(y0, t, eps)
    mean, var, log_var = schedule.q_posterior(y0, y_t, t)
    beta = schedule.gather(schedule.betas, t, y_t)
    alpha = schedule.gather(schedule.alphas, t, y_t)
    b = schedule.gather(schedule.sqrt_one_minus_alphas_cumprod, t, y_t)
    torch.testing.assert_close(mean, (y_t - beta / b * eps) / alpha.sqrt(), rtol=1e-4, atol=1e-5)
    abar, abar_prev = (
        schedule.gather(v, t, y_t) for v in (schedule.alphas_cumprod, schedule.alphas_cumprod_prev)
    )
    torch.testing.assert_close(var, beta * (1 - abar_prev) / (1 - abar))
    torch.testing.assert_close(log_var, var.log())
    # DDPM's clipped log-variance replaces the zero variance at t = 0 by β̃_1.
    assert schedule.posterior_variance[0] == 0
    assert schedule.posterior_log_variance_clipped[0] == schedule.posterior_variance[1].log()


def test_alpha_bar_accepts_minus_one() -> None:
    schedule = NoiseSchedule()
    values = schedule.alpha_bar([5, 0, -1])
    assert values[-1] == 1.0
    torch.testing.assert_close(values[:2], schedule.alphas_cumprod[[5, 0]])


def test_serialisation_and_buffers() -> None:
    schedule = NoiseSchedule({"kind": "linear", "num_timesteps": 10, "beta_end": 0.1})
    data = schedule.to_dict()
    assert data == {"kind": "linear", "num_timesteps": 10, "beta_start": 1e-4, "beta_end": 0.1}
    torch.testing.assert_close(NoiseSchedule.from_dict(data).betas, schedule.betas)
    assert NoiseSchedule({"kind": "cosine"}).to_dict() == {
        "kind": "cosine",
        "num_timesteps": 1000,
        "cosine_s": 0.008,
        "max_beta": 0.999,
    }
    assert schedule.state_dict() == {}  # never stored in checkpoints
    assert all(b.dtype == torch.float32 for b in schedule.buffers())
    assert all(b.dtype == torch.float32 for b in schedule.to(torch.float16).buffers())


def test_config_validation() -> None:
    assert ScheduleConfig().beta_start == 0.0015
    with pytest.raises(ValidationError):
        ScheduleConfig(kind="cosine", beta_start=0.1)
    with pytest.raises(ValidationError):
        ScheduleConfig(kind="custom", num_timesteps=3, betas=[0.1, 0.2])
    with pytest.raises(ValidationError):
        ScheduleConfig(kind="linear", beta_start=0.02, beta_end=0.01)
    with pytest.raises(ValidationError):
        ScheduleConfig(kind="linear", bogus=1)
    custom = NoiseSchedule({"kind": "custom", "num_timesteps": 3, "betas": [0.1, 0.2, 0.3]})
    np.testing.assert_allclose(custom.alphas_cumprod.numpy(), [0.9, 0.72, 0.504], rtol=1e-6)


def test_gather_and_timesteps() -> None:
    schedule = NoiseSchedule()
    like = torch.zeros(3, 2, 5, 5, dtype=torch.float64)
    out = schedule.gather(schedule.betas, 7, like)
    assert out.shape == (3, 1, 1, 1) and out.dtype == torch.float64
    assert as_timesteps(torch.tensor(4), 2, "cpu").tolist() == [4, 4]
    with pytest.raises(ValueError):
        as_timesteps(torch.tensor([1, 2, 3]), 2, "cpu")
