"""Reading once everything a report shows from a run directory (:class:`RunReport`)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from disdiff_core.errors import DisdiffError
from disdiff_core.runs import Run


@dataclass
class RunReport:
    """What a run directory holds, read once; everything the page shows comes from here."""

    run: Run
    info: dict[str, Any]
    recipe: dict[str, Any] | None
    recipe_problem: str | None
    records: list[dict[str, Any]]
    evaluation: dict[str, Any] | None
    evaluation_file: Path | None
    eval_problems: list[str] = field(default_factory=list)
    images: list[Path] = field(default_factory=list)  # relative to the run's images/


def natural_key(name: str) -> list[Any]:
    """Sort key that orders ``samples-step50`` before ``samples-step300``."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def _read_recipe(run: Run) -> tuple[dict[str, Any] | None, str | None]:
    """The run's resolved recipe as a raw mapping (not validated: a report should still show a
    run whose plugins are no longer installed), or the reason it cannot be read."""
    from disdiff_core.recipes.yaml_io import read_yaml

    if not run.recipe_path.is_file():
        return None, f"{run.recipe_path} is missing"
    try:
        return read_yaml(run.recipe_path), None
    except DisdiffError as exc:
        return None, str(exc)


def _read_evaluation(path: Path) -> dict[str, Any]:
    """One ``disdiff eval`` result; ValueError when it is not one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot read {path.name}: {exc}") from None
    metrics = data.get("metrics") if isinstance(data, dict) else None
    if not isinstance(metrics, dict) or not all(
        isinstance(numbers, dict) and all(isinstance(n, dict) and "mean" in n
                                          for n in numbers.values())
        for numbers in metrics.values()
    ):
        raise ValueError(f"{path.name} is not a `disdiff eval` result (no metrics with means)")
    return data


def _latest_evaluation(run: Run) -> tuple[dict[str, Any] | None, Path | None, list[str]]:
    """The newest readable result in ``eval/`` (by modification time, then name), and a note
    for every newer file that could not be read."""
    files = list(run.eval_dir.glob("*.json")) if run.eval_dir.is_dir() else []
    files.sort(key=lambda p: (p.stat().st_mtime, natural_key(p.name)), reverse=True)
    problems = []
    for path in files:
        try:
            return _read_evaluation(path), path, problems
        except ValueError as exc:
            problems.append(str(exc))
    return None, None, problems


def gather(run: Run) -> RunReport:
    """Read everything a report shows from a run directory."""
    recipe, recipe_problem = _read_recipe(run)
    evaluation, evaluation_file, eval_problems = _latest_evaluation(run)
    images = sorted(
        (p.relative_to(run.images_dir) for p in run.images_dir.rglob("*.png") if p.is_file()),
        key=lambda p: [natural_key(part) for part in p.parts],
    ) if run.images_dir.is_dir() else []
    return RunReport(run=run, info=run.info, recipe=recipe, recipe_problem=recipe_problem,
                     records=run.read_metrics(), evaluation=evaluation,
                     evaluation_file=evaluation_file, eval_problems=eval_problems, images=images)

