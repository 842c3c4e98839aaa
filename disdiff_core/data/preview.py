"""A labelled preview of a dataset store: random images, then one row per factor in which only
that factor varies (the others fixed at those of a random image), so a glance shows whether
each factor does what its name says."""

from __future__ import annotations

import numpy as np

from disdiff_core.data.store import Store
from disdiff_core.images import labelled_grid


def factor_traversals(
    store: Store, rng: np.random.Generator, columns: int
) -> tuple[list[np.ndarray], list[str]]:
    """One row of rows per factor: a random image's factors with factor k set to ``columns``
    evenly spaced values (all values when it has fewer). Combinations the store lacks are
    left out. Returns (row indices per factor, labels "name (size)")."""
    assert store.factors is not None
    base = store.factors[rng.integers(store.num_images)]
    rows, labels = [], []
    for k, (name, size) in enumerate(zip(store.factor_names, store.factor_sizes, strict=True)):
        values = np.unique(np.linspace(0, size - 1, min(size, columns)).round().astype(np.int64))
        wanted = np.repeat(base[None], len(values), axis=0)
        wanted[:, k] = values
        found = store.find_rows(wanted)
        rows.append(found[found >= 0])
        labels.append(f"{name} ({size})")
    return rows, labels


def preview_grid(store: Store, *, seed: int = 0, columns: int = 10, random_rows: int = 2,
                 zoom: int = 1) -> np.ndarray:
    """RGB uint8 preview image of a store (see the module docstring).

    Args:
        seed: chooses the random images and the traversals' fixed factors.
        columns: images per row (a factor with more values shows this many, evenly spaced).
        random_rows: rows of random images at the top.
        zoom: integer upscaling of every image (nearest neighbour), for small images.
    """
    rng = np.random.default_rng(seed)
    count = min(store.num_images, columns * random_rows)
    picked = np.sort(rng.choice(store.num_images, size=count, replace=False))
    row_indices = [picked[i : i + columns] for i in range(0, count, columns)]
    labels = ["random"] * len(row_indices)
    if store.factors is not None:
        traversal_rows, traversal_labels = factor_traversals(store, rng, columns)
        row_indices += traversal_rows
        labels += traversal_labels
    images = [store.read_rows(rows) for rows in row_indices]
    if zoom > 1:
        images = [im.repeat(zoom, axis=1).repeat(zoom, axis=2) for im in images]
    return labelled_grid(images, labels, ncols=columns, min_tile=1)  # --zoom decides
