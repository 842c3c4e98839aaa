"""Training loader: disjoint shares across ranks and workers, values in [-1, 1] NCHW, the same
stream for the same seed, endless by default; RAM and chunked reading alike."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from disdiff_core.data.loader import make_loader
from disdiff_core.data.store import open_store
from disdiff_core.errors import DataError
from disdiff_plugins.datasets.specs import SYNTH_DSPRITES, TOY_SHAPES

SIZES = [3, 4, 2, 6, 6]


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return TOY_SHAPES.build({"size": 16}).prepare(tmp_path_factory.mktemp("toy") / "toy.zarr")


def rows_seen(loader, check_images: bool = True) -> np.ndarray:
    """Row index (= canonical index on a full grid) of every image the loader yields."""
    rows = []
    for images, factors in loader:
        if check_images:
            assert images.dtype == torch.float32 and images.shape[1:] == (3, 16, 16)
            assert images.min() >= -1 and images.max() <= 1
        rows.append(np.ravel_multi_index(factors.numpy().T, SIZES))
    return np.concatenate(rows)


@pytest.mark.parametrize("in_memory", [True, False])
def test_ranks_read_disjoint_shares(toy: Path, in_memory: bool) -> None:
    shares = [rows_seen(make_loader(toy, batch_size=64, in_memory=in_memory, with_factors=True,
                                    rank=rank, world_size=2, epochs=1, shuffle_buffer=300))
              for rank in range(2)]
    assert not set(shares[0]) & set(shares[1])
    assert sorted(np.concatenate(shares)) == list(range(864))
    assert min(map(len, shares)) >= 300  # 864 = 4 chunks (256, 256, 256, 96) or rows


@pytest.mark.parametrize("in_memory", [True, False])
def test_workers_read_disjoint_shares(toy: Path, in_memory: bool) -> None:
    loader = make_loader(toy, batch_size=50, in_memory=in_memory, with_factors=True,
                         num_workers=2, epochs=1, shuffle_buffer=200, rank=1, world_size=2)
    mine = rows_seen(loader)
    other = rows_seen(make_loader(toy, batch_size=50, in_memory=in_memory, with_factors=True,
                                  num_workers=2, epochs=1, shuffle_buffer=200, rank=0,
                                  world_size=2))
    assert len(set(mine)) == len(mine) and not set(mine) & set(other)
    assert sorted(np.concatenate([mine, other])) == list(range(864))


def test_images_match_the_store(toy: Path) -> None:
    store = open_store(toy)
    images, factors = next(iter(make_loader(toy, batch_size=20, in_memory=False,
                                            with_factors=True)))
    rows = np.ravel_multi_index(factors.numpy().T, SIZES)
    expected = torch.from_numpy(store.read_rows(rows)).permute(0, 3, 1, 2).float() / 127.5 - 1
    assert torch.equal(images, expected)


@pytest.mark.parametrize("in_memory", [True, False])
def test_same_seed_same_stream_and_endless(toy: Path, in_memory: bool) -> None:
    def first(seed: int, count: int) -> list[np.ndarray]:
        loader = make_loader(toy, batch_size=100, seed=seed, in_memory=in_memory,
                             with_factors=True, shuffle_buffer=256)
        stream = iter(loader)
        return [np.ravel_multi_index(next(stream)[1].numpy().T, SIZES) for _ in range(count)]

    a, b, c = first(0, 20), first(0, 20), first(1, 20)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c, strict=True))
    seen = np.concatenate(a)  # 2000 images: more than two epochs of 864, all batches full
    assert len(seen) == 2000 and set(seen) == set(range(864))
    # each epoch is a permutation: within the first 864 images (RAM mode) no image repeats
    if in_memory:
        assert len(set(seen[:864])) == 864


def test_grey_stays_grey_unless_to_rgb(tmp_path: Path) -> None:
    path = SYNTH_DSPRITES.build({"size": 16}).prepare(tmp_path / "d.zarr", limit=300)
    grey = next(iter(make_loader(path, batch_size=8)))
    assert grey.shape == (8, 1, 16, 16) and set(grey.unique().tolist()) <= {-1.0, 1.0}
    rgb = next(iter(make_loader(path, batch_size=8, to_rgb=True)))
    assert rgb.shape == (8, 3, 16, 16) and torch.equal(rgb[:, 0], rgb[:, 2])


def test_loader_errors(tmp_path: Path, toy: Path) -> None:
    from PIL import Image

    from disdiff_plugins.datasets.specs import IMAGEFOLDER

    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(3):
        Image.new("RGB", (8, 8), (i, 0, 0)).save(folder / f"{i}.png")
    path = IMAGEFOLDER.build({"size": 8}).prepare(tmp_path / "f.zarr", source=folder)
    with pytest.raises(DataError, match="no factors"):
        make_loader(path, batch_size=2, with_factors=True)
    with pytest.raises(DataError, match="fewer than the 4 shards"):
        next(iter(make_loader(path, batch_size=2, rank=0, world_size=4)))
    with pytest.raises(DataError, match="no dataset store"):
        make_loader(tmp_path / "missing.zarr", batch_size=2)


def test_chunked_windows_mix_chunks(toy: Path) -> None:
    # 864 rows in chunks of 256: a window of two chunks mixes rows of both within a batch
    rows = rows_seen(make_loader(toy, batch_size=64, in_memory=False, with_factors=True,
                                 epochs=1, shuffle_buffer=512), check_images=False)
    assert sorted(rows) == list(range(864))
    assert len(set(rows[:64] // 256)) == 2
