"""Stage ``backbone``: train the diffusion model ε_θ in the frozen first stage's space.

Before training (not on resume) the first stage's scale factor s = 1/std(ℰ(x)) is measured on
a few batches and the first stage, s included, is exported to ``RUN/weights/first_stage``; a
resumed run reloads it from there. One step: y0 = s·ℰ(x0) (no gradient), t ~ U{0..T−1},
ε ~ N(0, I), y_t = √ᾱ_t·y0 + √(1−ᾱ_t)·ε, and the ``denoise`` loss between ε and ε_θ(y_t, t).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import Tensor

from disdiff_core import registry
from disdiff_core.engine.trainer import Hook, Trainer
from disdiff_core.errors import RecipeError
from disdiff_core.images import enlarge, from_signed_unit, make_grid, save_png, to_rgb
from disdiff_core.interfaces.backbone import Backbone
from disdiff_core.interfaces.first_stage import FirstStage
from disdiff_core.interfaces.sampler import Sampler
from disdiff_core.recipes.model import Component
from disdiff_core.stages.components import (
    build_component,
    export_weights,
    load_safetensors_into,
    weights_path,
)
from disdiff_core.stages.data import measurement_batches
from disdiff_core.stages.plan import IDENTITY, StageInputs, StagePlan

#: Batches over which the latent scale factor is measured.
SCALE_BATCHES = 8
#: Seed of the noise of every sample grid, so grids of successive steps are comparable.
SAMPLE_SEED = 0


def frozen_first_stage(inputs: StageInputs) -> FirstStage:
    """The recipe's first stage (identity by default), frozen, with its scale factor: reloaded
    from the run a restart names (:attr:`StageInputs.reload_from`), else measured; exported to
    this run either way."""
    first_stage = build_component("first_stage", "first_stage",
                                  inputs.recipe.first_stage or IDENTITY, frozen=True)
    first_stage.to(inputs.context.device)
    exported = (weights_path(inputs.reload_from, "first_stage")
                if inputs.reload_from is not None else None)
    reloaded = exported is not None and exported.is_file()
    if reloaded:
        load_safetensors_into(first_stage, exported)
    else:
        batch = inputs.recipe.train.micro_batch_size(inputs.context.world_size)
        scale = first_stage.measure_scale_factor(
            measurement_batches(inputs.recipe.data, inputs.store, batch), SCALE_BATCHES)
        inputs.echo(f"first-stage scale factor s = {scale:.6g}")
    if inputs.context.is_main and not (reloaded and inputs.reload_from == inputs.run.path):
        export_weights(first_stage, inputs.run.path, "first_stage")
    return first_stage


def denoise_loss(losses: list[Component]) -> Any:
    """The recipe's single ``denoise`` loss (l1, the reference, when none is given)."""
    if not losses:
        return registry.build("loss", "denoise", {})
    if len(losses) != 1 or losses[0].plugin != "denoise":
        names = ", ".join(str(c.plugin) for c in losses)
        raise RecipeError(f"losses: a backbone recipe takes one `denoise` loss, not {names}")
    return registry.build("loss", "denoise", losses[0].params)


@torch.no_grad()
def sample_images(
    backbone: Backbone, first_stage: FirstStage, sampler: Sampler, num_images: int, seed: int
) -> np.ndarray:
    """``num_images`` samples from the backbone as uint8 (N, H, W, 3), from fixed noise."""
    device = next(backbone.parameters()).device
    generator = torch.Generator(device).manual_seed(seed)
    y_T = torch.randn((num_images, *backbone.sample_shape), generator=generator, device=device)
    y0 = sampler.sample(backbone, backbone.schedule, y_T, generator=generator)
    return to_rgb(from_signed_unit(first_stage.decode_scaled(y0).float().cpu().numpy()))


def plan(inputs: StageInputs) -> StagePlan:
    recipe, run = inputs.recipe, inputs.run
    first_stage = frozen_first_stage(inputs)
    backbone = build_component("backbone", "backbone", recipe.backbone, frozen=False)
    loss = denoise_loss(recipe.losses)
    inputs.echo(f"loss: {loss.describe()}")
    if inputs.context.is_main:
        run.update(losses=[loss.describe()])
    schedule = backbone.schedule
    sampler_spec = recipe.sample.sampler
    assert sampler_spec.plugin is not None
    sampler = registry.build("sampler", sampler_spec.plugin, sampler_spec.params)

    def step_fn(x0: Tensor, _step: int) -> dict[str, Tensor]:
        with torch.no_grad():
            y0 = first_stage.encode_scaled(x0)
        t = torch.randint(0, schedule.num_timesteps, (y0.shape[0],), device=y0.device)
        noise = torch.randn_like(y0)
        return loss(noise, backbone(schedule.q_sample(y0, t, noise), t))

    def sample_grid(trainer: Trainer) -> None:
        with trainer.ema_module() as ema_backbone:
            ema_backbone.eval()
            images = sample_images(ema_backbone, first_stage, sampler, recipe.sample.num_images,
                                   SAMPLE_SEED)
        if trainer.is_main:
            grid = make_grid(enlarge(images), ncols=math.ceil(math.sqrt(len(images))))
            save_png(run.images_dir / f"samples-step{trainer.step}.png", grid)

    def finish(trainer: Trainer) -> None:
        if trainer.is_main:
            with trainer.ema_module() as module:
                path = export_weights(module, run.path, "backbone")
            inputs.echo(f"backbone weights: {path}")

    hooks = [Hook("samples", recipe.train.sample_every, sample_grid, at_end=True)]
    return StagePlan(module=backbone, step_fn=step_fn, finish=finish, hooks=hooks)
