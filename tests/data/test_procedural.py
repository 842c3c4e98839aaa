"""Procedural datasets: the stated factor grids, the same bytes for the same parameters, and
images in which each factor does what its name says."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from disdiff_core.data.store import open_store
from disdiff_plugins.datasets.specs import SYNTH_DSPRITES, SYNTH_SHAPES3D, TOY_SHAPES


def digest(images: np.ndarray) -> str:
    return hashlib.sha256(images.tobytes()).hexdigest()


def centroid_x(images: np.ndarray) -> np.ndarray:
    mass = images.astype(np.float64).sum(axis=-1)
    columns = np.arange(mass.shape[2])
    return (mass.sum(axis=1) * columns).sum(axis=1) / mass.sum(axis=(1, 2))


def test_toy_shapes_default_grid(tmp_path: Path, cli) -> None:
    out = tmp_path / "toy.zarr"
    result = cli("data", "prepare", "toy-shapes", "--out", out)
    assert result.exit_code == 0, result.output
    store = open_store(out)
    assert store.factor_names == ["shape", "hue", "scale", "pos_x", "pos_y"]
    assert store.factor_sizes == [3, 4, 2, 6, 6]
    assert store.num_images == 864 and store.image_shape == (32, 32, 3)
    images = store.read(0, 864)
    assert len({digest(im) for im in images}) == 864  # every combination looks different
    again = TOY_SHAPES.build({}).prepare(tmp_path / "again.zarr")
    assert digest(open_store(again).read(0, 864)) == digest(images)
    grid = images.reshape(3, 4, 2, 6, 6, 32, 32, 3)
    # hue changes colour, not coverage; pos_x moves the shape right
    assert np.array_equal(grid[1, 0, 1, 2, 3].max(-1) > 0, grid[1, 3, 1, 2, 3].max(-1) > 0)
    assert not np.array_equal(grid[1, 0, 1, 2, 3], grid[1, 3, 1, 2, 3])
    assert np.all(np.diff(centroid_x(grid[0, 0, 1, :, 2])) > 0)
    assert (grid[0, 0, 1].astype(int).sum() > grid[0, 0, 0].astype(int).sum())  # scale grows


def test_toy_shapes_parameters(tmp_path: Path, cli) -> None:
    out = tmp_path / "small.zarr"
    result = cli("data", "prepare", "toy-shapes", "--out", out, "--set", "size=16",
                 "--set", "shapes=[circle, square]", "--set", "num_positions=4",
                 "--set", "num_hues=3")
    assert result.exit_code == 0, result.output
    store = open_store(out)
    assert store.factor_sizes == [2, 3, 2, 4, 4] and store.image_shape == (16, 16, 3)
    result = cli("data", "prepare", "toy-shapes", "--out", out, "--force",
                 "--set", "shapes=[circle]")
    assert result.exit_code == 1 and "at least two distinct shapes" in result.output


def test_synth_dsprites_grid_and_determinism(tmp_path: Path) -> None:
    plugin = SYNTH_DSPRITES.build({})
    assert plugin.factor_sizes == [3, 6, 40, 32, 32] and plugin.image_shape == (64, 64, 1)
    assert int(np.prod(plugin.factor_sizes)) == 737280
    plugin.prepare(tmp_path / "a.zarr", limit=2100)
    store = open_store(tmp_path / "a.zarr")
    assert store.factor_sizes == [3, 6, 40, 32, 32] and store.num_images == 2100
    images = store.read(0, 2100)
    assert set(np.unique(images).tolist()) == {0, 255}
    SYNTH_DSPRITES.build({}).prepare(tmp_path / "b.zarr", limit=2100)
    assert digest(open_store(tmp_path / "b.zarr").read(0, 2100)) == digest(images)

    from disdiff_plugins.datasets.synth_dsprites import render

    def image(shape: int, scale: int, orientation: int, x: int, y: int) -> np.ndarray:
        return render(np.array([[shape, scale, orientation, x, y]]), 64)[0]

    assert np.array_equal(image(2, 5, 0, 10, 10), image(2, 5, 39, 10, 10))  # 0 and 2π
    assert not np.array_equal(image(2, 5, 0, 10, 10), image(2, 5, 10, 10, 10))
    row = render(np.array([[1, 3, 7, x, 16] for x in range(32)]), 64)
    assert np.all(np.diff(centroid_x(row)) > 0)
    areas = [image(0, s, 0, 16, 16).sum() for s in range(6)]
    assert np.all(np.diff(areas) > 0)
    assert len({digest(image(s, 5, 3, 16, 16)) for s in range(3)}) == 3


def test_synth_dsprites_stride_keeps_every_kth_value(tmp_path: Path) -> None:
    from disdiff_plugins.datasets.synth_dsprites import render

    plugin = SYNTH_DSPRITES.build({"size": 32, "stride": {"orientation": 4, "pos_x": 4,
                                                          "pos_y": 4}})
    assert plugin.factor_sizes == [3, 6, 10, 8, 8]
    plugin.prepare(tmp_path / "coarse.zarr")
    store = open_store(tmp_path / "coarse.zarr")
    assert store.factor_sizes == [3, 6, 10, 8, 8] and store.num_images == 11520
    factors = store.factors
    assert factors.max(axis=0).tolist() == [2, 5, 9, 7, 7]
    # row r shows the full grid's image at every index times its stride
    rows = [0, 1234, 11519]
    full = render(factors[rows] * np.array([1, 1, 4, 4, 4]), 32)
    assert np.array_equal(store.read_rows(np.array(rows)), full)
    assert SYNTH_DSPRITES.build({"stride": {"pos_x": 5}}).factor_sizes == [3, 6, 40, 7, 32]


@pytest.mark.parametrize(("stride", "message"), [({"colour": 2}, "unknown factor 'colour'"),
                                                 ({"shape": 3}, "from 1 to 2")])
def test_synth_dsprites_stride_is_checked(stride: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SYNTH_DSPRITES.build({"stride": stride})


@pytest.fixture(scope="module")
def shapes3d():
    return SYNTH_SHAPES3D.build({"size": 24, "supersample": 2})


def test_synth_shapes3d_grid_and_determinism(tmp_path: Path, shapes3d) -> None:
    assert shapes3d.factor_sizes == [10, 10, 10, 8, 4, 15]
    assert int(np.prod(shapes3d.factor_sizes)) == 480000
    assert SYNTH_SHAPES3D.build({}).image_shape == (64, 64, 3)
    shapes3d.prepare(tmp_path / "a.zarr", limit=1100)
    store = open_store(tmp_path / "a.zarr")
    assert store.num_images == 1100 and store.image_shape == (24, 24, 3)
    assert store.factor_sizes == [10, 10, 10, 8, 4, 15]
    fresh = SYNTH_SHAPES3D.build({"size": 24, "supersample": 2})
    fresh.prepare(tmp_path / "b.zarr", limit=1100)
    assert digest(open_store(tmp_path / "b.zarr").read(0, 1100)) == digest(store.read(0, 1100))


def test_synth_shapes3d_factors_act_where_they_should(shapes3d) -> None:
    def render(*factors: int) -> np.ndarray:
        return shapes3d.render(np.array([factors])).astype(int)[0]

    base = render(0, 3, 6, 4, 0, 7)
    floor = np.abs(render(5, 3, 6, 4, 0, 7) - base).sum(-1) > 0
    wall = np.abs(render(0, 8, 6, 4, 0, 7) - base).sum(-1) > 0
    obj = np.abs(render(0, 3, 1, 4, 0, 7) - base).sum(-1) > 0
    # the floor is below the wall, the object in the middle, and the regions barely overlap
    rows = np.arange(24)[:, None]
    assert (rows * floor).sum() / floor.sum() > (rows * wall).sum() / wall.sum()
    ys, xs = np.nonzero(obj)
    assert obj.sum() > 10 and 4 <= ys.min() and ys.max() <= 20 and 4 <= xs.min() <= xs.max() <= 19
    assert (floor & wall).sum() < 0.1 * min(floor.sum(), wall.sum())
    shapes = {hashlib.sha256(render(0, 3, 6, 4, s, 7).tobytes()).hexdigest() for s in range(4)}
    assert len(shapes) == 4
    assert render(0, 3, 6, 7, 2, 7).sum() != render(0, 3, 6, 0, 2, 7).sum()  # scale
    assert not np.array_equal(render(0, 3, 6, 4, 0, 0), render(0, 3, 6, 4, 0, 14))  # azimuth
