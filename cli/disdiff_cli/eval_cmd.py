"""``disdiff eval RUN``: encode a dataset with a run's EMA encoder (eval mode), reduce, score,
and write a JSON result (settings, reduction, dataset, seeds, library versions) into the run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from disdiff_cli.console import err, out, print_json
from disdiff_cli.evaluate import parse_metric_settings, results_table


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
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object on stdout")] = False,
) -> None:
    """Evaluate a run's representation on a dataset store (mean ± std over seeds)."""
    result, target = evaluate_run(run, data=data, metrics=metrics, seeds=seeds, reduce=reduce,
                                  settings=settings or [], fast=fast, batch_size=batch_size,
                                  device=device)
    if as_json:
        print_json(result)
        return
    out.print(results_table(result))
    out.print(f"result written to {target}")


def evaluate_run(
    run: Path,
    *,
    data: Path | None = None,
    metrics: str | None = None,
    seeds: int | None = None,
    reduce: str | None = None,
    settings: list[str] | None = None,
    fast: bool = False,
    batch_size: int = 256,
    device: str | None = None,
) -> tuple[dict[str, Any], Path]:
    """What ``disdiff eval`` does, for callers in Python (the quickstart): returns the result
    and the file it was written to, a new one in ``RUN/eval/`` (earlier results are kept)."""
    from disdiff_core.data.store import open_store
    from disdiff_core.errors import DataError
    from disdiff_core.evaluation import evaluate_codes
    from disdiff_core.io import unused_path, write_json_atomic
    from disdiff_core.runs import Run
    from disdiff_core.stages.load import (
        check_image_shape,
        encode_store,
        load_disdiff,
        read_run_recipe,
    )

    recipe = read_run_recipe(run)
    step = Run.open(run).step if (run / "run.json").is_file() else 0
    store_path = data or Path(recipe.data.store)
    store = open_store(store_path)
    if not store.has_factors and store.attributes is None:
        raise DataError(f"store {store_path} has neither factors nor attributes to score against")
    check_image_shape(recipe, store.image_shape, f"store {store_path}")
    requested = (
        {name.strip(): None for name in metrics.split(",") if name.strip()} if metrics
        else {m.plugin: m.params for m in recipe.eval.metrics if m.plugin}
    )
    for name, params in parse_metric_settings(settings or []).items():
        if name not in requested:
            raise DataError(f"--set names a metric that is not evaluated: {name}")
        requested[name] = {**(requested[name] or {}), **params}

    model = load_disdiff(run, device)
    err.print(f"[dim]encoding {store.num_images} images of {store_path}[/]")
    codes = encode_store(model, store, batch_size=batch_size)

    result = evaluate_codes(
        codes,
        requested,
        ground_truth=store.ground_truth() if store.has_factors else None,
        attributes=store.attributes,
        reduction=reduce or recipe.eval.reduce,
        seeds=range(seeds or recipe.eval.seeds),
        fast=fast,
        dataset={"name": store.name, "variant": store.variant, "path": str(store_path)},
        progress=lambda message: err.print(f"[dim]evaluating {message}[/]"),
    )
    result["run"] = {"path": str(run), "step": step, "encoder": "EMA (exported) weights, eval mode"}
    target = unused_path(run / "eval", f"eval-step{step:07d}", ".json")
    write_json_atomic(target, result)
    return result, target
