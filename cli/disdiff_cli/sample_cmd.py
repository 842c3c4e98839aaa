"""``disdiff sample RUN --mode generate|reconstruct|swap|traverse --out FILE.png``: figures.

Every mode writes one labelled grid (row labels on the left, column labels on top):

- generate: without ``--data``, ``--num`` samples of the pre-trained backbone; with it, pairs of
  rows "data" / "sample": fresh samples conditioned on the codes of ``--num`` data images.
- reconstruct: rows "input" / "reconstruction" (deterministic DDIM inversion under the image's
  own code, then η = 0 sampling: the image's identity is kept).
- swap: the source image (``--source`` row) and ``--num`` targets; row "factor k" shows the
  source with its code z_k taken from each target.
- traverse: row "factor k" moves z_k of the source along the principal direction of z_k over
  the codes of ``--pool`` data images (``--num`` steps within ±``--span`` standard deviations),
  or, with ``--to ROW``, interpolates z_k from the source to that image.

Data images are drawn at random (``--seed``) from the store; ``--steps`` overrides the run's
sampler steps. Edits always use DDIM (the run's sampler if it is DDIM).
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from disdiff_cli.console import out

if TYPE_CHECKING:
    import numpy as np

#: Images per grid row before a figure wraps onto more rows.
ROW_LENGTH = 8


class Mode(str, Enum):
    generate = "generate"
    reconstruct = "reconstruct"
    swap = "swap"
    traverse = "traverse"


def _wrapped(groups: list[tuple[str, np.ndarray]], ncols: int) -> tuple[list[np.ndarray], list[str]]:
    """Parallel image rows (label, (B, H, W, C)) cut into pieces of ``ncols``, interleaved."""
    rows, labels = [], []
    for start in range(0, len(groups[0][1]), ncols):
        for label, images in groups:
            rows.append(images[start:start + ncols])
            labels.append(label)
    return rows, labels


def paired_figure(groups: list[tuple[str, np.ndarray]]) -> np.ndarray:
    """Rows of images (one labelled row per group, wrapped every ROW_LENGTH images)."""
    from disdiff_core.images import labelled_grid

    ncols = min(ROW_LENGTH, len(groups[0][1]))
    rows, labels = _wrapped(groups, ncols)
    return labelled_grid(rows, labels, ncols=ncols)


def factor_figure(cells: np.ndarray, col_labels: list[str], *, first: np.ndarray | None = None,
                  header: tuple[str, np.ndarray] | None = None) -> np.ndarray:
    """Rows "factor k" of ``cells`` (N, C, H, W, 3); ``first``: an image shown in a leading
    column of every factor row; ``header``: a labelled row above them (under the edits)."""
    import numpy as np

    from disdiff_core.images import BACKGROUND, labelled_grid

    rows = [cells[k] for k in range(cells.shape[0])]
    labels = [f"factor {k}" for k in range(cells.shape[0])]
    if first is not None:
        rows = [np.concatenate([first[None], row]) for row in rows]
    if header is not None:
        blank = np.full_like(cells[0, :1], BACKGROUND)
        rows.insert(0, np.concatenate([blank, header[1]]) if first is not None else header[1])
        labels.insert(0, header[0])
    return labelled_grid(rows, labels, ncols=rows[-1].shape[0], col_labels=col_labels)


def sample(
    run: Annotated[Path, typer.Argument(help="a finished disdiff run directory")],
    mode: Annotated[Mode, typer.Option("--mode", "-m", help="which figure to draw")],
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
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="samples per loop")] = 64,
    device: Annotated[str | None, typer.Option(
        "--device", help="torch device (default: cuda when available)")] = None,
) -> None:
    """Draw samples, reconstructions, factor swaps or traversals of a trained run as a PNG."""
    import numpy as np
    import torch

    from disdiff_core import editing
    from disdiff_core.data.store import open_store
    from disdiff_core.errors import DataError
    from disdiff_core.images import save_png
    from disdiff_core.stages.load import (
        check_image_shape,
        encode_images,
        load_disdiff,
        read_run_recipe,
    )

    if mode is not Mode.generate and data is None:
        raise DataError(f"--mode {mode.value} edits real images: give --data STORE")
    store = open_store(data) if data is not None else None
    recipe = read_run_recipe(run)
    if store is not None:
        check_image_shape(recipe, store.image_shape, f"store {data}")
    model = load_disdiff(run, device)
    sampler = editing.build_sampler(recipe.sample.sampler, steps=steps,
                                    invertible=mode is not Mode.generate)
    generator = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)

    def pick(count: int) -> np.ndarray:
        assert store is not None
        rows = rng.choice(store.num_images, size=min(count, store.num_images), replace=False)
        return store.read_rows(np.sort(rows))

    def row(index: int | None) -> np.ndarray:
        assert store is not None
        if index is not None and index >= store.num_images:
            raise DataError(f"store {data} has {store.num_images} images; no row {index}")
        return store.read_rows(np.array([index])) if index is not None else pick(1)

    kwargs = {"batch_size": batch_size}
    if mode is Mode.generate:
        if store is None:
            figure = paired_figure([("sample", editing.generate(
                model, sampler, num, generator=generator, **kwargs))])
        else:
            images = pick(num)
            figure = paired_figure([("data", images), ("sample", editing.generate(
                model, sampler, images=images, generator=generator, **kwargs))])
    elif mode is Mode.reconstruct:
        images = pick(num)
        figure = paired_figure([("input", images), ("reconstruction", editing.reconstruct(
            model, sampler, images, **kwargs))])
    elif mode is Mode.swap:
        image, targets = row(source), pick(num)
        cells = editing.swap(model, sampler, image, targets, **kwargs)
        figure = factor_figure(cells, ["source", *(f"t{j}" for j in range(len(targets)))],
                               first=image[0], header=("target", targets))
    elif to is not None:
        image = row(source)
        cells = editing.interpolate(model, sampler, image, row(to), num, **kwargs)
        figure = factor_figure(cells, [f"{a:.2f}" for a in np.linspace(0, 1, num)])
    else:
        image = row(source)
        codes = encode_images(model, pick(pool), batch_size=batch_size)
        cells = editing.traverse(model, sampler, image, codes, num, span=span, **kwargs)
        figure = factor_figure(cells, ["source", *(f"{c:+.1f}" for c in
                                                   np.linspace(-span, span, num))],
                               first=image[0])
    save_png(out_path, figure)
    out.print(f"wrote {mode.value} figure {figure.shape[1]}×{figure.shape[0]} to {out_path}")
