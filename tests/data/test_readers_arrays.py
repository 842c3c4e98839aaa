"""Readers of the array files: Shapes3D (.h5, .npz), dSprites (.npz), MPI3D (.npz), converted
through the CLI and checked byte for byte and factor by factor against the source."""

from __future__ import annotations

import hashlib
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest
from source_formats import (
    SHAPES3D_SIZES,
    random_images,
    write_dsprites_npz,
    write_partial_npz,
    write_shapes3d_h5,
)

from disdiff_core.data.store import open_store


def all_factors(sizes: list[int]) -> np.ndarray:
    return np.stack(np.unravel_index(np.arange(int(np.prod(sizes))), sizes), axis=1)


def test_shapes3d_h5_subset_in_any_order(tmp_path: Path, cli) -> None:
    rng = np.random.default_rng(0)
    rows = rng.choice(int(np.prod(SHAPES3D_SIZES)), size=600, replace=False)  # shuffled subset
    factors = all_factors(SHAPES3D_SIZES)[rows]
    source = tmp_path / "3dshapes.h5"
    images = write_shapes3d_h5(source, factors, rng)
    out = tmp_path / "shapes3d.zarr"
    result = cli("data", "prepare", "shapes3d", "--source", source, "--out", out)
    assert result.exit_code == 0, result.output
    store = open_store(out)
    assert np.array_equal(store.read(0, store.num_images), images)
    assert np.array_equal(store.factors, factors)
    assert store.factor_names == ["floor_hue", "wall_hue", "object_hue", "scale", "shape",
                                  "orientation"]
    assert store.attrs["source"]["sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()
    assert store.attrs["source"]["name"] == "3dshapes.h5"
    truth = store.ground_truth()
    assert np.array_equal(truth.rows_from_factors(factors[[7, 500]]), [7, 500])


def test_shapes3d_h5_errors_leave_no_store(tmp_path: Path, cli, nothing_left) -> None:
    import h5py

    rng = np.random.default_rng(1)
    out = tmp_path / "s.zarr"
    good = tmp_path / "3dshapes.h5"
    write_shapes3d_h5(good, all_factors(SHAPES3D_SIZES)[:300], rng)

    cases = {}
    with h5py.File(tmp_path / "nolabels.h5", "w") as f:
        f.create_dataset("images", data=np.zeros((4, 64, 64, 3), np.uint8))
    cases["nolabels.h5"] = "no key 'labels'"
    with h5py.File(tmp_path / "shape.h5", "w") as f:
        f.create_dataset("images", data=np.zeros((4, 32, 32, 3), np.uint8))
        f.create_dataset("labels", data=np.zeros((4, 6)))
    cases["shape.h5"] = r"expected uint8 \(N, 64, 64, 3\)"
    with h5py.File(tmp_path / "values.h5", "w") as f:
        f.create_dataset("images", data=np.zeros((2, 64, 64, 3), np.uint8))
        f.create_dataset("labels", data=np.array([[0.1, 0.2, 0.3, 0.75, 1, 0], [0.1, 0.2, 0.3,
                                                                                0.8, 1, 0]]))
    cases["values.h5"] = "label 0.8 of factor 'scale'"
    truncated = tmp_path / "truncated.h5"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    cases["truncated.h5"] = "cannot read .*truncated.h5"
    for name, message in cases.items():
        result = cli("data", "prepare", "shapes3d", "--source", tmp_path / name, "--out", out)
        assert result.exit_code == 1, (name, result.output)
        assert name in result.output and "Traceback" not in result.output
        assert re.search(message, " ".join(result.output.split())), (name, result.output)
        nothing_left(out)


def test_shapes3d_npz_full_grid_with_limit_and_truncation(tmp_path: Path, cli,
                                                          nothing_left) -> None:
    rng = np.random.default_rng(2)
    images = random_images(rng, 700, (64, 64, 3))
    source = tmp_path / "shapes3d.npz"
    write_partial_npz(source, "images", (480000, 64, 64, 3), images)
    out = tmp_path / "s.zarr"
    result = cli("data", "prepare", "shapes3d", "--source", source, "--out", out, "--limit", 700)
    assert result.exit_code == 0, result.output
    store = open_store(out)
    assert np.array_equal(store.read(0, 700), images)
    assert np.array_equal(store.factors, all_factors(SHAPES3D_SIZES)[:700])
    # without a limit the file is truncated (its header announces the whole grid)
    other = tmp_path / "t.zarr"
    result = cli("data", "prepare", "shapes3d", "--source", source, "--out", other)
    assert result.exit_code == 1 and "truncated" in result.output
    nothing_left(other)
    # an images-only file must hold the whole grid
    write_partial_npz(tmp_path / "short.npz", "images", (1000, 64, 64, 3), images[:0])
    result = cli("data", "prepare", "shapes3d", "--source", tmp_path / "short.npz", "--out", other)
    assert result.exit_code == 1 and "holds 1000 images" in " ".join(result.output.split())
    nothing_left(other)
    np.savez(tmp_path / "wrongkey.npz", imgs=images[:2])
    result = cli("data", "prepare", "shapes3d", "--source", tmp_path / "wrongkey.npz", "--out",
                 other)
    assert result.exit_code == 1 and "no key 'images'" in result.output
    cut = tmp_path / "cut.npz"
    cut.write_bytes(source.read_bytes()[:5000])
    result = cli("data", "prepare", "shapes3d", "--source", cut, "--out", other, "--limit", 5)
    assert result.exit_code == 1 and "cut.npz" in result.output
    nothing_left(other)


def test_dsprites_npz(tmp_path: Path, cli, nothing_left) -> None:
    rng = np.random.default_rng(3)
    sizes = [3, 6, 40, 32, 32]
    rows = rng.choice(int(np.prod(sizes)), size=1100, replace=False)
    factors = all_factors(sizes)[rows]
    latents = np.concatenate([np.zeros((1100, 1), np.int64), factors], axis=1)
    source = tmp_path / "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"
    imgs = write_dsprites_npz(source, latents, rng)
    out = tmp_path / "d.zarr"
    result = cli("data", "prepare", "dsprites", "--source", source, "--out", out)
    assert result.exit_code == 0, result.output
    store = open_store(out)
    assert store.image_shape == (64, 64, 1)
    assert np.array_equal(store.read(0, 1100)[..., 0], imgs * 255)
    assert np.array_equal(store.factors, factors)
    assert store.factor_names == ["shape", "scale", "orientation", "pos_x", "pos_y"]
    assert store.factor_sizes == sizes

    bad = tmp_path / "bad.npz"
    write_dsprites_npz(bad, latents[:10], rng, metadata_sizes=[1, 3, 6, 40, 32, 16])
    result = cli("data", "prepare", "dsprites", "--source", bad, "--out", tmp_path / "b.zarr")
    assert result.exit_code == 1 and "latents_sizes" in result.output
    nothing_left(tmp_path / "b.zarr")
    latents[5, 4] = 40
    write_dsprites_npz(bad, latents[:10], rng)
    result = cli("data", "prepare", "dsprites", "--source", bad, "--out", tmp_path / "b.zarr")
    assert result.exit_code == 1 and "latents_classes[5, 4] = 40" in result.output
    nothing_left(tmp_path / "b.zarr")


def test_dsprites_corrupt_metadata_names_the_file(tmp_path: Path, cli, nothing_left) -> None:
    """A 'metadata' member whose pickle is damaged (the zip itself intact) is a corrupt file:
    one clear error naming it, not an internal error."""
    rng = np.random.default_rng(5)
    good = tmp_path / "good.npz"
    write_dsprites_npz(good, np.zeros((4, 6), np.int64), rng)
    bad = tmp_path / "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"
    with zipfile.ZipFile(good) as source, zipfile.ZipFile(bad, "w") as target:
        for name in source.namelist():
            data = source.read(name)
            if name == "metadata.npy":  # keep the .npy header, damage the pickle after it
                header = 10 + int.from_bytes(data[8:10], "little")
                data = data[:header] + b"\x80\x02 not a pickle"
            target.writestr(name, data)
    out = tmp_path / "d.zarr"
    result = cli("data", "prepare", "dsprites", "--source", bad, "--out", out)
    output = " ".join(result.output.split())
    assert result.exit_code == 1, output
    assert f"cannot read {bad}" in output and "UnpicklingError" in output, output
    nothing_left(out)


@pytest.mark.parametrize("length,variant,sizes", [
    (1036800, "realistic", [6, 6, 2, 3, 3, 40, 40]),
    (460800, "toy", [4, 4, 2, 3, 3, 40, 40]),
])
def test_mpi3d_npz(tmp_path: Path, cli, length: int, variant: str, sizes: list[int]) -> None:
    rng = np.random.default_rng(4)
    images = random_images(rng, 700, (64, 64, 3))
    source = tmp_path / f"mpi3d_{variant}.npz"
    write_partial_npz(source, "images", (length, 64, 64, 3), images, compress=False)
    out = tmp_path / "m.zarr"
    result = cli("data", "prepare", "mpi3d", "--source", source, "--out", out,
                 "--set", f"variant={variant}", "--limit", 700)
    assert result.exit_code == 0, result.output
    store = open_store(out)
    assert store.variant == variant
    assert store.factor_sizes == sizes
    assert np.array_equal(store.read(0, 700), images)
    assert np.array_equal(store.factors, all_factors(sizes)[:700])


def test_mpi3d_refuses_mismatches(tmp_path: Path, cli, nothing_left) -> None:
    images = np.zeros((2, 64, 64, 3), np.uint8)
    out = tmp_path / "m.zarr"
    write_partial_npz(tmp_path / "mpi3d_real.npz", "images", (1036800, 64, 64, 3), images)
    result = cli("data", "prepare", "mpi3d", "--source", tmp_path / "mpi3d_real.npz", "--out", out)
    assert result.exit_code == 1 and "set variant=real" in result.output
    write_partial_npz(tmp_path / "mpi3d_real.npz", "images", (460800, 64, 64, 3), images)
    result = cli("data", "prepare", "mpi3d", "--source", tmp_path / "mpi3d_real.npz", "--out", out,
                 "--set", "variant=real")
    assert result.exit_code == 1 and "holds 460800 images" in " ".join(result.output.split())
    write_partial_npz(tmp_path / "other.npz", "images", (5000, 64, 64, 3), images)
    result = cli("data", "prepare", "mpi3d", "--source", tmp_path / "other.npz", "--out", out)
    assert result.exit_code == 1 and "1036800" in result.output
    nothing_left(out)
