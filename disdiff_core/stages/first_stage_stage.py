"""Stage ``first_stage``: train the autoencoder (ℰ, 𝒟) on pixels with its own objective.

The scale factor s is not measured here: the backbone stage measures it once, on its data,
before training the diffusion model (LDM's ``scale_by_std``).
"""

from __future__ import annotations

from torch import Tensor

from disdiff_core.engine.trainer import Trainer
from disdiff_core.stages.components import build_component, export_weights
from disdiff_core.stages.plan import IDENTITY, StageInputs, StagePlan


def plan(inputs: StageInputs) -> StagePlan:
    first_stage = build_component("first_stage", "first_stage",
                                  inputs.recipe.first_stage or IDENTITY, frozen=False)

    def step_fn(x0: Tensor, step: int) -> dict[str, Tensor]:
        return first_stage.training_losses(x0, step=step)

    def finish(trainer: Trainer) -> None:
        if trainer.is_main:
            with trainer.ema_module() as module:
                path = export_weights(module, inputs.run.path, "first_stage")
            inputs.echo(f"first stage weights: {path}")

    return StagePlan(module=first_stage, step_fn=step_fn, finish=finish)
