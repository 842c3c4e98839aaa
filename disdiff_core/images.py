"""Image grids and PNG files: dataset previews, sample grids, traversals.

Everything here works on uint8 numpy arrays in (N, H, W, C) layout (C = 1 or 3), the layout of
the dataset stores, so that any producer (a store, a sampler's float tensor after
:func:`from_signed_unit`) can be shown the same way. Text labels are drawn with PIL's built-in
font, so no font file is needed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from disdiff_core.io import atomic_path

#: Background of grids (white) and colour of label text (black).
BACKGROUND = 255
TEXT_COLOUR = (0, 0, 0)


def from_signed_unit(images: np.ndarray) -> np.ndarray:
    """Float images in [-1, 1], (N, C, H, W) as models produce them → uint8 (N, H, W, C).

    Values outside [-1, 1] are clipped; x ↦ round((x + 1) · 127.5), the inverse of the loaders'
    x/127.5 − 1.
    """
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 4:
        raise ValueError(f"expected (N, C, H, W) images, got shape {images.shape}")
    scaled = np.rint((np.clip(images, -1.0, 1.0) + 1.0) * 127.5)
    return scaled.astype(np.uint8).transpose(0, 2, 3, 1)


def to_rgb(images: np.ndarray) -> np.ndarray:
    """(N, H, W, 1 or 3) uint8 → (N, H, W, 3) (grey images repeated over the channels)."""
    if images.shape[-1] == 3:
        return images
    if images.shape[-1] != 1:
        raise ValueError(f"expected 1 or 3 channels, got shape {images.shape}")
    return np.repeat(images, 3, axis=-1)


#: Smallest tile side of the grids people look at: smaller images are enlarged (see enlarge).
MIN_TILE = 48


def enlarge(images: np.ndarray, min_tile: int = MIN_TILE) -> np.ndarray:
    """(N, H, W, C) images enlarged by the smallest integer factor that makes their larger side
    at least ``min_tile`` pixels, nearest-neighbour (pixels stay sharp; 1: unchanged), so that
    16×16 images are legible in a figure."""
    scale = max(1, -(-min_tile // max(images.shape[1:3])))
    return images if scale == 1 else images.repeat(scale, axis=1).repeat(scale, axis=2)


def make_grid(
    images: np.ndarray, ncols: int, *, pad: int = 2, pad_value: int = BACKGROUND
) -> np.ndarray:
    """Tile (N, H, W, C) uint8 images row by row into one (H', W', C) image.

    Args:
        images: the tiles; an incomplete last row is left as background.
        ncols: tiles per row.
        pad: pixels of background around every tile.

    Returns:
        (rows·(H+pad)+pad, ncols·(W+pad)+pad, C) uint8 with rows = ceil(N / ncols).
    """
    images = np.asarray(images)
    if images.ndim != 4 or images.dtype != np.uint8:
        raise ValueError(f"expected uint8 (N, H, W, C) images, got {images.dtype} {images.shape}")
    n, h, w, c = images.shape
    ncols = max(1, min(ncols, n)) if n else max(1, ncols)
    nrows = max(1, -(-n // ncols))
    grid = np.full((nrows * (h + pad) + pad, ncols * (w + pad) + pad, c), pad_value, np.uint8)
    for i in range(n):
        top, left = pad + (i // ncols) * (h + pad), pad + (i % ncols) * (w + pad)
        grid[top : top + h, left : left + w] = images[i]
    return grid


def labelled_grid(
    rows: Sequence[np.ndarray],
    row_labels: Sequence[str],
    *,
    ncols: int,
    col_labels: Sequence[str] | None = None,
    label_width: int = 96,
    header_height: int = 14,
    pad: int = 2,
    min_tile: int = MIN_TILE,
) -> np.ndarray:
    """Rows of images with a text label left of each row (and optionally above each column).

    Tiles smaller than ``min_tile`` pixels are enlarged (:func:`enlarge`), so a grid of 16×16
    images is legible and its column labels fit.

    Args:
        rows: one (n_i, H, W, C) uint8 array per row, n_i ≤ ncols; all of the same H, W.
        row_labels: one label per row (e.g. the factor a traversal row varies).
        ncols: tiles per row; shorter rows are padded with background.
        col_labels: optional labels drawn above the columns.
        label_width: pixels reserved for the row labels.
        header_height: pixels reserved for column labels (only when ``col_labels``).
        min_tile: smallest tile side in pixels (1: never enlarge).

    Returns:
        RGB uint8 (header + len(rows)·(H'+pad)+pad, label_width + ncols·(W'+pad)+pad, 3) with
        H' = s·H, W' = s·W, s = ceil(min_tile / max(H, W)) (at least 1).
    """
    if len(rows) != len(row_labels):
        raise ValueError("one label per row is needed")
    if not rows:
        raise ValueError("no rows to draw")
    rows = [enlarge(row, min_tile) for row in rows]
    h, w = rows[0].shape[1:3]
    header = header_height if col_labels else 0
    row_h = h + pad
    canvas = np.full(
        (header + len(rows) * row_h + pad, label_width + ncols * (w + pad) + pad, 3),
        BACKGROUND,
        np.uint8,
    )
    for r, row in enumerate(rows):
        if row.shape[0] > ncols or row.shape[1:3] != (h, w):
            raise ValueError(f"row {r} has shape {row.shape}; expected at most {ncols} × {h}×{w}")
        top = header + r * row_h + pad
        for c, tile in enumerate(to_rgb(row)):
            left = label_width + pad + c * (w + pad)
            canvas[top : top + h, left : left + w] = tile
    image = Image.fromarray(canvas)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default()
    for r, label in enumerate(row_labels):
        top = header + r * row_h + pad
        label = _fit(label, font, label_width - 4)
        draw.text((2, top + max(0, (h - 10) // 2)), label, fill=TEXT_COLOUR, font=font)
    for c, label in enumerate(col_labels or ()):
        left = label_width + pad + c * (w + pad)
        draw.text((left, 1), _fit(label, font, w), fill=TEXT_COLOUR, font=font)
    return np.array(image)


def _fit(text: str, font: ImageFont.ImageFont | ImageFont.FreeTypeFont, width: int) -> str:
    """Shorten ``text`` with an ellipsis until it fits in ``width`` pixels."""
    if font.getlength(text) <= width:
        return text
    while text and font.getlength(text + "…") > width:
        text = text[:-1]
    return text + "…"


def save_png(path: str | Path, image: np.ndarray) -> Path:
    """Write a uint8 (H, W, 1 or 3) or (H, W) image as PNG atomically (temporary name, then
    rename), so a reader never sees half a file. Returns the path."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image, got {image.dtype}")
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    path = Path(path)
    with atomic_path(path) as tmp:
        Image.fromarray(image).save(tmp, format="PNG")
    return path
