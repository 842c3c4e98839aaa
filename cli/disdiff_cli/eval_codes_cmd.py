"""``disdiff eval-codes CODES --data STORE``: score a code array against a dataset store.

The codes are (images, codes) or (images, N, D), one row per image of the store, in its row
order (canonical factor order for the published grids; what ``disdiff encode`` writes).
Results: a table of mean ± std over seeds, or with ``--json`` exactly one JSON object on stdout
whose ``metrics`` maps each metric plugin name to its numbers under disentanglement_lib's names.
Progress goes to stderr.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from disdiff_cli.console import dim_progress, out, print_json
from disdiff_core.app.results import ATTRIBUTE_METRICS, FACTOR_METRICS

if TYPE_CHECKING:
    from disdiff_core.app.results import EvalResult


def parse_metric_settings(assignments: list[str]) -> dict[str, dict[str, Any]]:
    """``metric.key=value`` strings -> {metric: {key: value}}; values parse as JSON when they
    can (numbers, true/false, null), else stay strings."""
    from disdiff_core.errors import DataError

    settings: dict[str, dict[str, Any]] = {}
    for assignment in assignments:
        target, sep, raw = assignment.partition("=")
        metric, dot, key = target.partition(".")
        if not (sep and dot and metric and key):
            raise DataError(
                f"--set expects metric.key=value (e.g. dci.num_train=1000), got {assignment!r}"
            )
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        settings.setdefault(metric, {})[key] = value
    return settings


def metric_names(metrics: str | None) -> list[str] | None:
    """``--metrics a,b`` as names (None: the command's default)."""
    return [name.strip() for name in metrics.split(",") if name.strip()] if metrics else None


def eval_codes(
    codes: Annotated[Path, typer.Argument(
        help="codes: .npy, .npz or zarr, (images, codes) or (images, N, D)"
    )],
    data: Annotated[Path, typer.Option("--data", help="dataset store the codes were computed on")],
    metrics: Annotated[str | None, typer.Option(
        "--metrics",
        help=f"comma-separated metric plugins (default: {','.join(FACTOR_METRICS)} for stores "
        f"with factors, {','.join(ATTRIBUTE_METRICS)} for stores with attributes)",
    )] = None,
    reduce: Annotated[str | None, typer.Option(
        "--reduce",
        help="pca1 | none (default: pca1 for (images, N, D) codes, none for 2-D codes)",
    )] = None,
    seeds: Annotated[int, typer.Option(
        "--seeds", min=1, help="run each metric with seeds 0..K-1"
    )] = 1,
    settings: Annotated[list[str] | None, typer.Option(
        "--set",
        help="metric setting, repeatable: dci.num_train=1000 (defaults: dlib's study settings)",
    )] = None,
    key: Annotated[str | None, typer.Option(
        "--key", help="array name inside an .npz or zarr group"
    )] = None,
    fast: Annotated[bool, typer.Option(
        "--fast",
        help="fast modes where metrics have one (DCI: histogram boosting, NOT dlib's numbers)",
    )] = False,
    output: Annotated[Path | None, typer.Option(
        "--output", help="also write the result JSON here"
    )] = None,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object on stdout")] = False,
) -> None:
    """Score CODES (one row per image of the store at --data, in its order) with metric plugins."""
    from disdiff_core import api

    result = api.evaluate_codes(codes, data, metrics=metric_names(metrics), seeds=seeds,
                                reduce=reduce, settings=parse_metric_settings(settings or []),
                                key=key, fast=fast, output=output, progress=dim_progress)
    if as_json:
        print_json(result.record)
        return
    out.print(results_table(result))


def results_table(result: EvalResult) -> Table:
    """Metric numbers as mean ± std over seeds, one row per number; fast modes flagged."""
    seeds = result.seeds
    dataset = result.record["dataset"]
    what = (f"{result.num_codes} codes, reduction {result.reduction}" if result.num_codes
            else "the run's samples")
    table = Table(
        "metric", "number", f"mean ± std ({len(seeds)} seed{'s' if len(seeds) > 1 else ''})",
        title=f"{dataset.get('name') or 'dataset'}: {what}",
    )
    for name, numbers in result.metrics.items():
        label = name if result.modes[name] == "exact" else f"{name} [yellow](fast, not dlib)[/]"
        for number, summary in numbers.items():
            table.add_row(label, number, f"{summary.mean:.4f} ± {summary.std:.4f}")
            label = ""
    return table
