"""``disdiff encode RUN --data STORE | --images PATH --out CODES``: a trained run's codes.

The codes z = E(x) are written as float32 (images, N, D), one row per image in the store's row
(canonical) order, or in file-name order for a folder of images, so ``disdiff eval-codes`` can
score them against the store (:func:`disdiff_core.api.encode`). Progress goes to stderr.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from disdiff_cli.console import err, out


def encode(
    run: Annotated[Path, typer.Argument(help="a finished disdiff run directory")],
    out_path: Annotated[Path, typer.Option("--out", "-o", help="codes file: .npy, .npz or .zarr")],
    data: Annotated[Path | None, typer.Option("--data", help="dataset store to encode")] = None,
    images: Annotated[Path | None, typer.Option(
        "--images", help="an image file or a folder of them (file-name order)")] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="images per pass")] = 256,
    device: Annotated[str | None, typer.Option(
        "--device", help="torch device (default: cuda when available)")] = None,
) -> None:
    """Encode images with a trained run: codes (images, N, D) in the source's order."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from disdiff_core import api

    columns = (BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress("[bold]encode[/]", *columns, console=err, transient=True) as progress:
        task = progress.add_task("encode", total=None)
        result = api.encode(run, data=data, images=images, out=out_path, batch_size=batch_size,
                            device=device, advance=lambda done, total: progress.update(
                                task, completed=done, total=total))
    rows, factors, dim = result.codes.shape
    out.print(f"wrote codes {rows}×{factors}×{dim} to {out_path}")
