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
from typing import Annotated, Any

import typer
from rich.table import Table

from disdiff_cli.console import err, out, print_json

FACTOR_METRICS = "factorvae,dci"
ATTRIBUTE_METRICS = "tad"


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


def eval_codes(
    codes: Annotated[Path, typer.Argument(
        help="codes: .npy, .npz or zarr, (images, codes) or (images, N, D)"
    )],
    data: Annotated[Path, typer.Option("--data", help="dataset store the codes were computed on")],
    metrics: Annotated[str | None, typer.Option(
        "--metrics",
        help=f"comma-separated metric plugins (default: {FACTOR_METRICS} for stores with "
        f"factors, {ATTRIBUTE_METRICS} for stores with attributes)",
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
    from disdiff_core.data.store import open_store
    from disdiff_core.errors import DataError
    from disdiff_core.evaluation import evaluate_codes
    from disdiff_core.evaluation.codes import load_codes
    from disdiff_core.io import write_json_atomic

    array = load_codes(codes, key)
    store = open_store(data)
    if len(array) != store.num_images:
        raise DataError(
            f"{codes} has {len(array)} code rows but the store {data} has {store.num_images} "
            "images; codes need one row per image, in the store's canonical order"
        )
    ground_truth = store.ground_truth() if store.has_factors else None
    if metrics is None:
        metrics = FACTOR_METRICS if ground_truth is not None else ATTRIBUTE_METRICS
    names = [name.strip() for name in metrics.split(",") if name.strip()]
    params = parse_metric_settings(settings or [])
    unknown = sorted(set(params) - set(names))
    if unknown:
        raise DataError(f"--set names metrics that are not evaluated: {', '.join(unknown)}")
    result = evaluate_codes(
        array,
        {name: params.get(name) for name in names},
        ground_truth=ground_truth,
        attributes=store.attributes,
        reduction=reduce,
        seeds=range(seeds),
        fast=fast,
        dataset={"name": store.name, "variant": store.variant, "path": str(data)},
        progress=lambda message: err.print(f"[dim]evaluating {message}[/]"),
    )
    result["codes"]["path"] = str(codes)
    if output is not None:
        write_json_atomic(output, result)
    if as_json:
        print_json(result)
        return
    out.print(results_table(result))


def results_table(result: dict[str, Any]) -> Table:
    """Metric numbers as mean ± std over seeds, one row per number; fast modes flagged."""
    seeds = result["seeds"]
    dataset = result["dataset"]
    table = Table(
        "metric", "number", f"mean ± std ({len(seeds)} seed{'s' if len(seeds) > 1 else ''})",
        title=f"{dataset.get('name') or 'dataset'}: {result['codes']['num_codes']} codes, "
        f"reduction {result['codes']['reduction']}",
    )
    for name, numbers in result["metrics"].items():
        label = name if result["modes"][name] == "exact" else f"{name} [yellow](fast, not dlib)[/]"
        for number, summary in numbers.items():
            table.add_row(label, number, f"{summary['mean']:.4f} ± {summary['std']:.4f}")
            label = ""
    return table
