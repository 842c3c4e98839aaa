"""``disdiff quickstart [--out DIR]``: the whole pipeline on the built-in default, on a CPU
(:func:`disdiff_core.api.quickstart`, whose docstring lists what lands in DIR).

Running it again reuses the finished stages (see ``disdiff pipeline``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from disdiff_cli.console import err, out

if TYPE_CHECKING:
    from disdiff_core.app.quickstart import QuickstartResult


def quickstart(
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="folder for data, runs and "
                                          "summary.json")] = Path("quickstart"),
    recipes: Annotated[str, typer.Option(
        "--recipes", "-r", help="recipe folder whose stages to run (a shipped name such as "
        "shapes3d-cpu or toy16, or a path)")] = "quickstart",
    autoencoder_steps: Annotated[int | None, typer.Option(
        "--autoencoder-steps", min=1,
        help="first-stage optimiser steps (default: the recipe's)")] = None,
    backbone_steps: Annotated[int | None, typer.Option(
        "--backbone-steps", min=1, help="backbone optimiser steps (default: the recipe's)")] = None,
    disdiff_steps: Annotated[int | None, typer.Option(
        "--disdiff-steps", min=1, help="DisDiff optimiser steps (default: the recipe's)")] = None,
    seeds: Annotated[int | None, typer.Option(
        "--seeds", min=1, help="evaluation seeds (default: the recipe's eval.seeds)")] = None,
    sample_steps: Annotated[int, typer.Option(
        "--sample-steps", min=1, help="DDIM steps of the swap and traversal grids")] = 25,
    fast_eval: Annotated[bool, typer.Option(
        "--fast-eval", help="fast metric modes (DCI: NOT disentanglement_lib's numbers)")] = False,
) -> None:
    """Run the whole pipeline on the built-in Shapes3D grid (about 10 minutes on 2 CPU cores)."""
    from disdiff_core import api

    result = api.quickstart(
        out_dir, recipes=recipes, autoencoder_steps=autoencoder_steps,
        backbone_steps=backbone_steps, disdiff_steps=disdiff_steps, seeds=seeds,
        sample_steps=sample_steps, fast_eval=fast_eval, progress=err.print,
        on_phase=lambda number, total, what: err.rule(f"[bold][{number}/{total}] {what}[/]"))
    _print_summary(result, recipes)


def _print_summary(result: QuickstartResult, recipes: str) -> None:
    from disdiff_core.app.quickstart import SUMMARY_FILE

    evaluation = result.evaluation
    table = Table("metric", "number", "mean ± std", title=(
        f"DisDiff ({recipes}): {len(evaluation.seeds)} seed(s), {evaluation.reduction} codes"))
    for name, numbers in evaluation.metrics.items():
        for key, value in numbers.items():
            table.add_row(f"{name} ({evaluation.modes[name]})", key,
                          f"{value.mean:.3f} ± {value.std:.3f}")
    out.print(table)
    files = Table("what", "where", title=f"files (under {result.out})")
    files.add_row("dataset store", result.relative(result.store))
    for key, path in result.runs.items():
        files.add_row(f"{key} run", result.relative(path))
    assert evaluation.file is not None
    files.add_row("evaluation", result.relative(evaluation.file))
    for key, path in result.images.items():
        files.add_row(f"{key} grid", result.relative(path))
    files.add_row("report", result.relative(result.report))
    files.add_row("summary", SUMMARY_FILE)
    out.print(files)
    out.print("wall time: " + ", ".join(f"{k} {v:.0f} s" for k, v in result.seconds.items()))
    out.print(f"next: disdiff runs show {result.runs['disdiff']}")
