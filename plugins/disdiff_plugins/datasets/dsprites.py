"""DeepMind dSprites (Matthey et al., 2017) from ``dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz``.

The file holds ``imgs`` uint8 (737280, 64, 64) of 0/1 pixels, ``latents_classes`` int64
(737280, 6) and a pickled ``metadata`` dict (Python 2 pickle: ``encoding="latin1"``) whose
``latents_sizes`` is [1, 3, 6, 40, 32, 32]. The store holds the images as grey (H, W, 1) with
pixels 0/255, and the factor indices from ``latents_classes`` without the constant colour
column.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from disdiff_core.errors import DataError
from disdiff_plugins.datasets.base import BATCH_IMAGES, Batch, Conversion, GridDataset, take
from disdiff_plugins.datasets.sources import check_rows, file_record, open_npz

LATENT_NAMES = ["color", "shape", "scale", "orientation", "pos_x", "pos_y"]
LATENT_SIZES = [1, 3, 6, 40, 32, 32]
FACTOR_NAMES = LATENT_NAMES[1:]
FACTOR_SIZES = LATENT_SIZES[1:]
IMAGE_SHAPE = (64, 64, 1)


class DSprites(GridDataset):
    """Reader of the dSprites .npz (factor indices from ``latents_classes``)."""

    name = "dsprites"
    needs_source = True
    source_hint = "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"
    factor_names = FACTOR_NAMES
    factor_sizes = FACTOR_SIZES
    image_shape = IMAGE_SHAPE

    def convert(self, source: Path | None, limit: int | None) -> Conversion:
        assert source is not None
        path = source
        with open_npz(path) as npz:
            npz.require("imgs", "latents_classes")
            if "metadata" in npz.keys:
                self._check_metadata(path, npz.pickled("metadata"))
            images = npz.rows("imgs")
            check_rows(images, tail=IMAGE_SHAPE[:2], dtype="uint8", what="dSprites images")
            classes = npz.rows("latents_classes")
            if classes.shape != (len(images), len(LATENT_SIZES)) or classes.dtype.kind not in "iu":
                raise DataError(f"{path}: 'latents_classes' is {classes.dtype} {classes.shape}; "
                                f"expected integers ({len(images)}, 6)")
            num = take(limit, len(images))
            latents = classes.read(num).astype(np.int64)
        if (latents[:, 0] != 0).any():
            raise DataError(f"{path}: the colour latent is not constant (expected all 0)")
        out_of_range = (latents < 0) | (latents >= np.asarray(LATENT_SIZES))
        if out_of_range.any():
            row, col = np.argwhere(out_of_range)[0]
            raise DataError(f"{path}: latents_classes[{row}, {col}] = {latents[row, col]} is "
                            f"outside 0..{LATENT_SIZES[col] - 1} ({LATENT_NAMES[col]})")
        factors = latents[:, 1:].astype(np.int32)

        def batches() -> Iterator[Batch]:
            with open_npz(path) as npz:
                start = 0
                for block in npz.rows("imgs").iter_blocks(BATCH_IMAGES, num):
                    if block.max(initial=0) > 1:
                        raise DataError(f"{path}: 'imgs' rows {start}..{start + len(block) - 1} "
                                        "hold values above 1; dSprites pixels are 0/1")
                    images = (block * np.uint8(255))[..., None]
                    yield images, {"factors": factors[start : start + len(block)]}
                    start += len(block)

        return Conversion(num, batches(), "pixels 0/1 mapped to 0/255, stored grey (H, W, 1); "
                          "constant colour latent dropped", source=lambda: file_record(path))

    @staticmethod
    def _check_metadata(path: Path, metadata: object) -> None:
        sizes = metadata.get("latents_sizes") if isinstance(metadata, dict) else None
        if sizes is None:
            raise DataError(f"{path}: 'metadata' is not the dSprites metadata dict")
        if [int(s) for s in np.asarray(sizes).ravel()] != LATENT_SIZES:
            raise DataError(f"{path}: metadata latents_sizes {np.asarray(sizes).tolist()} are not "
                            f"dSprites' {LATENT_SIZES}")
