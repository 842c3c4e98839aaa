"""Training: one recipe's stage (``disdiff train``) or several in order (``disdiff pipeline``)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from disdiff_core.app.results import Progress, TrainResult
from disdiff_core.recipes import load_recipe
from disdiff_core.runs import Run
from disdiff_core.stages.pipeline import run_pipeline, steps_of
from disdiff_core.stages.runner import train_recipe


def _result(run: Run) -> TrainResult:
    return TrainResult(path=run.path, stage=run.stage, status=run.status, step=run.step,
                       time_limit_reached=run.info.get("time_limit_reached"))


def train(
    recipe: str | Path,
    *,
    out: str | Path | None = None,
    overrides: Sequence[str] = (),
    resume: bool = False,
    continue_from: str | Path | None = None,
    progress: Progress = print,
) -> TrainResult:
    """Train a recipe (a file or a shipped name, with ``dotted.key=value`` overrides) into
    ``out`` (default ``runs/<recipe name>``); ``resume`` continues the run there from its
    latest checkpoint; ``continue_from`` (another run, or one of its checkpoint folders)
    starts the new run from that checkpoint instead of step 0, e.g. to train a finished run
    for more steps without touching it. Checkpoints, metrics, sample grids and the exported
    weights go there."""
    run = train_recipe(load_recipe(recipe, overrides), out, resume=resume,
                       continue_from=continue_from, echo=progress)
    return _result(run)


def pipeline(
    recipes: Iterable[str | Path],
    *,
    overrides: Sequence[str] = (),
    progress: Progress = print,
) -> list[TrainResult]:
    """Train stages in order (a recipe folder expands to its stages), each into its default run
    folder, reusing a finished run of the same recipe and resuming an unfinished one."""
    return [_result(run) for run in run_pipeline(steps_of(recipes, overrides), echo=progress)]
