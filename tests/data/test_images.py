"""Image grid helpers: layout, labels, conversions, atomic PNG writing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from disdiff_core.images import from_signed_unit, labelled_grid, make_grid, save_png


def test_make_grid_layout() -> None:
    tiles = np.stack([np.full((4, 5, 1), i, np.uint8) for i in range(5)])
    grid = make_grid(tiles, 3, pad=1)
    assert grid.shape == (2 * 5 + 1, 3 * 6 + 1, 1)
    assert grid[1, 1, 0] == 0 and grid[1 + 5, 1 + 6, 0] == 4  # row 1, column 1 holds tile 4
    assert grid[6, 13, 0] == 255  # the missing sixth tile is background


def test_labelled_grid_draws_labels_and_pads_short_rows() -> None:
    rows = [np.zeros((3, 8, 8, 3), np.uint8), np.zeros((1, 8, 8, 1), np.uint8)]
    image = labelled_grid(rows, ["first", "second"], ncols=3, col_labels=["a", "b", "c"],
                          label_width=40, min_tile=1)
    assert image.shape == (14 + 2 * 10 + 2, 40 + 3 * 10 + 2, 3)
    assert (image[14:, :40] < 128).any()  # some label text
    assert (image[14 + 10 + 2 : 14 + 10 + 10, 40 + 12 :] == 255).all()  # padding of row 2
    with pytest.raises(ValueError, match="one label per row"):
        labelled_grid(rows, ["only one"], ncols=3)


def test_labelled_grid_enlarges_small_tiles_sharply() -> None:
    tile = np.zeros((1, 16, 16, 3), np.uint8)
    tile[0, 0, 0] = 200
    image = labelled_grid([tile], ["x"], ncols=1, label_width=10, pad=0, min_tile=48)
    assert image.shape == (48, 10 + 48, 3)
    assert (image[:3, 10:13] == 200).all() and (image[3:, 10:13] == 0).all()  # 3×3 block


def test_from_signed_unit_inverts_the_loader_scaling() -> None:
    pixels = np.arange(256, dtype=np.uint8).reshape(1, 16, 16, 1)
    signed = pixels.transpose(0, 3, 1, 2).astype(np.float32) / 127.5 - 1
    assert np.array_equal(from_signed_unit(signed), pixels)
    assert from_signed_unit(np.full((1, 3, 2, 2), 7.0)).max() == 255


def test_save_png_round_trip(tmp_path: Path) -> None:
    image = np.random.default_rng(0).integers(0, 256, (6, 7, 3), dtype=np.uint8)
    path = save_png(tmp_path / "sub" / "a.png", image)
    with Image.open(path) as loaded:
        assert np.array_equal(np.asarray(loaded), image)
    save_png(tmp_path / "g.png", image[..., :1])
    with Image.open(tmp_path / "g.png") as loaded:
        assert loaded.mode == "L"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.png", "sub"]
