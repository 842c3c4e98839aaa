"""Several stages in order (first stage → backbone → DisDiff), each reusing a finished run.

A later stage names an earlier one's run in ``from_run``, so each stage's recipe is resolved
only when the stages before it are done. A stage whose run directory already holds a FINISHED
run of the same recipe is reused instead of retrained; an unfinished run of it is resumed from
its latest checkpoint; a finished run of a different recipe is an error (retraining silently
would discard it, reusing it would mislabel the results).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import IO

from disdiff_core.errors import RecipeError, RunError
from disdiff_core.recipes.resolve import ResolvedRecipe, find_recipe, load_recipe, recipes_dir
from disdiff_core.runs import RUN_FILE, Run
from disdiff_core.stage_table import STAGE_NAMES
from disdiff_core.stages.recipe_changes import recipe_differences, stored_recipe
from disdiff_core.stages.runner import default_run_dir, train_recipe


class Action(str, Enum):
    """What the pipeline does with one stage."""

    train = "train"
    resume = "resume"
    reuse = "reuse"


@dataclass(frozen=True)
class PipelineStep:
    """One stage: its recipe (file or shipped name), ``--set`` overrides, run directory
    (None: ``runs/<recipe name>``) and, if its training is to start from another run's
    checkpoint rather than step 0 (a run folder or one of its checkpoint folders), that."""

    recipe: str | Path
    overrides: tuple[str, ...] = ()
    out: Path | None = None
    continue_from: Path | None = None


def recipe_folder(name_or_dir: str | Path) -> Path | None:
    """The folder a name means (a path, or a shipped folder such as ``shapes3d``), or None."""
    for folder in (Path(name_or_dir), recipes_dir() / str(name_or_dir)):
        if folder.is_dir():
            return folder
    return None


def stage_recipes(name_or_dir: str | Path) -> list[Path]:
    """The stage recipes of a folder (see :func:`recipe_folder`), in stage order. Raises
    RecipeError when the folder is missing or a stage appears twice."""
    folder = recipe_folder(name_or_dir)
    if folder is None:
        raise RecipeError(f"no recipe folder {name_or_dir!r} (neither a folder nor under "
                          f"{recipes_dir()})")
    by_stage: dict[str, Path] = {}
    for path in sorted(folder.glob("*.yaml")):
        stage = load_recipe(path).recipe.stage
        if stage in by_stage:
            raise RecipeError(f"{folder} holds two {stage} recipes: {by_stage[stage].name} and "
                              f"{path.name}; name the recipes to run instead")
        by_stage[stage] = path
    if not by_stage:
        raise RecipeError(f"{folder} holds no recipes")
    return [by_stage[stage] for stage in STAGE_NAMES if stage in by_stage]


def _same_recipe(resolved: ResolvedRecipe, run_dir: Path) -> bool:
    """Whether the run was trained with this recipe (its labels aside; a stored recipe
    today's plugins reject is a different one)."""
    stored = stored_recipe(Run(run_dir))
    return stored is not None and not recipe_differences(stored, resolved.to_dict())


def decide(resolved: ResolvedRecipe, run_dir: Path) -> Action:
    """Train, resume or reuse the stage whose run goes to ``run_dir``."""
    if not (run_dir / RUN_FILE).is_file():
        return Action.train
    run = Run.open(run_dir)
    if run.stage != resolved.recipe.stage:
        raise RunError(f"{run_dir} holds a {run.stage!r} run, not a {resolved.recipe.stage!r} run")
    same = _same_recipe(resolved, run_dir)
    if run.status == "finished":
        if not same:
            raise RunError(f"{run_dir} holds a finished run of a different recipe"
                           f"{_differences(resolved, run)}; remove or move it to train this "
                           "one there (or train the recipe elsewhere: disdiff train RECIPE "
                           "--out DIR)")
        return Action.reuse
    if not same:
        raise RunError(f"{run_dir} holds an unfinished run of a different recipe"
                       f"{_differences(resolved, run)}; remove it to train this one")
    return Action.resume


def _differences(resolved: ResolvedRecipe, run: Run) -> str:
    """`` (key: stored → given; …)`` of the first few keys that differ, for a message."""
    stored = stored_recipe(run)
    if stored is None:
        return " (its recipe.yaml is not one today's plugins accept)"
    changes = recipe_differences(stored, resolved.to_dict())
    shown = "; ".join(f"{key}: {old!r} → {new!r}" for key, (old, new) in list(changes.items())[:4])
    more = f" and {len(changes) - 4} more" if len(changes) > 4 else ""
    return f" ({shown}{more})" if shown else ""


def run_pipeline(
    steps: Sequence[PipelineStep],
    *,
    echo: Callable[[str], None] = print,
    stream: IO[str] | None = None,
) -> list[Run]:
    """Run each step in order; returns their runs (reused ones included)."""
    runs = []
    for number, step in enumerate(steps, start=1):
        resolved = load_recipe(step.recipe, step.overrides)
        out = step.out or default_run_dir(resolved)
        action = decide(resolved, out)
        counter = f"[{number}/{len(steps)}] " if len(steps) > 1 else ""
        echo(f"{counter}{resolved.recipe.stage} {resolved.name}: {action.value} → {out}")
        if action is Action.reuse:
            runs.append(Run.open(out))
            continue
        resume = action is Action.resume
        runs.append(train_recipe(resolved, out, resume=resume,
                                 continue_from=None if resume else step.continue_from,
                                 echo=echo, stream=stream))
    return runs


def steps_of(recipes: Iterable[str | Path], overrides: Sequence[str] = ()) -> list[PipelineStep]:
    """Pipeline steps of recipe names, files or folders (a folder expands to its stages), each
    with the same overrides, in the order given."""
    steps = []
    for item in recipes:
        paths = stage_recipes(item) if recipe_folder(item) else [find_recipe(item)]
        steps.extend(PipelineStep(path, tuple(overrides)) for path in paths)
    return steps
