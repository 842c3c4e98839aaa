"""Noise schedules and the closed forms of Gaussian diffusion (Ho et al. 2020), in torch.

Notation (t = 0 … T−1 indexes the training timesteps)::

    α_t = 1 − β_t,  ᾱ_t = ∏_{s≤t} α_s,  ᾱ_{−1} = 1
    forward:    y_t = √ᾱ_t·y0 + √(1−ᾱ_t)·ε
    posterior:  q(y_{t−1} | y_t, y0) = N(c1_t·y0 + c2_t·y_t, β̃_t)
                c1_t = √ᾱ_{t−1}·β_t/(1−ᾱ_t),  c2_t = √α_t·(1−ᾱ_{t−1})/(1−ᾱ_t),
                β̃_t = β_t·(1−ᾱ_{t−1})/(1−ᾱ_t)
    DisDiff:    a_t = √α_t·(1−ᾱ_{t−1})/√(1−ᾱ_t)   (PDAE's mean-shift coefficient; a_0 = 0)
                b_t = √(1−ᾱ_t)                     (the DDIM / classifier-guidance coefficient)

Why a_t: the DDPM mean μ_θ = (y_t − β_t/√(1−ᾱ_t)·ε_θ)/√α_t with ε_θ replaced by ε_θ − a_t·G
is μ_θ + β̃_t·G, i.e. the posterior mean shifted by its variance times the field G (PDAE's
gradient-estimator view). DisDiff trains with ε̂ = ε_θ − a_t·Σ_k G_k and guides DDIM with
ε_θ − b_t·Σ_k G_k.

Everything is computed in float64 and stored as float32 buffers, so a schedule moves with the
module that owns it (``schedule.to(device)``) and is never written into a state dict (the small
:class:`~disdiff_core.diffusion.config.ScheduleConfig` is what gets stored).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from disdiff_core.diffusion.config import ScheduleConfig


def make_betas(config: ScheduleConfig) -> Tensor:
    """β_0 … β_{T−1} of a schedule, float64, shape (T,)."""
    steps = config.num_timesteps
    kind = config.kind
    if kind == "linear_sqrt":
        return (
            torch.linspace(
                math.sqrt(config.beta_start), math.sqrt(config.beta_end), steps, dtype=torch.float64
            )
            ** 2
        )
    if kind == "linear":
        return torch.linspace(config.beta_start, config.beta_end, steps, dtype=torch.float64)
    if kind == "sigmoid":
        ramp = torch.sigmoid(torch.linspace(-6, 6, steps, dtype=torch.float64))
        return ramp * (config.beta_end - config.beta_start) + config.beta_start
    if kind == "cosine":
        u = torch.arange(steps + 1, dtype=torch.float64) / steps
        alpha_bar = torch.cos((u + config.cosine_s) / (1 + config.cosine_s) * math.pi / 2) ** 2
        return (1 - alpha_bar[1:] / alpha_bar[:-1]).clamp(max=config.max_beta)
    return torch.tensor(config.betas, dtype=torch.float64)


def posterior_coefficients(
    alpha_bar: Tensor, alpha_bar_prev: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    """(c1, c2, β̃) of q(y_prev | y_t, y0) = N(c1·y0 + c2·y_t, β̃) between two noise levels.

    Valid for any pair of timesteps t > prev (a respaced sampler steps over several training
    steps at once: the effective β is 1 − ᾱ_t/ᾱ_prev). With prev = t−1 these are the DDPM
    posterior coefficients.
    """
    alpha = alpha_bar / alpha_bar_prev
    beta = 1 - alpha
    c1 = alpha_bar_prev.sqrt() * beta / (1 - alpha_bar)
    c2 = alpha.sqrt() * (1 - alpha_bar_prev) / (1 - alpha_bar)
    variance = beta * (1 - alpha_bar_prev) / (1 - alpha_bar)
    return c1, c2, variance


def broadcast_to(values: Tensor, ndim: int) -> Tensor:
    """Append singleton dims to a (B,) tensor so it broadcasts against a (B, …) tensor."""
    return values.reshape(values.shape[0], *([1] * (ndim - 1)))


def as_timesteps(t: Tensor | int, batch: int, device: torch.device | str) -> Tensor:
    """Timesteps as a long tensor of shape (batch,) on ``device`` (an int or a 0-d tensor is
    repeated over the batch)."""
    t = torch.as_tensor(t, device=device)
    if t.ndim == 0:
        t = t.expand(batch)
    if t.shape != (batch,):
        raise ValueError(f"timesteps of shape {tuple(t.shape)} for a batch of {batch}")
    return t.long()


class NoiseSchedule(nn.Module):
    """A discrete noise schedule and its closed forms (see the module docstring).

    Buffers (float32, shape (T,)): ``betas``, ``alphas``, ``alphas_cumprod`` (ᾱ_t),
    ``alphas_cumprod_prev`` (ᾱ_{t−1}, with ᾱ_{−1} = 1), ``sqrt_alphas_cumprod``,
    ``sqrt_one_minus_alphas_cumprod``, ``posterior_mean_coef1``, ``posterior_mean_coef2``,
    ``posterior_variance``, ``posterior_log_variance_clipped`` (log β̃ with β̃_0 replaced by β̃_1,
    as in DDPM), ``shift_coef`` (a_t) and ``guidance_coef`` (b_t). None is persistent: a state
    dict never carries them, :meth:`to_dict` describes the schedule instead.
    """

    def __init__(self, config: ScheduleConfig | dict[str, Any] | None = None) -> None:
        super().__init__()
        if not isinstance(config, ScheduleConfig):
            config = ScheduleConfig.model_validate(config or {})
        self.config = config
        betas = make_betas(config)
        alphas = 1 - betas
        alphas_cumprod = torch.cumprod(alphas, dim=0)
        alphas_cumprod_prev = torch.cat([alphas_cumprod.new_ones(1), alphas_cumprod[:-1]])
        coef1, coef2, variance = posterior_coefficients(alphas_cumprod, alphas_cumprod_prev)
        one_minus = 1 - alphas_cumprod
        clipped_variance = torch.cat([variance[1:2], variance[1:]])
        tables = {
            "betas": betas,
            "alphas": alphas,
            "alphas_cumprod": alphas_cumprod,
            "alphas_cumprod_prev": alphas_cumprod_prev,
            "sqrt_alphas_cumprod": alphas_cumprod.sqrt(),
            "sqrt_one_minus_alphas_cumprod": one_minus.sqrt(),
            "posterior_mean_coef1": coef1,
            "posterior_mean_coef2": coef2,
            "posterior_variance": variance,
            "posterior_log_variance_clipped": clipped_variance.log(),
            "shift_coef": alphas.sqrt() * (1 - alphas_cumprod_prev) / one_minus.sqrt(),
            "guidance_coef": one_minus.sqrt(),
        }
        for name, values in tables.items():
            self.register_buffer(name, values.float(), persistent=False)

    # Declared for type checkers; set by register_buffer.
    betas: Tensor
    alphas: Tensor
    alphas_cumprod: Tensor
    alphas_cumprod_prev: Tensor
    sqrt_alphas_cumprod: Tensor
    sqrt_one_minus_alphas_cumprod: Tensor
    posterior_mean_coef1: Tensor
    posterior_mean_coef2: Tensor
    posterior_variance: Tensor
    posterior_log_variance_clipped: Tensor
    shift_coef: Tensor
    guidance_coef: Tensor

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NoiseSchedule:
        """Rebuild a schedule from :meth:`to_dict` output."""
        return cls(ScheduleConfig.model_validate(data))

    def to_dict(self) -> dict[str, Any]:
        """The small description that rebuilds this schedule (kind, T, beta range …)."""
        return self.config.to_dict()

    def _apply(self, fn: Any, recurse: bool = True) -> NoiseSchedule:
        # Follow device moves but stay float32 when the owner is cast (``.half()``, ``.to(bf16)``):
        # ᾱ_t close to 1 loses its meaning in 16-bit floats.
        super()._apply(fn, recurse)
        for name, buffer in self._buffers.items():
            if buffer is not None:
                self._buffers[name] = buffer.float()
        return self

    @property
    def num_timesteps(self) -> int:
        return self.config.num_timesteps

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.to_dict().items() if k != "betas")

    # -- per-timestep values --------------------------------------------------------------
    def gather(self, values: Tensor, t: Tensor | int, like: Tensor) -> Tensor:
        """``values[t]`` for a batch of timesteps, shaped (B, 1, …, 1) to broadcast against
        ``like`` (B, …) and cast to its floating dtype."""
        t = as_timesteps(t, like.shape[0], values.device)
        out = broadcast_to(values[t], like.ndim).to(like.device)
        return out.to(like.dtype) if like.is_floating_point() else out

    def alpha_bar(self, t: Tensor | Sequence[int] | int) -> Tensor:
        """ᾱ_t for timesteps that may include −1 (ᾱ_{−1} = 1, the clean data), float32."""
        t = torch.as_tensor(t, device=self.alphas_cumprod.device).long()
        return torch.where(
            t >= 0, self.alphas_cumprod[t.clamp(min=0)], torch.ones((), device=t.device)
        )

    def snr(self, t: Tensor | int, like: Tensor) -> Tensor:
        """Signal-to-noise ratio ᾱ_t/(1−ᾱ_t), broadcast against ``like``."""
        alpha_bar = self.gather(self.alphas_cumprod, t, like)
        return alpha_bar / (1 - alpha_bar)

    def a(self, t: Tensor | int, like: Tensor) -> Tensor:
        """DisDiff/PDAE mean-shift coefficient a_t, broadcast against ``like``."""
        return self.gather(self.shift_coef, t, like)

    def b(self, t: Tensor | int, like: Tensor) -> Tensor:
        """DisDiff guidance coefficient b_t = √(1−ᾱ_t), broadcast against ``like``."""
        return self.gather(self.guidance_coef, t, like)

    # -- closed forms -------------------------------------------------------------------------
    def q_sample(self, y0: Tensor, t: Tensor | int, noise: Tensor) -> Tensor:
        """y_t = √ᾱ_t·y0 + √(1−ᾱ_t)·ε."""
        return (
            self.gather(self.sqrt_alphas_cumprod, t, y0) * y0
            + self.gather(self.sqrt_one_minus_alphas_cumprod, t, y0) * noise
        )

    def predict_x0(self, y_t: Tensor, t: Tensor | int, eps: Tensor) -> Tensor:
        """ŷ0 = (y_t − √(1−ᾱ_t)·ε)/√ᾱ_t."""
        return (y_t - self.gather(self.sqrt_one_minus_alphas_cumprod, t, y_t) * eps) / self.gather(
            self.sqrt_alphas_cumprod, t, y_t
        )

    def predict_eps(self, y_t: Tensor, t: Tensor | int, x0: Tensor) -> Tensor:
        """ε = (y_t − √ᾱ_t·y0)/√(1−ᾱ_t)."""
        return (y_t - self.gather(self.sqrt_alphas_cumprod, t, y_t) * x0) / self.gather(
            self.sqrt_one_minus_alphas_cumprod, t, y_t
        )

    def eps_from_v(self, y_t: Tensor, t: Tensor | int, v: Tensor) -> Tensor:
        """ε from a v-prediction v = √ᾱ_t·ε − √(1−ᾱ_t)·y0 (Salimans & Ho 2022):
        ε = √ᾱ_t·v + √(1−ᾱ_t)·y_t."""
        return (
            self.gather(self.sqrt_alphas_cumprod, t, y_t) * v
            + self.gather(self.sqrt_one_minus_alphas_cumprod, t, y_t) * y_t
        )

    def q_posterior(
        self, y0: Tensor, y_t: Tensor, t: Tensor | int
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Mean, variance and clipped log-variance of q(y_{t−1} | y_t, y0), each broadcast
        against ``y_t``."""
        mean = (
            self.gather(self.posterior_mean_coef1, t, y_t) * y0
            + self.gather(self.posterior_mean_coef2, t, y_t) * y_t
        )
        return (
            mean,
            self.gather(self.posterior_variance, t, y_t),
            self.gather(self.posterior_log_variance_clipped, t, y_t),
        )
