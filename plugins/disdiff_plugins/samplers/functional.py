"""Sampling loops as short functions over an ε-function (k-diffusion style).

Every loop takes ``eps_fn(y_t, t) -> ε`` (t: (B,) long training timesteps), a
:class:`~disdiff_core.diffusion.schedule.NoiseSchedule`, a start tensor and the training
timesteps to visit in decreasing order, ``[τ_K, …, τ_1]``. Each step goes from τ_i to the next
timestep, the last one to "τ_0 = −1" where ᾱ_{−1} = 1, so a loop returns the clean sample
itself (no leftover noise from ᾱ_0 < 1). The ``ldm`` spacing reproduces LDM's (and so DisDiff's
reference) DDIM sampler instead, whose last step ends at ᾱ_0 (:func:`final_timestep`). :func:`ddim_invert` walks the same pairs upwards, so
``ddim_sample(ddim_invert(y0))`` with η = 0 returns y0 up to the error of evaluating ε one
noise level off.

Loops run under ``torch.no_grad`` and keep y in the dtype of the start tensor (ε is cast to it),
so an ε-function may run under autocast.
"""

from __future__ import annotations

import torch
from torch import Tensor

from disdiff_core.diffusion.schedule import NoiseSchedule, posterior_coefficients
from disdiff_core.interfaces.sampler import Callback, EpsFn, SamplerStep


def spaced_timesteps(num_train_timesteps: int, steps: int, spacing: str = "uniform") -> list[int]:
    """The ``steps`` training timesteps a loop visits, in decreasing order.

    * ``uniform``: 0, c, 2c, …, (steps−1)·c with c = T // steps: DDIM's "uniform" skip, as in
      guided-diffusion's ``ddimN`` respacing (LDM's sampler adds 1 to each);
    * ``trailing``: round(T − i·T/steps) − 1, i.e. starts at T−1 (Lin et al. 2024);
    * ``linspace``: round(linspace(0, T−1, steps)).
    * ``ldm``: 1, c + 1, 2c + 1, … (every value of range(0, T, c) plus one, c = T // steps): LDM's
      DDIM sampler, as DisDiff's reference samples; with it the last step ends at ᾱ_0.
    """
    if not 1 <= steps <= num_train_timesteps:
        raise ValueError(f"steps must lie in 1…{num_train_timesteps}, got {steps}")
    if spacing == "uniform":
        stride = num_train_timesteps // steps
        ascending = [i * stride for i in range(steps)]
    elif spacing == "trailing":
        ascending = [
            round(num_train_timesteps - i * num_train_timesteps / steps) - 1
            for i in reversed(range(steps))
        ]
    elif spacing == "linspace":
        ascending = torch.linspace(0, num_train_timesteps - 1, steps).round().long().tolist()
    elif spacing == "ldm":
        ascending = [t + 1 for t in range(0, num_train_timesteps, num_train_timesteps // steps)]
        if ascending[-1] >= num_train_timesteps:
            raise ValueError(
                f"the ldm spacing of {steps} steps would visit t = {ascending[-1]} (T = "
                f"{num_train_timesteps}); choose steps so that {num_train_timesteps} // steps "
                "does not divide it into more than `steps` parts"
            )
    else:
        raise ValueError(f"unknown timestep spacing {spacing!r}")
    return ascending[::-1]


def final_timestep(spacing: str) -> int:
    """Where a deterministic loop ends: −1 (ᾱ = 1, the clean sample) or, for LDM's ``ldm``
    spacing, 0 (ᾱ_0, as LDM's DDIM sampler does)."""
    return 0 if spacing == "ldm" else -1


def _randn_like(y: Tensor, generator: torch.Generator | None) -> Tensor:
    """Standard normal noise shaped like ``y``, drawn on the generator's device (so a CPU
    generator reproduces the same noise whatever device ``y`` is on)."""
    device = generator.device if generator is not None else y.device
    return torch.randn(y.shape, generator=generator, device=device, dtype=y.dtype).to(y.device)


def _levels(
    schedule: NoiseSchedule, timesteps: list[int], like: Tensor, final: int = -1
) -> tuple[Tensor, Tensor]:
    """ᾱ at each timestep and at the one after it (``final`` after the last), as ``like``'s
    dtype."""
    following = timesteps[1:] + [final]
    as_like = {"device": like.device, "dtype": like.dtype}
    return schedule.alpha_bar(timesteps).to(**as_like), schedule.alpha_bar(following).to(**as_like)


def _predict_x0(y: Tensor, eps: Tensor, alpha_bar: Tensor) -> Tensor:
    return (y - (1 - alpha_bar).sqrt() * eps) / alpha_bar.sqrt()


def _eps(eps_fn: EpsFn, y: Tensor, t: int) -> Tensor:
    return eps_fn(y, torch.full((y.shape[0],), t, dtype=torch.long, device=y.device)).to(y.dtype)


@torch.no_grad()
def ddim_sample(
    eps_fn: EpsFn,
    schedule: NoiseSchedule,
    y: Tensor,
    timesteps: list[int],
    *,
    eta: float = 0.0,
    generator: torch.Generator | None = None,
    callback: Callback | None = None,
    final: int = -1,
) -> Tensor:
    """DDIM (Song et al. 2021, eq. 12) from y at ``timesteps[0]`` to the clean sample (to
    the noise level of timestep ``final``: see :func:`final_timestep`).

    Per step t → s: ŷ0 = (y − √(1−ᾱ_t)·ε)/√ᾱ_t,
    σ = η·√((1−ᾱ_s)/(1−ᾱ_t))·√(1 − ᾱ_t/ᾱ_s),
    y ← √ᾱ_s·ŷ0 + √(1−ᾱ_s−σ²)·ε + σ·z. η = 0 is deterministic; η = 1 is DDPM ancestral
    sampling with the posterior variance.
    """
    alpha_bars, alpha_bars_next = _levels(schedule, timesteps, y, final)
    for i, t in enumerate(timesteps):
        eps = _eps(eps_fn, y, t)
        a_t, a_s = alpha_bars[i], alpha_bars_next[i]
        x0 = _predict_x0(y, eps, a_t)
        sigma = eta * ((1 - a_s) / (1 - a_t) * (1 - a_t / a_s)).sqrt()
        y = a_s.sqrt() * x0 + (1 - a_s - sigma**2).clamp(min=0).sqrt() * eps
        if eta > 0 and i < len(timesteps) - 1:  # σ = 0 on the last step (ᾱ_s = 1)
            y = y + sigma * _randn_like(y, generator)
        if callback is not None:
            callback(SamplerStep(i, len(timesteps), t, y, x0))
    return y


@torch.no_grad()
def ddim_invert(
    eps_fn: EpsFn,
    schedule: NoiseSchedule,
    y0: Tensor,
    timesteps: list[int],
    *,
    callback: Callback | None = None,
    final: int = -1,
) -> Tensor:
    """Deterministic DDIM inversion (η = 0): the y at ``timesteps[0]`` that
    :func:`ddim_sample` with η = 0 and the same ``timesteps`` maps back to ``y0``.

    It visits the sampling steps in reverse: the step s → t of the sampler evaluated
    ε(y_t, t), the inverse step evaluates ε(y_s, t) (the current point, the target's timestep)
    and moves y_s to √ᾱ_t·ŷ0 + √(1−ᾱ_t)·ε.
    """
    alpha_bars, alpha_bars_below = _levels(schedule, timesteps, y0, final)
    y = y0
    for step, i in enumerate(reversed(range(len(timesteps)))):
        t = timesteps[i]
        eps = _eps(eps_fn, y, t)
        a_t, a_s = alpha_bars[i], alpha_bars_below[i]
        x0 = _predict_x0(y, eps, a_s)
        y = a_t.sqrt() * x0 + (1 - a_t).sqrt() * eps
        if callback is not None:
            callback(SamplerStep(step, len(timesteps), t, y, x0))
    return y


@torch.no_grad()
def ddpm_sample(
    eps_fn: EpsFn,
    schedule: NoiseSchedule,
    y: Tensor,
    timesteps: list[int],
    *,
    variance: str = "small",
    generator: torch.Generator | None = None,
    callback: Callback | None = None,
) -> Tensor:
    """Ancestral sampling (Ho et al. 2020): y ← c1·ŷ0 + c2·y + σ·z per step t → s, with the
    posterior coefficients between the two noise levels (respaced when steps skip timesteps)
    and σ² = β̃ ("small") or β = 1 − ᾱ_t/ᾱ_s ("large"); no noise on the last step."""
    if variance not in ("small", "large"):
        raise ValueError(f"variance must be 'small' or 'large', got {variance!r}")
    alpha_bars, alpha_bars_next = _levels(schedule, timesteps, y)
    for i, t in enumerate(timesteps):
        eps = _eps(eps_fn, y, t)
        a_t, a_s = alpha_bars[i], alpha_bars_next[i]
        x0 = _predict_x0(y, eps, a_t)
        c1, c2, small = posterior_coefficients(a_t, a_s)
        y = c1 * x0 + c2 * y
        if i < len(timesteps) - 1:
            var = small if variance == "small" else 1 - a_t / a_s
            y = y + var.sqrt() * _randn_like(y, generator)
        if callback is not None:
            callback(SamplerStep(i, len(timesteps), t, y, x0))
    return y
