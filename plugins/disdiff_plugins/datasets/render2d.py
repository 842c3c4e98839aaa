"""Vectorised 2-D sprite rasterising for the procedural sprite datasets.

A sprite is a shape in its own frame, where it fits the square [-1, 1]², placed with a centre
(pixels), a half-size (pixels) and a rotation. For every sample point of every image at once the
point is mapped into the sprite's frame and tested against the shape, so a batch of B images is a
handful of numpy operations on (B, size·s, size·s) arrays. Coverage is the fraction of the s×s
sample points of a pixel inside the shape (s = 1: a binary image sampled at pixel centres).

Determinism: only float32 +, −, ×, and comparisons are applied to the sample points; the sines and cosines of the rotations are computed once per rotation and rounded to 12
decimals, so the same parameters give the same bytes on any machine.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

Inside = Callable[[np.ndarray, np.ndarray], np.ndarray]
_SQRT3 = np.sqrt(3.0)


def _heart(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    # (x² + y² − 1)³ ≤ x²·y³ with y pointing up, scaled and shifted to fill [-1, 1]².
    x, y = np.float32(1.15) * u, np.float32(0.1) - np.float32(1.15) * v
    w = x * x + y * y - 1
    return w * w * w <= x * x * y * y * y


#: Inside tests in the sprite frame (u to the right, v down, the shape within [-1, 1]²).
SHAPES: dict[str, Inside] = {
    "square": lambda u, v: np.maximum(np.abs(u), np.abs(v)) <= 1,
    "circle": lambda u, v: u * u + v * v <= 1,
    "ellipse": lambda u, v: u * u + 4 * v * v <= 1,
    # equilateral, pointing up, inscribed in the unit circle, centroid at the origin
    "triangle": lambda u, v: (v <= 0.5) & (np.float32(_SQRT3) * np.abs(u) - v <= 1.0),
    "heart": _heart,
}


def rotation_table(angles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(cos, sin) of ``angles`` (radians) rounded to 12 decimals (see the module docstring)."""
    return np.round(np.cos(angles), 12), np.round(np.sin(angles), 12)


def rasterise(
    shapes: Sequence[str],
    shape_index: np.ndarray,
    centre_x: np.ndarray,
    centre_y: np.ndarray,
    half_size: np.ndarray,
    cos: np.ndarray,
    sin: np.ndarray,
    *,
    size: int,
    supersample: int = 1,
) -> np.ndarray:
    """Coverage of B sprites, float32 (B, size, size) in [0, 1].

    Args:
        shapes: names of the shapes (keys of :data:`SHAPES`) that ``shape_index`` indexes.
        shape_index: (B,) which shape each image shows.
        centre_x, centre_y: (B,) sprite centres in pixels (0 = left/top edge of the image).
        half_size: (B,) half the side of the sprite's [-1, 1]² box, in pixels.
        cos, sin: (B,) rotation of each sprite (counter-clockwise on screen).
        size: image height and width.
        supersample: sample points per pixel along each axis.
    """
    s = supersample
    grid = ((np.arange(size * s, dtype=np.float64) + 0.5) / s).astype(np.float32)
    centre_x, centre_y = np.float32(centre_x), np.float32(centre_y)
    cos, sin, inverse = np.float32(cos), np.float32(sin), np.float32(1.0 / np.asarray(half_size))
    coverage = np.zeros((len(shape_index), size, size), np.float32)
    for k, name in enumerate(shapes):
        rows = np.flatnonzero(shape_index == k)
        if not rows.size:
            continue
        dx = grid[None, None, :] - centre_x[rows, None, None]
        dy = grid[None, :, None] - centre_y[rows, None, None]
        c, sn, r = cos[rows, None, None], sin[rows, None, None], inverse[rows, None, None]
        # screen y points down, so a counter-clockwise turn on screen is (dx, dy) ↦ R(−θ)
        u = (c * dx - sn * dy) * r
        v = (sn * dx + c * dy) * r
        inside = SHAPES[name](u, v)
        if s > 1:
            coverage[rows] = inside.reshape(len(rows), size, s, size, s).sum(axis=(2, 4),
                                                                            dtype=np.float32)
            coverage[rows] /= s * s
        else:
            coverage[rows] = inside
    return coverage


def hue_colours(num: int) -> np.ndarray:
    """(num, 3) float RGB of ``num`` fully saturated hues evenly spaced from red."""
    h = np.arange(num, dtype=np.float64) / num
    return hsv_to_rgb(h, np.ones(num), np.ones(num))


def hsv_to_rgb(h: np.ndarray, s: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Vectorised HSV → RGB (all in [0, 1]), as colorsys.hsv_to_rgb. Returns (..., 3)."""
    i = np.floor(h * 6.0)
    f = h * 6.0 - i
    p, q, t = v * (1.0 - s), v * (1.0 - s * f), v * (1.0 - s * (1.0 - f))
    i = i.astype(np.int64) % 6
    choices = [np.stack(c, axis=-1) for c in
               ((v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q))]
    return np.choose(i[..., None], choices)
