"""What differs between the recipe a run was trained with and the one it is given again.

A run's ``recipe.yaml`` says what was trained, so a run given a changed recipe must not go on
silently under the old file. The pipeline reuses a finished run only for the same recipe; a
resumed run (``disdiff train --resume``) may change how long and how it trains, samples and is
scored (:data:`RESUMABLE`: e.g. ``train.steps`` to train on), and then ``recipe.yaml`` is
rewritten and ``run.json`` keeps the earlier values; a change to what is trained (a model, a
loss, the data) is refused and points to ``--continue-from``, which starts a new run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from disdiff_core.errors import RecipeError, RunError
from disdiff_core.io import write_text_atomic
from disdiff_core.recipes.compose import ComposedRecipe
from disdiff_core.recipes.resolve import ResolvedRecipe, resolve
from disdiff_core.recipes.yaml_io import read_yaml
from disdiff_core.runs import RECIPE_FILE, Run

#: Recipe keys that label a run without changing what it trains: a recipe renamed or
#: redescribed (or moved to another folder, which the provenance records) is the same recipe.
LABEL_KEYS = ("name", "description", "provenance")
#: Recipe keys a resumed run may change: the training schedule, sampling, evaluation and how
#: the data is read; not the models, the losses or which data.
RESUMABLE = ("train", "sample", "eval", "data.in_memory", "data.num_workers")
#: ``run.json`` key listing the changes a run was resumed with.
RECIPE_CHANGES = "recipe_changes"

Changes = dict[str, tuple[Any, Any]]


def stored_recipe(run: Run) -> dict[str, Any] | None:
    """The run's recipe, validated again by today's plugins (so an option added to a plugin
    since the run was trained reads as its default, not as a change); None when today's
    plugins reject it."""
    try:
        return resolve(ComposedRecipe(read_yaml(run.path / RECIPE_FILE) or {})).to_dict()
    except (RecipeError, RunError):
        return None


def recipe_differences(before: Mapping[str, Any], after: Mapping[str, Any],
                       prefix: str = "") -> Changes:
    """``{dotted key: (before, after)}`` of every value that differs (a missing key reads as
    None; lists of equal length are compared item by item), labels (:data:`LABEL_KEYS`) aside."""
    changes: Changes = {}
    for key in sorted(set(before) | set(after)):
        if not prefix and key in LABEL_KEYS:
            continue
        old, new = before.get(key), after.get(key)
        changes.update(_value_differences(old, new, f"{prefix}{key}"))
    return changes


def _value_differences(old: Any, new: Any, key: str) -> Changes:
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        return recipe_differences(old, new, f"{key}.")
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        changes: Changes = {}
        for index, (a, b) in enumerate(zip(old, new, strict=True)):
            changes.update(_value_differences(a, b, f"{key}.{index}"))
        return changes
    return {} if old == new else {key: (old, new)}


def _resumable(key: str) -> bool:
    return any(key == allowed or key.startswith(allowed + ".") for allowed in RESUMABLE)


def accept_resumed_recipe(run: Run, resolved: ResolvedRecipe,
                          echo: Callable[[str], None]) -> None:
    """Check the recipe a run is resumed with against its stored one: the same, or changed
    only in :data:`RESUMABLE` keys (then ``recipe.yaml`` takes the new recipe and
    ``run.json`` → ``recipe_changes`` the old values with the step); otherwise a RunError
    naming the keys."""
    stored = stored_recipe(run)
    if stored is None:
        raise RunError(f"{run.path / RECIPE_FILE} is not a recipe today's plugins accept, so "
                       "--resume cannot tell what the run was trained with")
    changes = recipe_differences(stored, resolved.to_dict())
    if not changes:
        return
    fixed = [key for key in changes if not _resumable(key)]
    if fixed:
        shown = "; ".join(f"{key}: {changes[key][0]!r} → {changes[key][1]!r}" for key in fixed[:4])
        more = f" and {len(fixed) - 4} more" if len(fixed) > 4 else ""
        raise RunError(f"{run.path} was trained with another recipe ({shown}{more}); --resume "
                       f"goes on training the same models on the same data (only "
                       f"{', '.join(RESUMABLE)} may change). To train the changed recipe from "
                       f"this run's checkpoint, start a new run: --out NEW --continue-from "
                       f"{run.path}")
    write_text_atomic(run.path / RECIPE_FILE, resolved.to_yaml())
    info = run.info
    record = {"step": info["step"],
              "changes": {key: list(values) for key, values in changes.items()}}
    run.update(**{RECIPE_CHANGES: [*info.get(RECIPE_CHANGES, []), record]})
    echo(f"resumed with a changed recipe at step {info['step']}: "
         + ", ".join(f"{key} {old!r} → {new!r}" for key, (old, new) in changes.items())
         + f" ({RECIPE_FILE} holds the new recipe, run.json the old values)")
