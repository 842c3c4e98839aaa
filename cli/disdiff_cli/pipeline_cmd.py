"""``disdiff pipeline shapes3d`` (or ``RECIPE…``): train the stages in order, each into its
default run directory, reusing a stage already finished with the same recipe."""

from __future__ import annotations

from typing import Annotated

import typer

from disdiff_cli.console import err, out
from disdiff_cli.train_cmd import SetOpt


def pipeline(
    recipes: Annotated[list[str], typer.Argument(
        help="a recipe folder (shipped, e.g. shapes3d, or a path: its stages in order), "
        "or recipes to run in the order given")],
    overrides: SetOpt = [],  # noqa: B006 - typer reads it
) -> None:
    """Train stages in order (first stage → backbone → DisDiff), reusing finished ones.

    Unfinished runs resume; a finished run of another recipe is refused; --set applies to all.
    """
    from disdiff_core import api

    runs = api.pipeline(recipes, overrides=overrides, progress=err.print)
    for run in runs:
        out.print(f"{run.stage:<12} {run.path}: {run.status} at step {run.step}")
