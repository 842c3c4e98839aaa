"""``disdiff eval RUN``: encode a dataset with a run's EMA encoder (eval mode), reduce, score,
and write a JSON result (settings, reduction, dataset, seeds, library versions) into the run
(:func:`disdiff_core.api.evaluate_run`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from disdiff_cli.console import dim_progress, out, print_json
from disdiff_cli.eval_codes_cmd import metric_names, parse_metric_settings, results_table


def eval_run(
    run: Annotated[Path, typer.Argument(help="a finished disdiff run directory")],
    data: Annotated[Path | None, typer.Option(
        "--data", help="dataset store (default: the run recipe's data.store)")] = None,
    metrics: Annotated[str | None, typer.Option(
        "--metrics", help="comma-separated metric plugins (default: the recipe's eval.metrics)")] = None,
    seeds: Annotated[int | None, typer.Option(
        "--seeds", min=1, help="seeds 0..K-1 (default: the recipe's eval.seeds)")] = None,
    reduce: Annotated[str | None, typer.Option(
        "--reduce", help="pca1 | none (default: the recipe's eval.reduce)")] = None,
    settings: Annotated[list[str] | None, typer.Option(
        "--set", help="metric setting, repeatable: dci.num_train=1000")] = None,
    fast: Annotated[bool, typer.Option(
        "--fast", help="fast modes where metrics have one (DCI: NOT dlib's numbers)")] = False,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="images per pass")] = 256,
    device: Annotated[str | None, typer.Option("--device", help="torch device")] = None,
    keep_codes: Annotated[bool, typer.Option(
        "--keep-codes/--no-keep-codes",
        help="keep the encoded codes in RUN/artifacts.zarr (to score again with eval-codes)")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object on stdout")] = False,
) -> None:
    """Evaluate a run's representation on a dataset store (mean ± std over seeds).

    Image metrics (fid) score the run's samples against the store's images."""
    from disdiff_core import api

    result = api.evaluate_run(run, data=data, metrics=metric_names(metrics), seeds=seeds,
                              reduce=reduce, settings=parse_metric_settings(settings or []),
                              fast=fast, batch_size=batch_size, device=device,
                              keep_codes=keep_codes, progress=dim_progress)
    if as_json:
        print_json(result.record)
        return
    out.print(results_table(result))
    out.print(f"result written to {result.file}")
