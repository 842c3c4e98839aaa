"""Runs side by side (``disdiff runs compare``): where their recipes differ, their last logged
training terms and their latest ``disdiff eval`` results, one column per run.

Only the recipe settings that differ are listed (plugin provenance aside), so comparing DisDiff
with the same recipe at λ = 0 shows exactly ``losses.1.params.weight``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from disdiff_core.errors import RunError
from disdiff_core.report import RunReport, gather, is_loss_term
from disdiff_core.runs import Run

#: Row values: one per run, None where a run has no such value.
Row = tuple[str, list[Any]]


@dataclass
class Comparison:
    """What ``runs compare`` shows; every row holds one value per run, in the order given."""

    runs: list[dict[str, Any]]
    recipe: list[Row]
    training: list[Row]
    evaluation: list[Row]

    def to_dict(self) -> dict[str, Any]:
        return {"runs": self.runs,
                **{part: {key: values for key, values in getattr(self, part)}
                   for part in ("recipe", "training", "evaluation")}}


def flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    """Dotted keys of a nested mapping; list items are numbered (``losses.1.params.weight``)."""
    if isinstance(node, Mapping):
        items = node.items()
    elif isinstance(node, list):
        items = ((str(i), value) for i, value in enumerate(node))
    else:
        return {prefix[:-1]: node}
    flat: dict[str, Any] = {}
    for key, value in items:
        flat.update(flatten(value, f"{prefix}{key}."))
    return flat


def _recipe_rows(reports: Sequence[RunReport]) -> list[Row]:
    flats = []
    for report in reports:
        recipe = dict(report.recipe or {})
        recipe.pop("provenance", None)
        flats.append(flatten(recipe))
    keys = sorted({key for flat in flats for key in flat})
    rows = []
    for key in keys:
        values = [flat.get(key) for flat in flats]
        if any(value != values[0] for value in values):
            rows.append((key, values))
    return rows


def _training_rows(reports: Sequence[RunReport]) -> list[Row]:
    """The last logged value of every loss term any run logged."""
    lasts = []
    for report in reports:
        last: dict[str, float] = {}
        for record in report.records:
            last.update({k: v for k, v in record.items() if is_loss_term(k)})
        lasts.append(last)
    keys = sorted({key for last in lasts for key in last})
    return [(key, [last.get(key) for last in lasts]) for key in keys]


def _evaluation_rows(reports: Sequence[RunReport]) -> list[Row]:
    """``metric/number`` -> {mean, std, seeds} of each run's latest evaluation."""
    per_run = []
    for report in reports:
        numbers = {}
        evaluation = report.evaluation or {}
        for metric, values in evaluation.get("metrics", {}).items():
            for number, summary in values.items():
                numbers[f"{metric}/{number}"] = {"mean": summary["mean"], "std": summary["std"],
                                                 "seeds": len(evaluation.get("seeds", []))}
        per_run.append(numbers)
    keys = sorted({key for numbers in per_run for key in numbers})
    return [(key, [numbers.get(key) for numbers in per_run]) for key in keys]


def compare_runs(paths: Sequence[str | Path]) -> Comparison:
    """Compare the run directories at ``paths`` (at least two)."""
    if len(paths) < 2:
        raise RunError("give at least two run directories to compare")
    reports = [gather(Run.open(path)) for path in paths]
    runs = [{"path": str(r.run.path), "name": r.info.get("name"), "stage": r.info.get("stage"),
             "status": r.info.get("status"), "step": r.info.get("step"),
             "evaluation": str(r.evaluation_file) if r.evaluation_file else None}
            for r in reports]
    return Comparison(runs=runs, recipe=_recipe_rows(reports), training=_training_rows(reports),
                      evaluation=_evaluation_rows(reports))
