"""``disdiff train RECIPE``: train one stage (first stage, backbone or DisDiff) into a run
(:func:`disdiff_core.api.train`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from disdiff_cli.console import err, out

RecipeArg = Annotated[str, typer.Argument(help="recipe file, or shipped recipe name")]
OutOpt = Annotated[
    Path | None, typer.Option("--out", "-o", help="run directory (default: runs/<recipe name>)")
]
SetOpt = Annotated[
    list[str], typer.Option("--set", "-s", help="override: dotted.key=value (value parsed as YAML)")
]
ResumeOpt = Annotated[
    bool, typer.Option("--resume", help="continue the run in --out from its latest checkpoint")
]

ContinueOpt = Annotated[
    Path | None,
    typer.Option("--continue-from", help="start a new run in --out from this run's latest "
                 "checkpoint (or this checkpoint folder), e.g. to train it for more steps"),
]


def train(
    recipe: RecipeArg,
    out_dir: OutOpt = None,
    overrides: SetOpt = [],  # noqa: B006 - typer reads it
    resume: ResumeOpt = False,
    continue_from: ContinueOpt = None,
) -> None:
    """Train one recipe's stage into a run directory.

    Checkpoints, metrics, sample grids and the exported weights go there.
    """
    from disdiff_core import api

    run = api.train(recipe, out=out_dir, overrides=overrides, resume=resume,
                    continue_from=continue_from, progress=err.print)
    stopped = " (its time limit)" if run.time_limit_reached is not None else ""
    out.print(f"run {run.path}: {run.status} at step {run.step}{stopped}")
