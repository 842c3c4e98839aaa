"""``disdiff sample RUN --mode generate|reconstruct|swap|traverse --out FILE.png``: figures.

Every mode writes one labelled grid (row labels on the left, column labels on top); the modes
are described in :mod:`disdiff_core.app.figures` (:func:`disdiff_core.api.draw_figure`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from disdiff_cli.console import dim_progress
from disdiff_core.app.results import EditStart, FigureMode


def sample(
    run: Annotated[Path, typer.Argument(help="a finished disdiff run directory")],
    mode: Annotated[FigureMode, typer.Option("--mode", "-m", help="which figure to draw")],
    out_path: Annotated[Path, typer.Option("--out", "-o", help="PNG file to write")],
    data: Annotated[Path | None, typer.Option(
        "--data", help="dataset store of the images to condition on or edit")] = None,
    num: Annotated[int, typer.Option(
        "--num", "-n", min=1,
        help="samples, images to reconstruct, swap targets or traversal steps")] = 8,
    steps: Annotated[int | None, typer.Option(
        "--steps", min=1, help="sampler steps (default: the run's sample.sampler)")] = None,
    seed: Annotated[int, typer.Option("--seed", help="seed of the noise and the image choice")] = 0,
    source: Annotated[int | None, typer.Option(
        "--source", min=0, help="store row of the image to edit (default: a random one)")] = None,
    to: Annotated[int | None, typer.Option(
        "--to", min=0, help="traverse: interpolate towards this store row instead")] = None,
    pool: Annotated[int, typer.Option(
        "--pool", min=2, help="traverse: data images whose codes give the directions")] = 256,
    span: Annotated[float, typer.Option(
        "--span", min=0.0, help="traverse: standard deviations each way")] = 2.0,
    start: Annotated[EditStart, typer.Option(
        "--start", help="swap/traverse: sample from the source's inversion (keeps its identity) "
        "or from one fresh noise for the grid (shows what the codes alone control)")
    ] = EditStart.inverted,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="samples per loop")] = 64,
    device: Annotated[str | None, typer.Option(
        "--device", help="torch device (default: cuda when available)")] = None,
) -> None:
    """Draw samples, reconstructions, factor swaps or traversals of a trained run as a PNG."""
    from disdiff_core import api

    # draw_figure reports what it wrote (and anything it could not keep) through progress
    api.draw_figure(run, mode, data=data, out=out_path, num=num, steps=steps, seed=seed,
                    source=source, to=to, pool=pool, span=span, start=start,
                    batch_size=batch_size, device=device, progress=dim_progress)
