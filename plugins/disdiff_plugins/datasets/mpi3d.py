"""MPI3D (Gondal et al., NeurIPS 2019): ``mpi3d_toy.npz``, ``mpi3d_realistic.npz``,
``mpi3d_real.npz``, each with ``images`` uint8 (1036800, 64, 64, 3) in canonical order.

The files carry no labels, so the factors follow from the row index and the length must be a
full grid: 1036800 = 6·6·2·3·3·40·40, or 460800 for the older toy release with 4 colours × 4
shapes. The variant is a parameter, checked against the file name when that names one, and
recorded in the store so every result can name it.
"""

from __future__ import annotations

import re
from pathlib import Path

from disdiff_core.errors import DataError
from disdiff_plugins.datasets.base import BATCH_IMAGES, Conversion, GridDataset, grid_factors, take
from disdiff_plugins.datasets.sources import (
    check_length,
    check_rows,
    file_record,
    iter_npz_rows,
    open_npz,
)

FACTOR_NAMES = ["object_color", "object_shape", "object_size", "camera_height",
                "background_color", "horizontal_axis", "vertical_axis"]
FACTOR_SIZES = [6, 6, 2, 3, 3, 40, 40]
#: The older toy release: 4 object colours × 4 object shapes.
OLD_TOY_FACTOR_SIZES = [4, 4, 2, 3, 3, 40, 40]
IMAGE_SHAPE = (64, 64, 3)
NUM_IMAGES = 1036800
OLD_TOY_NUM_IMAGES = 460800


class MPI3D(GridDataset):
    """Reader of an MPI3D .npz (factors from the canonical row order)."""

    name = "mpi3d"
    needs_source = True
    source_hint = "mpi3d_toy.npz, mpi3d_realistic.npz or mpi3d_real.npz"
    factor_names = FACTOR_NAMES
    factor_sizes = FACTOR_SIZES
    image_shape = IMAGE_SHAPE

    @property
    def variant(self) -> str:
        return str(self.params.variant)

    def convert(self, source: Path | None, limit: int | None) -> Conversion:
        assert source is not None
        path = source
        named = re.fullmatch(r"mpi3d_(toy|realistic|real)\b.*", path.name)
        if named and named.group(1) != self.variant:
            raise DataError(f"{path} is named as the {named.group(1)!r} variant but variant="
                            f"{self.variant!r} was asked for; set variant={named.group(1)}")
        lengths = {NUM_IMAGES: f"the {self.variant} grid 6×6×2×3×3×40×40"}
        if self.variant == "toy":
            lengths[OLD_TOY_NUM_IMAGES] = "the older toy grid 4×4×2×3×3×40×40"
        with open_npz(path) as npz:
            rows = npz.rows("images")
            check_rows(rows, tail=IMAGE_SHAPE, dtype="uint8", what="MPI3D images")
            check_length(path, len(rows), lengths, "images")
        sizes = FACTOR_SIZES if len(rows) == NUM_IMAGES else OLD_TOY_FACTOR_SIZES
        num = take(limit, len(rows))
        batches = (
            (images, {"factors": grid_factors(start, start + len(images), sizes)})
            for start, images in iter_npz_rows(path, "images", num, BATCH_IMAGES)
        )
        release = "older 4×4 toy release" if sizes is OLD_TOY_FACTOR_SIZES else "6×6 release"
        return Conversion(num, batches, "none (images as stored, canonical order)",
                          source=lambda: file_record(path), factor_sizes=sizes,
                          extra={"release": release})
