"""The sampler contract: reverse-diffusion loops over any ε-function.

A sampler never sees a network, only ``eps_fn(y_t, t) -> ε`` (y_t: (B, C, H, W); t: (B,) long
training timesteps), so the same loop serves the bare backbone (ε_θ), DisDiff's conditional
ε̃ = ε_θ − b_t·Σ_k G_k, a partial sum over a subset of factors, or a test oracle.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from disdiff_core.diffusion.schedule import NoiseSchedule
from disdiff_core.errors import DisdiffError

#: ε-prediction: (y_t (B, C, H, W), t (B,) long) -> ε (B, C, H, W).
EpsFn = Callable[[Tensor, Tensor], Tensor]


@dataclass(frozen=True)
class SamplerStep:
    """What a progress callback receives after each step of a loop.

    Attributes:
        index: 0-based number of the step just taken.
        total: number of steps of the loop.
        t: training timestep at which ε was evaluated in this step.
        y: the sample after the step.
        x0: the clean sample predicted in this step.
    """

    index: int
    total: int
    t: int
    y: Tensor
    x0: Tensor


#: Progress callback, called after every step.
Callback = Callable[[SamplerStep], None]


class Sampler(ABC):
    """A reverse-diffusion sampler configured by its plugin parameters (steps, η …)."""

    #: Whether :meth:`invert` is available (deterministic samplers only).
    can_invert: bool = False

    @abstractmethod
    def timesteps(self, num_train_timesteps: int) -> list[int]:
        """The training timesteps the loop visits, in decreasing order."""

    @abstractmethod
    def sample(
        self,
        eps_fn: EpsFn,
        schedule: NoiseSchedule,
        y_T: Tensor,
        *,
        generator: torch.Generator | None = None,
        callback: Callback | None = None,
        deterministic: bool = False,
    ) -> Tensor:
        """Denoise ``y_T`` (noise at the first of :meth:`timesteps`, e.g. N(0, I), or the
        output of :meth:`invert`) down to y0.

        ``generator`` draws the per-step noise of stochastic samplers. ``deterministic=True``
        asks for the noise-free version of the sampler (DDIM with η = 0), which a
        reconstruction or an edit from an inverted y_T needs; a sampler without one raises
        :class:`~disdiff_core.errors.DisdiffError`.
        """

    def invert(
        self,
        eps_fn: EpsFn,
        schedule: NoiseSchedule,
        y0: Tensor,
        *,
        callback: Callback | None = None,
    ) -> Tensor:
        """Map a clean sample to the noise that ``sample(..., deterministic=True)`` maps back
        to it (deterministic DDIM inversion)."""
        raise DisdiffError(f"the {type(self).__name__} sampler cannot invert; use ddim")
