"""The ``ddpm`` and ``ddim`` sampler plugins: parameters bound to the loops of
:mod:`disdiff_plugins.samplers.functional`."""

from __future__ import annotations

import torch
from torch import Tensor

from disdiff_core.diffusion.schedule import NoiseSchedule
from disdiff_core.errors import DisdiffError
from disdiff_core.interfaces.sampler import Callback, EpsFn, Sampler
from disdiff_plugins.samplers.functional import (
    ddim_invert,
    ddim_sample,
    ddpm_sample,
    final_timestep,
    spaced_timesteps,
)
from disdiff_plugins.samplers.specs import DDIMParams, DDPMParams


def _timesteps(num_train_timesteps: int, steps: int | None, spacing: str) -> list[int]:
    steps = num_train_timesteps if steps is None else steps
    if steps > num_train_timesteps:
        raise DisdiffError(
            f"the sampler asks for {steps} steps but the backbone has {num_train_timesteps}"
        )
    return spaced_timesteps(num_train_timesteps, steps, spacing)


class RespacedSampler(Sampler):
    """A sampler over ``params.steps`` training timesteps chosen by ``params.spacing``."""

    def __init__(self, params: DDPMParams | DDIMParams) -> None:
        self.params = params

    def timesteps(self, num_train_timesteps: int) -> list[int]:
        return _timesteps(num_train_timesteps, self.params.steps, self.params.spacing)


class DDPMSampler(RespacedSampler):
    """Ancestral sampling over all (or ``steps`` respaced) training timesteps."""

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
        if deterministic:
            raise DisdiffError("the ddpm sampler is stochastic; use ddim to reconstruct or edit")
        return ddpm_sample(
            eps_fn,
            schedule,
            y_T,
            self.timesteps(schedule.num_timesteps),
            variance=self.params.variance,
            generator=generator,
            callback=callback,
        )


class DDIMSampler(RespacedSampler):
    """DDIM with ``steps`` and η; ``deterministic=True`` samples with η = 0, the exact inverse
    of :meth:`invert`."""

    can_invert = True

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
        return ddim_sample(
            eps_fn,
            schedule,
            y_T,
            self.timesteps(schedule.num_timesteps),
            eta=0.0 if deterministic else self.params.eta,
            generator=generator,
            callback=callback,
            final=final_timestep(self.params.spacing),
        )

    def invert(
        self,
        eps_fn: EpsFn,
        schedule: NoiseSchedule,
        y0: Tensor,
        *,
        callback: Callback | None = None,
    ) -> Tensor:
        return ddim_invert(
            eps_fn, schedule, y0, self.timesteps(schedule.num_timesteps), callback=callback,
            final=final_timestep(self.params.spacing),
        )
