"""Procedural dSprites: the dSprites factor grid rendered, for users without the file.

Factors (canonical order, as dSprites without its constant colour): shape 3 (square, ellipse,
heart), scale 6 (0.5 … 1), orientation 40 (0 … 2π inclusive, so the first and last coincide,
as in dSprites), pos_x 32 and pos_y 32 (0 … 1 across the image): 737280 grey 64×64 images,
white sprites on black stored as 0/255 like the converted dSprites. Binary images sampled at
pixel centres, as dSprites is binary.

``stride`` keeps every k-th value of some factors: a coarser grid over the same span, small
enough for a CPU (737 280 images are mostly near-duplicate positions and rotations).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from disdiff_plugins.datasets.base import (
    BATCH_IMAGES,
    Batch,
    Conversion,
    GridDataset,
    grid_factors,
    take,
)
from disdiff_plugins.datasets.render2d import rasterise, rotation_table
from disdiff_plugins.datasets.specs import DSPRITES_FACTORS

FACTOR_NAMES = list(DSPRITES_FACTORS)
FACTOR_SIZES = list(DSPRITES_FACTORS.values())
SHAPES = ["square", "ellipse", "heart"]
SCALES = np.linspace(0.5, 1.0, 6)
ORIENTATIONS = np.linspace(0.0, 2.0 * np.pi, 40)
POSITIONS = np.linspace(0.0, 1.0, 32)
#: Half-size of a sprite at scale 1, and the margin kept between the extreme centres and the
#: image border (the largest sprite, rotated, stays inside), both as fractions of the size.
HALF_SIZE = 0.16
MARGIN = 0.23


def render(factors: np.ndarray, size: int) -> np.ndarray:
    """uint8 (B, size, size, 1) images of factor indices (B, 5)."""
    cos, sin = rotation_table(ORIENTATIONS)
    span = size * (1.0 - 2.0 * MARGIN)
    coverage = rasterise(
        SHAPES, factors[:, 0],
        centre_x=size * MARGIN + POSITIONS[factors[:, 3]] * span,
        centre_y=size * MARGIN + POSITIONS[factors[:, 4]] * span,
        half_size=size * HALF_SIZE * SCALES[factors[:, 1]],
        cos=cos[factors[:, 2]], sin=sin[factors[:, 2]], size=size,
    )
    return (coverage * 255).astype(np.uint8)[..., None]


class SynthDSprites(GridDataset):
    """Renderer of the dSprites grid."""

    name = "synth-dsprites"
    needs_source = False
    factor_names = FACTOR_NAMES

    @property
    def strides(self) -> list[int]:
        return [self.params.stride.get(name, 1) for name in FACTOR_NAMES]

    @property
    def factor_sizes(self) -> list[int]:
        """Values kept per factor: every stride-th of the full grid's, from the first."""
        return [-(-size // step) for size, step in zip(FACTOR_SIZES, self.strides, strict=True)]

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return (self.params.size, self.params.size, 1)

    def convert(self, source: Path | None, limit: int | None) -> Conversion:
        sizes = self.factor_sizes
        num = take(limit, int(np.prod(sizes)))
        size = self.params.size
        strides = np.array(self.strides, dtype=np.int32)

        def batches() -> Iterator[Batch]:
            for start in range(0, num, BATCH_IMAGES):
                factors = grid_factors(start, min(start + BATCH_IMAGES, num), sizes)
                yield render(factors * strides, size), {"factors": factors}

        return Conversion(num, batches(), "procedural: binary sprites sampled at pixel "
                          "centres, white (255) on black, grey (H, W, 1)")
