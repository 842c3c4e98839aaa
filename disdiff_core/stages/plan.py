"""What every stage receives (:class:`StageInputs`) and hands the trainer (:class:`StagePlan`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from torch import nn

from disdiff_core.engine.distributed import DistContext
from disdiff_core.engine.trainer import Hook, SteppedStepFn, Trainer
from disdiff_core.recipes.model import Component, Recipe
from disdiff_core.runs import Run
from disdiff_core.stage_table import IDENTITY_FIRST_STAGE

#: The identity first stage, used when a recipe names none (pixel-space diffusion).
IDENTITY = Component(plugin=IDENTITY_FIRST_STAGE)


@dataclass
class StageInputs:
    """A stage's recipe, run, process context and training data location; ``reload_from`` is
    the run whose exported parts a restarted stage reloads instead of measuring them again
    (this run on ``--resume``, the source run of a continuation, None on a fresh start);
    ``echo`` prints one progress line."""

    recipe: Recipe
    run: Run
    context: DistContext
    store: Path
    reload_from: Path | None
    echo: Callable[[str], None]


@dataclass
class StagePlan:
    """The trained module, its step function ``step_fn(batch, step)`` (``step``: optimiser steps
    already made), hooks, and what to do once training ends (``finish(trainer)``, called on
    every rank: export weights on the main one)."""

    module: nn.Module
    step_fn: SteppedStepFn
    finish: Callable[[Trainer], None]
    hooks: Sequence[Hook] = field(default_factory=tuple)
    find_unused_parameters: bool = False
