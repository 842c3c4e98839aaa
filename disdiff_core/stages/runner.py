"""``disdiff train``: run a resolved recipe's stage through the engine.

Creates (or, with ``resume``, re-opens) the run directory with the resolved recipe, prepares
the dataset store when it is missing, asks the stage for its trained module, step function and
hooks, trains (from step 0, from the run's latest checkpoint, or from another run's checkpoint:
:mod:`disdiff_core.stages.continuation`), and lets the stage export its weights.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import IO

from disdiff_core.engine.distributed import distributed_session
from disdiff_core.engine.rng import seed_everything
from disdiff_core.engine.run_lock import run_lock
from disdiff_core.engine.trainer import Trainer
from disdiff_core.errors import RunError
from disdiff_core.recipes.resolve import ResolvedRecipe, iter_components
from disdiff_core.runs import RECIPE_FILE, RUN_FILE, Run
from disdiff_core.stage_table import stage_spec
from disdiff_core.stages.components import locate_weights
from disdiff_core.stages.continuation import (
    restart_point,
    source_checkpoint,
    source_run,
    start_continuation,
)
from disdiff_core.stages.data import ensure_store, training_batches
from disdiff_core.stages.plan import StageInputs, StagePlan
from disdiff_core.stages.recipe_changes import accept_resumed_recipe

DEFAULT_RUNS_DIR = Path("runs")


def default_run_dir(resolved: ResolvedRecipe) -> Path:
    """``runs/<recipe name>``."""
    return DEFAULT_RUNS_DIR / resolved.name


def open_run(resolved: ResolvedRecipe, out: Path, *, resume: bool,
             echo: Callable[[str], None] = print) -> Run:
    """A new run directory holding the resolved recipe, or the existing one to resume (whose
    recipe may change only in what :func:`accept_resumed_recipe` allows)."""
    recipe = resolved.recipe
    parents = {key: str(component.from_run) for key, _, component in iter_components(recipe)
               if component.from_run is not None}
    fresh = not (out / RUN_FILE).is_file()
    run = Run.create(out, stage=recipe.stage, recipe_yaml=resolved.to_yaml(),
                     name=resolved.name, parents=parents, exist_ok=resume)
    if resume and fresh:
        echo(f"--resume: there was no run in {out} to resume; training a new one from step 0")
    elif resume:
        accept_resumed_recipe(run, resolved, echo)
    return run


def check_earlier_runs(resolved: ResolvedRecipe) -> None:
    """Every ``from_run`` the recipe names is a run folder and every ``checkpoint`` a file,
    checked before this run's folder is made: a later stage started before its earlier one
    must not leave a failed run behind that blocks the next attempt."""
    where = f"{resolved.path}: " if resolved.path is not None else ""
    for key, _, component in iter_components(resolved.recipe):
        if component.checkpoint:
            locate_weights(key, component)  # names the key and the missing file
        if component.from_run is not None and not (Path(component.from_run) / RECIPE_FILE).is_file():
            raise RunError(f"{where}{key}.from_run: {component.from_run} is not a run directory "
                           f"(no {RECIPE_FILE}); train the stage it names first, or point "
                           f"{key}.from_run at its run (--set {key}.from_run=RUN)")


def train_recipe(
    resolved: ResolvedRecipe,
    out: str | Path | None = None,
    *,
    resume: bool = False,
    continue_from: str | Path | None = None,
    echo: Callable[[str], None] = print,
    stream: IO[str] | None = None,
) -> Run:
    """Train the recipe's stage into ``out`` (default ``runs/<name>``) and return the run.

    ``resume`` continues the run in ``out`` from its latest checkpoint (a fresh run when
    there is none); ``continue_from`` (a run folder or one of its checkpoint folders) starts a
    NEW run in ``out`` from that checkpoint. ``echo`` prints set-up lines; ``stream`` takes
    the trainer's progress. The main process holds the run folder's lock throughout (a second
    training of the same folder stops at once).
    """
    if resume and continue_from is not None:
        raise RunError("--resume continues the run in --out, --continue-from starts a new one "
                       "from another run: give one of them")
    recipe = resolved.recipe
    check_earlier_runs(resolved)
    out = Path(out) if out is not None else default_run_dir(resolved)
    start = (source_checkpoint(continue_from, recipe.stage) if continue_from is not None
             else None)
    with (distributed_session() as context,
          run_lock(out, note=echo) if context.is_main else contextlib.nullcontext()):
        run = open_run(resolved, out, resume=resume, echo=echo) if context.is_main else None
        if run is not None:
            if start is not None:
                start_continuation(run, start)
                echo(f"a new run continuing {start} (that run is only read)")
            run.update(environment=context.environment())  # of the latest start
        context.barrier()
        run = run or Run.open(out)
        if resume:
            start = restart_point(run)
        # a restarted stage reloads what it exported at its start from the run it restarts
        if start is not None:
            reload_from: Path | None = source_run(start).path
        else:
            reload_from = run.path if resume else None
        store = ensure_store(recipe.data, context, echo)
        inputs = StageInputs(recipe=recipe, run=run, context=context, store=store,
                             reload_from=reload_from,
                             echo=echo if context.is_main else _silent)
        seed_everything(recipe.train.seed)  # the initial weights follow train.seed too
        try:
            plan: StagePlan = stage_spec(recipe.stage).plan_function()(inputs)
        except Exception as exc:
            if context.is_main:
                run.update(status="failed", error=str(exc))
            raise
        trainer = Trainer(plan.module, plan.step_fn, training_batches(recipe.data, store,
                                                                       recipe.train, context),
                          recipe.train, run, hooks=plan.hooks, context=context,
                          find_unused_parameters=plan.find_unused_parameters, pass_step=True,
                          stream=stream)
        trainer.fit(resume=start if start is not None else resume)
        plan.finish(trainer)
    return run


def _silent(line: str) -> None:
    """Ranks other than the main one print nothing."""
