"""``disdiff import IMPORTER CHECKPOINT --config CONFIG --out DIR``: another codebase's checkpoint
as ordinary run folders (``DIR/first_stage``, ``DIR/backbone``, ``DIR/disdiff``, as the
checkpoint holds them), which every other command then works on."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from disdiff_cli.console import err, out, print_json
from disdiff_cli.options import key_values


def import_checkpoint(
    importer: Annotated[str, typer.Argument(
        help="importer plugin (`disdiff plugins list --kind importer`): reference = the DisDiff "
             "reference code and its latent-diffusion base")],
    checkpoint: Annotated[Path, typer.Argument(help="the checkpoint file")],
    out_dir: Annotated[Path, typer.Option("--out", help="folder for the imported runs")],
    config: Annotated[Path | None, typer.Option(
        help="the model config the checkpoint was trained with (the reference's YAML)")] = None,
    data: Annotated[str | None, typer.Option(
        help="dataset store the runs' recipes name (commands take --data to use another; "
             "default: data/imported.zarr)")] = None,
    option: Annotated[list[str] | None, typer.Option(
        "--option", help="importer option KEY=VALUE, e.g. use_ema=false (repeatable)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Import a checkpoint written by another codebase as disdiff runs."""
    from disdiff_core import api

    runs = api.import_checkpoint(
        checkpoint, out_dir, importer=importer, config=config,
        data_store=data or api.DEFAULT_IMPORT_STORE, params=key_values(option or [], "--option"),
        progress=lambda line: err.print(escape(line)))
    if as_json:
        print_json({stage: str(path) for stage, path in runs.items()})
        return
    for stage, path in runs.items():
        out.print(f"{stage}: {escape(str(path))}")
