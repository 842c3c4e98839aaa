"""Stage ``disdiff``: train the encoder E_φ and the field G_ψ over a frozen backbone and
first stage (docs/method.md, "One training step"; the step itself is
:meth:`~disdiff_core.disdiff.DisDiffModel.training_losses`).

The first stage defaults to the backbone run's (``from_run`` of the backbone), else identity.
With ``train.eval_every`` the run is evaluated as it trains (:mod:`.eval_hook`).
"""

from __future__ import annotations

import torch
from torch import Tensor

from disdiff_core import registry
from disdiff_core.disdiff import DisDiffModel
from disdiff_core.editing import factor_effect_figure
from disdiff_core.engine.trainer import Trainer
from disdiff_core.images import save_png
from disdiff_core.recipes.model import Component, Recipe
from disdiff_core.stage_table import stage_spec
from disdiff_core.stages.components import build_component, export_weights
from disdiff_core.stages.eval_hook import evaluation_hook
from disdiff_core.stages.gradient_hook import LastBatch, gradient_hook
from disdiff_core.stages.plan import IDENTITY, StageInputs, StagePlan

#: The figure of what each factor's field does, written at the end of training (images/).
EFFECT_FILE = "factor_x0.png"
EFFECT_IMAGES = 4


def first_stage_component(recipe: Recipe) -> Component:
    """The recipe's first stage, else the one of the backbone's run, else identity."""
    if recipe.first_stage is not None:
        return recipe.first_stage
    assert recipe.backbone is not None
    if recipe.backbone.from_run is not None:
        return Component(from_run=recipe.backbone.from_run)
    return IDENTITY


def plan(inputs: StageInputs) -> StagePlan:
    recipe, run = inputs.recipe, inputs.run
    assert recipe.backbone is not None and recipe.encoder is not None and recipe.field is not None
    backbone = build_component("backbone", "backbone", recipe.backbone, frozen=True)
    first_stage = build_component("first_stage", "first_stage", first_stage_component(recipe),
                                  frozen=True)
    encoder = build_component("encoder", "encoder", recipe.encoder, frozen=False)
    field = build_component("field", "field", recipe.field, frozen=False, backbone=backbone,
                            num_factors=encoder.num_factors, factor_dim=encoder.factor_dim)
    losses = [registry.build("loss", str(term.plugin), term.params) for term in recipe.losses]
    for term in losses:
        inputs.echo(f"loss: {term.describe()}")
    if inputs.context.is_main:
        run.update(losses=[term.describe() for term in losses])
    model = DisDiffModel(backbone, first_stage, encoder, field, losses)

    last = LastBatch()

    def step_fn(x0: Tensor, step: int) -> dict[str, Tensor]:
        return model.training_losses(last.keep(x0), step=step)

    def finish(trainer: Trainer) -> None:
        if trainer.is_main:
            with trainer.ema_module() as trained:
                for key in stage_spec("disdiff").trained:
                    path = export_weights(getattr(trained, key), run.path, key)
                    inputs.echo(f"{key} weights: {path}")
                if last.x0 is not None:
                    figure = factor_effect_figure(trained.eval(), last.x0[:EFFECT_IMAGES],
                                                  generator=torch.Generator().manual_seed(0))
                    inputs.echo(f"factor effects: {save_png(run.images_dir / EFFECT_FILE, figure)}")

    hooks = [gradient_hook(model, last, recipe.train.log_every)]
    if (evaluation := evaluation_hook(inputs, model)) is not None:
        hooks.append(evaluation)
    return StagePlan(module=model, step_fn=step_fn, finish=finish, hooks=hooks,
                     find_unused_parameters=True)
