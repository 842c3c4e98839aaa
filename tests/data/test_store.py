"""The store layout: written atomically, read back exactly, refused clearly when incomplete or
corrupt, and a correct ground truth for full grids and subsets."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import disdiff_core
from disdiff_core.data.store import StoreMetadata, create_store, open_store
from disdiff_core.errors import DataError

SIZES = [4, 5, 6]


def grid(sizes: list[int]) -> np.ndarray:
    return np.stack(np.unravel_index(np.arange(int(np.prod(sizes))), sizes), axis=1)


def write(path: Path, images: np.ndarray, factors: np.ndarray | None, *, batch: int = 37,
          **meta: object) -> None:
    metadata = StoreMetadata(name="test", factor_names=["a", "b", "c"] if factors is not None
                             else [], factor_sizes=SIZES if factors is not None else [], **meta)
    with create_store(path, metadata, num_images=len(images), image_shape=images.shape[1:],
                      chunk_images=32) as writer:
        for start in range(0, len(images), batch):
            labels = {} if factors is None else {"factors": factors[start : start + batch]}
            writer.write(images[start : start + batch], **labels)


@pytest.fixture
def images() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (120, 8, 8, 3), dtype=np.uint8)


def test_round_trip_layout_and_metadata(tmp_path: Path, images: np.ndarray) -> None:
    path = tmp_path / "s.zarr"
    write(path, images, grid(SIZES), preprocessing="none", source={"name": "f", "sha256": "0"})
    store = open_store(path)
    assert np.array_equal(store.read(0, 120), images)
    assert np.array_equal(store.factors, grid(SIZES))
    assert store.images.chunks == (32, 8, 8, 3)
    assert store.images.dtype == np.uint8
    assert store.attrs["complete"] is True
    assert store.attrs["toolkit_version"] == disdiff_core.__version__
    assert store.attrs["source"] == {"name": "f", "sha256": "0"}
    assert store.factor_names == ["a", "b", "c"] and store.factor_sizes == SIZES
    # random access in any order, with repeats
    rows = np.array([119, 3, 3, 64, 0])
    assert np.array_equal(store.read_rows(rows), images[rows])
    batches = list(store.iter_batches(50))
    assert [s for s, _ in batches] == [0, 50, 100]
    assert np.array_equal(np.concatenate([b for _, b in batches]), images)


def test_ground_truth_of_full_grid_and_of_a_shuffled_subset(tmp_path: Path,
                                                           images: np.ndarray) -> None:
    write(tmp_path / "full.zarr", images, grid(SIZES))
    truth = open_store(tmp_path / "full.zarr").ground_truth()
    assert truth.factor_sizes == SIZES and truth.is_complete
    wanted = np.array([[3, 4, 5], [0, 0, 1]])
    assert truth.rows_from_factors(wanted).tolist() == [119, 1]

    order = np.random.default_rng(1).permutation(120)[:90]
    write(tmp_path / "subset.zarr", images[order], grid(SIZES)[order])
    store = open_store(tmp_path / "subset.zarr")
    truth = store.ground_truth()
    assert not truth.is_complete
    present = grid(SIZES)[order[:5]]
    rows = truth.rows_from_factors(present)
    assert np.array_equal(store.read_rows(rows), images[order[:5]])
    missing = grid(SIZES)[np.setdiff1d(np.arange(120), order)[:1]]
    assert store.find_rows(np.concatenate([present, missing]))[-1] == -1


def test_failed_write_leaves_nothing(tmp_path: Path, images: np.ndarray, nothing_left) -> None:
    path = tmp_path / "s.zarr"
    metadata = StoreMetadata(name="test")
    with (pytest.raises(RuntimeError, match="interrupted"),
          create_store(path, metadata, num_images=120, image_shape=(8, 8, 3)) as writer):
        writer.write(images[:64])
        raise RuntimeError("interrupted")
    nothing_left(path)
    with (pytest.raises(DataError, match="64 images, 120 were expected"),
          create_store(path, metadata, num_images=120, image_shape=(8, 8, 3)) as writer):
        writer.write(images[:64])
    nothing_left(path)


def test_writer_rejects_bad_batches(tmp_path: Path, images: np.ndarray) -> None:
    metadata = StoreMetadata(name="t", factor_names=["a", "b", "c"], factor_sizes=SIZES)
    path = tmp_path / "s.zarr"
    with (pytest.raises(ValueError, match="outside the sizes"),
          create_store(path, metadata, num_images=2, image_shape=(8, 8, 3)) as writer):
        writer.write(images[:2], factors=np.array([[0, 0, 0], [4, 0, 0]]))
    with (pytest.raises(ValueError, match="takes labels"),
          create_store(path, metadata, num_images=2, image_shape=(8, 8, 3)) as writer):
        writer.write(images[:2])


def test_open_refuses_missing_foreign_incomplete_and_corrupt_stores(
    tmp_path: Path, images: np.ndarray
) -> None:
    with pytest.raises(DataError, match="no dataset store"):
        open_store(tmp_path / "absent.zarr")
    (tmp_path / "folder").mkdir()
    with pytest.raises(DataError, match="not a dataset store"):
        open_store(tmp_path / "folder")

    path = tmp_path / "s.zarr"
    write(path, images, grid(SIZES))
    meta_file = path / "zarr.json"
    meta = json.loads(meta_file.read_text())
    meta["attributes"]["complete"] = False
    meta_file.write_text(json.dumps(meta))
    with pytest.raises(DataError, match="incomplete"):
        open_store(path)

    write(path, images, grid(SIZES))
    chunk = sorted((path / "images").rglob("c/*/0/0/0"))[1]
    chunk.write_bytes(b"garbage")
    store = open_store(path)
    with pytest.raises(DataError, match="corrupt"):
        store.read(0, 120)
    chunk.unlink()
    with pytest.raises(DataError, match="1 of 4 image chunks are missing"):
        open_store(path)

    write(path, images, grid(SIZES))
    (path / "zarr.json").write_text("{not json")
    with pytest.raises(DataError, match="not a dataset store"):
        open_store(path)


def test_unlabelled_store_has_no_ground_truth(tmp_path: Path, images: np.ndarray) -> None:
    write(tmp_path / "s.zarr", images, None)
    store = open_store(tmp_path / "s.zarr")
    assert store.factors is None and store.attributes is None
    with pytest.raises(DataError, match="no ground-truth factors"):
        store.ground_truth()
