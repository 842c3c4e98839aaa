"""DeepMind 3D Shapes (Burgess & Kim, 2018) from ``3dshapes.h5`` or an .npz of its images.

``3dshapes.h5`` holds ``images`` uint8 (480000, 64, 64, 3) and ``labels`` float64 (480000, 6)
with the factor VALUES (not indices). Indices are derived from the values, so a file holding a
subset of the grid, or holding it in another order, converts correctly (the store's ``factors``
say which combination each row is). Copies saved as .npz with only ``images`` must be the
whole grid in canonical order; their length is checked.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from disdiff_core.errors import DataError
from disdiff_plugins.datasets.base import (
    BATCH_IMAGES,
    Batch,
    Conversion,
    GridDataset,
    grid_factors,
    take,
)
from disdiff_plugins.datasets.sources import (
    check_length,
    check_rows,
    file_record,
    iter_npz_rows,
    open_npz,
    reading,
)

FACTOR_NAMES = ["floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation"]
FACTOR_SIZES = [10, 10, 10, 8, 4, 15]
#: The label value of every index of every factor, as 3dshapes.h5 stores them.
FACTOR_VALUES = [
    np.linspace(0.0, 1.0, 10, endpoint=False),
    np.linspace(0.0, 1.0, 10, endpoint=False),
    np.linspace(0.0, 1.0, 10, endpoint=False),
    np.linspace(0.75, 1.25, 8),
    np.arange(4, dtype=np.float64),
    np.linspace(-30.0, 30.0, 15),
]
IMAGE_SHAPE = (64, 64, 3)
NUM_IMAGES = 480000


def indices_from_values(
    values: np.ndarray, grids: Sequence[np.ndarray], names: Sequence[str], path: Path
) -> np.ndarray:
    """Factor indices (B, K) int32 of label values (B, K): the nearest grid value of each
    factor, which must lie within a quarter of the grid step (else a DataError naming the file,
    the factor and the value)."""
    indices = np.empty(values.shape, dtype=np.int32)
    for k, (grid, name) in enumerate(zip(grids, names, strict=True)):
        distance = np.abs(values[:, k, None] - grid[None, :])
        nearest = distance.argmin(axis=1)
        tolerance = 0.25 * float(np.diff(grid).min())
        off = distance[np.arange(len(values)), nearest] > tolerance
        if off.any():
            bad = float(values[np.argmax(off), k])
            raise DataError(f"{path}: label {bad!r} of factor {name!r} (column {k}) is not one "
                            f"of its {len(grid)} values {np.round(grid, 4).tolist()}")
        indices[:, k] = nearest
    return indices


class Shapes3D(GridDataset):
    """Reader of 3dshapes.h5 (labels → indices) or an .npz of images in canonical order."""

    name = "shapes3d"
    needs_source = True
    source_hint = "3dshapes.h5 (or an .npz with key 'images')"
    factor_names = FACTOR_NAMES
    factor_sizes = FACTOR_SIZES
    image_shape = IMAGE_SHAPE

    def convert(self, source: Path | None, limit: int | None) -> Conversion:
        assert source is not None
        suffix = source.suffix.lower()
        if suffix in (".h5", ".hdf5"):
            return self._from_h5(source, limit)
        if suffix == ".npz":
            return self._from_npz(source, limit)
        raise DataError(f"{source}: expected {self.source_hint}, not a {suffix or 'suffix-less'} file")

    def _from_h5(self, path: Path, limit: int | None) -> Conversion:
        import h5py

        with reading(path), h5py.File(path, "r") as f:
            missing = [k for k in ("images", "labels") if k not in f]
            if missing:
                raise DataError(f"{path} has no key {', '.join(map(repr, missing))} "
                                f"(its keys: {', '.join(f.keys()) or 'none'})")
            images, labels = f["images"], f["labels"]
            if images.shape[1:] != IMAGE_SHAPE or images.dtype != np.uint8:
                raise DataError(f"{path}: 'images' is {images.dtype} {images.shape}; expected "
                                "uint8 (N, 64, 64, 3)")
            if labels.shape != (images.shape[0], 6) or labels.dtype.kind != "f":
                raise DataError(f"{path}: 'labels' is {labels.dtype} {labels.shape}; expected "
                                f"float ({images.shape[0]}, 6) factor values")
            num = take(limit, images.shape[0])

        def batches() -> Iterator[Batch]:
            with reading(path), h5py.File(path, "r") as f:
                for start in range(0, num, BATCH_IMAGES):
                    stop = min(start + BATCH_IMAGES, num)
                    values = np.asarray(f["labels"][start:stop], dtype=np.float64)
                    factors = indices_from_values(values, FACTOR_VALUES, FACTOR_NAMES, path)
                    yield np.asarray(f["images"][start:stop]), {"factors": factors}

        return Conversion(num, batches(), "none (images as stored; factor indices from the "
                          "label values)", source=lambda: file_record(path))

    def _from_npz(self, path: Path, limit: int | None) -> Conversion:
        with open_npz(path) as npz:
            rows = npz.rows("images")
            check_rows(rows, tail=IMAGE_SHAPE, dtype="uint8", what="Shapes3D images")
            check_length(path, len(rows), {NUM_IMAGES: "the full Shapes3D grid"}, "images")
        num = take(limit, NUM_IMAGES)
        batches = (
            (images, {"factors": grid_factors(start, start + len(images), FACTOR_SIZES)})
            for start, images in iter_npz_rows(path, "images", num, BATCH_IMAGES)
        )
        return Conversion(num, batches, "none (images as stored, canonical order)",
                          source=lambda: file_record(path))
