"""The stage table: every training stage and every recipe component, in one place.

Recipes, resolution, training, the pipeline, run loading and the report all read this table,
so adding a stage (an EncDiff-style field, a VAE baseline) means adding a row here and writing
the stage's module (its ``plan`` function); nothing else names stages. Torch-free: the recipe
layer and the CLI's ``--help`` read it; a stage's ``plan`` is imported only to train.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

#: Recipe keys holding components (dotted; list-valued ones give one component per item), and
#: the plugin kind of each, in the order a report lists them.
COMPONENT_KINDS: dict[str, str] = {
    "data.prepare": "dataset",
    "first_stage": "first_stage",
    "backbone": "backbone",
    "encoder": "encoder",
    "field": "field",
    "losses": "loss",
    "sample.sampler": "sampler",
    "eval.metrics": "metric",
}


#: The first-stage plugin of a recipe that names none (pixel-space diffusion).
IDENTITY_FIRST_STAGE = "identity"


@dataclass(frozen=True)
class StageSpec:
    """One training stage.

    ``required``: recipe components a recipe of this stage must name; ``trained``: the
    components it trains and exports to ``RUN/weights/<key>.safetensors`` (what a later
    ``from_run`` and :func:`~disdiff_core.loading.load_disdiff` read); ``plan``: the
    ``module:function`` turning :class:`~disdiff_core.stages.plan.StageInputs` into a
    :class:`~disdiff_core.stages.plan.StagePlan`; ``names_first_stage``: its resolved recipe
    names the identity first stage when the recipe names none, so that a later ``from_run``
    reads which first stage it was trained with; ``needs_losses``: the recipe must list
    ``losses``."""

    name: str
    required: tuple[str, ...]
    trained: tuple[str, ...]
    plan: str
    names_first_stage: bool = False
    needs_losses: bool = False

    def plan_function(self) -> Callable[[Any], Any]:
        """The stage's plan maker (imports the stage's module, and so torch)."""
        module, _, function = self.plan.partition(":")
        return getattr(importlib.import_module(module), function)


#: The stages in the order they run: each needs the runs of the ones before it.
STAGES: tuple[StageSpec, ...] = (
    StageSpec("first_stage", required=("first_stage",), trained=("first_stage",),
              plan="disdiff_core.stages.first_stage_stage:plan"),
    StageSpec("backbone", required=("backbone",), trained=("backbone",),
              plan="disdiff_core.stages.backbone_stage:plan", names_first_stage=True),
    StageSpec("disdiff", required=("backbone", "encoder", "field"), trained=("encoder", "field"),
              plan="disdiff_core.stages.disdiff_stage:plan", needs_losses=True),
)
STAGE_NAMES: tuple[str, ...] = tuple(spec.name for spec in STAGES)
_BY_NAME = {spec.name: spec for spec in STAGES}


def stage_spec(name: str) -> StageSpec:
    """The row of stage ``name`` (KeyError for an unknown one: recipes are validated first)."""
    return _BY_NAME[name]
