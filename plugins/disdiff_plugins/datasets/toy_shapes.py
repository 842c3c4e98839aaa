"""A small procedural toy set: coloured shapes on black, for tests and CPU demos.

Factors (canonical order): shape (square, circle, triangle by default), hue (evenly spaced,
fully saturated), scale (0.6 … 1 of the largest), pos_x, pos_y (evenly spaced, the largest
shape always inside). The default grid is 3·4·2·6·6 = 864 RGB images of 32×32: every factor is
plainly visible and the whole set fits in a few MB, so an encoder can learn to separate the
factors in minutes on a CPU. Edges are antialiased with 4×4 samples per pixel.
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
from disdiff_plugins.datasets.render2d import hue_colours, rasterise

FACTOR_NAMES = ["shape", "hue", "scale", "pos_x", "pos_y"]
#: Half-size of the largest shape as a fraction of the image size.
HALF_SIZE = 0.2
SUPERSAMPLE = 4


class ToyShapes(GridDataset):
    """Renderer of the toy shapes grid."""

    name = "toy-shapes"
    needs_source = False
    factor_names = FACTOR_NAMES

    @property
    def factor_sizes(self) -> list[int]:
        p = self.params
        return [len(p.shapes), p.num_hues, p.num_scales, p.num_positions, p.num_positions]

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return (self.params.size, self.params.size, 3)

    def render(self, factors: np.ndarray) -> np.ndarray:
        """uint8 (B, size, size, 3) images of factor indices (B, 5)."""
        p = self.params
        size = p.size
        half_max = HALF_SIZE * size
        margin = half_max + 0.5
        positions = margin + np.linspace(0.0, 1.0, p.num_positions) * (size - 2.0 * margin)
        scales = np.linspace(0.6, 1.0, p.num_scales)
        ones = np.ones(len(factors))
        coverage = rasterise(
            p.shapes, factors[:, 0],
            centre_x=positions[factors[:, 3]], centre_y=positions[factors[:, 4]],
            half_size=half_max * scales[factors[:, 2]], cos=ones, sin=0.0 * ones,
            size=size, supersample=SUPERSAMPLE,
        )
        colours = hue_colours(p.num_hues)[factors[:, 1]]
        return np.rint(coverage[..., None] * colours[:, None, None, :] * 255.0).astype(np.uint8)

    def convert(self, source: Path | None, limit: int | None) -> Conversion:
        sizes = self.factor_sizes
        num = take(limit, int(np.prod(sizes)))

        def batches() -> Iterator[Batch]:
            for start in range(0, num, BATCH_IMAGES):
                factors = grid_factors(start, min(start + BATCH_IMAGES, num), sizes)
                yield self.render(factors), {"factors": factors}

        return Conversion(num, batches(), f"procedural: antialiased ({SUPERSAMPLE}×"
                          f"{SUPERSAMPLE} samples per pixel) coloured shapes on black")
