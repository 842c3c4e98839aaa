"""Figures of a trained run (``disdiff sample``), each one labelled grid.

- generate: without ``data``, ``num`` samples of the pre-trained backbone; with it, pairs of
  rows "data" / "sample": fresh samples conditioned on the codes of ``num`` data images.
- reconstruct: rows "input" / "reconstruction" (deterministic DDIM inversion under the image's
  own code, then η = 0 sampling: the image's identity is kept).
- swap: the source image and ``num`` targets; row "factor k" shows the source with its code z_k
  taken from each target.
- Swaps and traversals start from the source's inversion (``start`` inverted) or from one fresh
  noise shared by the grid (``start`` noise); with noise, the first column is the source's own
  code sampled from that noise and the source image heads it.
- traverse: row "factor k" moves z_k of the source along the principal direction of z_k over
  the codes of ``pool`` data images (``num`` steps within ±``span`` standard deviations), or,
  with ``to``, interpolates z_k from the source to that store row.

Data images are drawn at random (``seed``) from the store; ``steps`` overrides the run's
sampler steps. Edits always use DDIM (the run's sampler if it is DDIM). The figure's samples
themselves (uint8, one per cell) are kept in the run's artifact store as
``samples-<mode>-step<N>`` (:mod:`disdiff_core.artifacts`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from disdiff_core import editing
from disdiff_core.app.results import EditStart, Figure, FigureMode, LoadedRun, Progress, silent
from disdiff_core.app.runs import load_run
from disdiff_core.artifacts import artifact_name, save_artifact
from disdiff_core.data.store import open_store
from disdiff_core.errors import DataError
from disdiff_core.images import BACKGROUND, labelled_grid, save_png
from disdiff_core.loading import check_image_shape, encode_images

#: Images per grid row before a figure wraps onto more rows.
ROW_LENGTH = 8


def _wrapped(groups: list[tuple[str, np.ndarray]],
             ncols: int) -> tuple[list[np.ndarray], list[str]]:
    """Parallel image rows (label, (B, H, W, C)) cut into pieces of ``ncols``, interleaved."""
    rows, labels = [], []
    for start in range(0, len(groups[0][1]), ncols):
        for label, images in groups:
            rows.append(images[start:start + ncols])
            labels.append(label)
    return rows, labels


def paired_figure(groups: list[tuple[str, np.ndarray]]) -> np.ndarray:
    """Rows of images (one labelled row per group, wrapped every ROW_LENGTH images)."""
    ncols = min(ROW_LENGTH, len(groups[0][1]))
    rows, labels = _wrapped(groups, ncols)
    return labelled_grid(rows, labels, ncols=ncols)


def factor_figure(cells: np.ndarray, col_labels: list[str], *, first: np.ndarray | None = None,
                  header: tuple[str, np.ndarray] | None = None,
                  header_first: np.ndarray | None = None) -> np.ndarray:
    """Rows "factor k" of ``cells`` (N, C, H, W, 3); ``first``: an image shown in a leading
    column of every factor row; ``header``: a labelled row above them (under the edits), led by
    ``header_first`` (or a blank) above the leading column."""
    rows = [cells[k] for k in range(cells.shape[0])]
    labels = [f"factor {k}" for k in range(cells.shape[0])]
    if first is not None:
        rows = [np.concatenate([first[None], row]) for row in rows]
    if header is not None:
        lead = (header_first[None] if header_first is not None
                else np.full_like(cells[0, :1], BACKGROUND))
        rows.insert(0, np.concatenate([lead, header[1]]) if first is not None else header[1])
        labels.insert(0, header[0])
    return labelled_grid(rows, labels, ncols=rows[-1].shape[0], col_labels=col_labels)


def _keep_samples(loaded: LoadedRun, mode: FigureMode, samples: np.ndarray,
                  attrs: dict[str, Any], progress: Progress) -> None:
    """Keep a figure's samples in the run's artifact store (``samples-<mode>-step<N>``). The
    figure itself does not depend on it: a run folder that cannot be written to (someone
    else's, read-only) gets a note instead of a failed command."""
    name = artifact_name(f"samples-{mode.value}", loaded.step)
    try:
        save_artifact(loaded.path, name, samples, attrs)
    except OSError as exc:
        progress(f"the samples were not kept in {loaded.path}/artifacts.zarr: {exc}")


def draw_figure(
    run: str | Path,
    mode: FigureMode | str,
    *,
    data: str | Path | None = None,
    out: str | Path | None = None,
    num: int = 8,
    steps: int | None = None,
    seed: int = 0,
    source: int | None = None,
    to: int | None = None,
    pool: int = 256,
    span: float = 2.0,
    start: EditStart | str = EditStart.inverted,
    batch_size: int = 64,
    device: str | None = None,
    progress: Progress = silent,
) -> Figure:
    """Draw one figure of a finished run (see the module docstring for the modes); ``out``:
    also save it as a PNG there."""
    mode = FigureMode(mode)
    if mode is not FigureMode.generate and data is None:
        raise DataError(f"--mode {mode.value} edits real images: give --data STORE")
    store = open_store(data) if data is not None else None
    loaded = load_run(run, device=device)
    if store is not None:
        check_image_shape(loaded.recipe, store.image_shape, f"store {data}")
    model = loaded.model
    sampler = editing.build_sampler(loaded.recipe.sample.sampler, steps=steps,
                                    invertible=mode is not FigureMode.generate)
    sampler_settings = {"sampler": type(sampler).__name__, "steps": steps}
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

    start = EditStart(start)
    kwargs = {"batch_size": batch_size}

    def grid_noise() -> torch.Generator:
        """A fresh generator of the grid's noise start: the edits and their unedited cell each
        take one, so both draw the same y_T."""
        return torch.Generator().manual_seed(seed)

    edit_kwargs = {**kwargs, "start": start.value, "generator": grid_noise()}

    def leading(edited: np.ndarray) -> dict[str, np.ndarray]:
        """The leading column of an edit grid: the source itself after an inversion; from
        noise, the source's code sampled from the grid's noise, under the source image."""
        if start is EditStart.inverted:
            return {"first": edited[0]}
        return {"first": editing.unedited(model, sampler, edited, start=start.value,
                                          generator=grid_noise())[0],
                "header_first": edited[0]}

    if mode is FigureMode.generate:
        if store is None:
            samples = editing.generate(model, sampler, num, generator=generator, **kwargs)
            image = paired_figure([("sample", samples)])
        else:
            images = pick(num)
            samples = editing.generate(model, sampler, images=images, generator=generator,
                                       **kwargs)
            image = paired_figure([("data", images), ("sample", samples)])
    elif mode is FigureMode.reconstruct:
        images = pick(num)
        samples = editing.reconstruct(model, sampler, images, **kwargs)
        image = paired_figure([("input", images), ("reconstruction", samples)])
    elif mode is FigureMode.swap:
        edited, targets = row(source), pick(num)
        samples = editing.swap(model, sampler, edited, targets, **edit_kwargs)
        image = factor_figure(samples, ["source", *(f"t{j}" for j in range(len(targets)))],
                              header=("target", targets), **leading(edited))
    elif to is not None:
        edited = row(source)
        samples = editing.interpolate(model, sampler, edited, row(to), num, **edit_kwargs)
        image = factor_figure(samples, [f"{a:.2f}" for a in np.linspace(0, 1, num)])
    else:
        edited = row(source)
        codes = encode_images(model, pick(pool), batch_size=batch_size)
        samples = editing.traverse(model, sampler, edited, codes, num, span=span,
                                   **edit_kwargs)
        image = factor_figure(samples, ["source", *(f"{c:+.1f}" for c in
                                                  np.linspace(-span, span, num))],
                              **leading(edited))
    _keep_samples(loaded, mode, samples, {
        "mode": mode.value, "seed": seed, "start": start.value, "data": str(data) if data else None,
        **sampler_settings, "figure": str(out) if out is not None else None},
        progress)
    if out is not None:
        save_png(out, image)
        progress(f"wrote {mode.value} figure {image.shape[1]}×{image.shape[0]} to {out}")
    return Figure(mode=mode.value, image=image, file=Path(out) if out is not None else None)
