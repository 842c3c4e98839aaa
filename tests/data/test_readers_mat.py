"""Readers of the MATLAB-era files: Cars3D (.mat v5 per car) and SmallNORB (binary matrices),
checked against the source images resized independently with PIL."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from source_formats import write_car, write_norb_matrix, write_norb_set

from disdiff_core.data.store import open_store


def pil_resize(image: np.ndarray, size: int, resample: Image.Resampling) -> np.ndarray:
    return np.asarray(Image.fromarray(image).resize((size, size), resample))


@pytest.fixture(scope="module")
def cars(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[int, np.ndarray]]:
    """The 183 car files; cars 0, 1, 2 and 182 hold random views, the others copies of three
    smooth ones (cheap to write)."""
    folder = tmp_path_factory.mktemp("cars")
    templates = tmp_path_factory.mktemp("car-templates")
    rng = np.random.default_rng(0)
    smooth = [write_car(templates / f"{k}.mat", rng, cheap=True) for k in range(3)]
    meshes = {}
    for index in range(183):
        path = folder / f"car_{index + 1:03d}_mesh.mat"
        if index in (0, 1, 2, 182):
            meshes[index] = write_car(path, rng)
        else:
            path.write_bytes((templates / f"{index % 3}.mat").read_bytes())
            meshes[index] = smooth[index % 3]
    (folder / "README.txt").write_text("not a car")
    return folder, meshes


@pytest.mark.slow
def test_cars3d_full_conversion(tmp_path: Path, cli, cars) -> None:
    folder, meshes = cars
    out = tmp_path / "cars.zarr"
    result = cli("data", "prepare", "cars3d", "--source", folder, "--out", out)
    assert result.exit_code == 0, result.output
    store = open_store(out)
    assert store.num_images == 4 * 24 * 183 and store.factor_sizes == [4, 24, 183]
    sizes = store.factor_sizes
    for elevation, azimuth, obj in [(0, 0, 0), (3, 23, 182), (2, 7, 1), (1, 13, 2), (0, 5, 57)]:
        row = np.ravel_multi_index((elevation, azimuth, obj), sizes)
        expected = pil_resize(meshes[obj][:, :, :, azimuth, elevation], 64,
                              Image.Resampling.LANCZOS)
        assert np.array_equal(store.read(row, row + 1)[0], expected), (elevation, azimuth, obj)
        assert store.factors[row].tolist() == [elevation, azimuth, obj]


def test_cars3d_limit_maps_axes_to_factors(tmp_path: Path, cli, cars) -> None:
    folder, meshes = cars
    out = tmp_path / "cars.zarr"
    started = time.perf_counter()
    result = cli("data", "prepare", "cars3d", "--source", folder, "--out", out, "--limit", 3,
                 "--set", "size=32")
    assert result.exit_code == 0, result.output
    assert time.perf_counter() - started < 30
    store = open_store(out)
    assert store.num_images == 3 and store.image_shape == (32, 32, 3)
    for obj in range(3):
        expected = pil_resize(meshes[obj][:, :, :, 0, 0], 32, Image.Resampling.LANCZOS)
        assert np.array_equal(store.read(obj, obj + 1)[0], expected)
    assert store.factors.tolist() == [[0, 0, 0], [0, 0, 1], [0, 0, 2]]
    assert store.attrs["source"]["num_files"] == 3


def test_cars3d_errors(tmp_path: Path, cli, nothing_left) -> None:
    import scipy.io

    rng = np.random.default_rng(1)
    folder = tmp_path / "few"
    folder.mkdir()
    write_car(folder / "car_001_mesh.mat", rng, cheap=True)
    out = tmp_path / "c.zarr"
    result = cli("data", "prepare", "cars3d", "--source", folder, "--out", out)
    assert result.exit_code == 1 and "holds 1 car_*_mesh.mat files" in result.output
    nothing_left(out)
    for i in range(2, 184):
        (folder / f"car_{i:03d}_mesh.mat").write_bytes((folder / "car_001_mesh.mat").read_bytes())
    scipy.io.savemat(folder / "car_001_mesh.mat", {"images": np.zeros((2, 2), np.uint8)})
    result = cli("data", "prepare", "cars3d", "--source", folder, "--out", out, "--limit", 2)
    assert result.exit_code == 1 and "car_001_mesh.mat has no key 'im'" in result.output
    scipy.io.savemat(folder / "car_001_mesh.mat", {"im": np.zeros((64, 64, 3, 24, 4), np.uint8)})
    result = cli("data", "prepare", "cars3d", "--source", folder, "--out", out, "--limit", 2)
    assert result.exit_code == 1 and "expected uint8 (128, 128, 3, 24, 4)" in result.output
    (folder / "car_001_mesh.mat").write_bytes(b"MATLAB 5.0 MAT-file, truncated")
    result = cli("data", "prepare", "cars3d", "--source", folder, "--out", out, "--limit", 2)
    assert result.exit_code == 1 and "car_001_mesh.mat" in result.output
    # an empty file (an interrupted extraction): scipy raises its own MatReadError
    (folder / "car_001_mesh.mat").write_bytes(b"")
    result = cli("data", "prepare", "cars3d", "--source", folder, "--out", out, "--limit", 2)
    output = " ".join(result.output.split())
    assert result.exit_code == 1 and "cannot read" in output and "car_001_mesh.mat" in output, output
    nothing_left(out)


def test_smallnorb_training_and_testing_combined(tmp_path: Path, cli) -> None:
    rng = np.random.default_rng(2)
    folder = tmp_path / "norb"
    folder.mkdir()
    test = write_norb_set(folder, "5x01235x9x18x6x2x96x96-testing", 40, rng)
    train = write_norb_set(folder, "5x46789x9x18x6x2x96x96-training", 300, rng)
    out = tmp_path / "norb.zarr"
    result = cli("data", "prepare", "smallnorb", "--source", folder, "--out", out)
    assert result.exit_code == 0, result.output
    store = open_store(out)
    assert store.num_images == 340 and store.image_shape == (64, 64, 1)
    assert store.factor_names == ["category", "elevation", "azimuth", "lighting"]
    assert store.factor_sizes == [5, 9, 18, 6]
    dat = np.concatenate([train["dat"], test["dat"]])
    cat = np.concatenate([train["cat"], test["cat"]])
    info = np.concatenate([train["info"], test["info"]])
    expected_factors = np.stack([cat, info[:, 1], info[:, 2] // 2, info[:, 3]], axis=1)
    assert np.array_equal(store.factors, expected_factors)
    assert np.array_equal(store.nuisance[:, 0], info[:, 0])
    assert store.attrs["nuisance_names"] == ["instance"]
    assert store.ground_truth().nuisance_sizes == [10]  # drawn per observation by the metrics
    for row in (0, 299, 300, 339):
        expected = pil_resize(dat[row, 0], 64, Image.Resampling.LANCZOS)
        assert np.array_equal(store.read(row, row + 1)[0, :, :, 0], expected)
    assert store.attrs["source"]["num_files"] == 6

    right = tmp_path / "right.zarr"
    result = cli("data", "prepare", "smallnorb", "--source",
                 folder / "smallnorb-5x01235x9x18x6x2x96x96-testing-dat.mat", "--out", right,
                 "--set", "camera=1", "--set", "size=96", "--limit", 10)
    assert result.exit_code == 0, result.output
    store = open_store(right)
    assert np.array_equal(store.read(0, 10)[..., 0], test["dat"][:10, 1])


def test_smallnorb_errors(tmp_path: Path, cli, nothing_left) -> None:
    rng = np.random.default_rng(3)
    folder = tmp_path / "norb"
    folder.mkdir()
    write_norb_set(folder, "a-training", 20, rng)
    dat = folder / "smallnorb-a-training-dat.mat"
    out = tmp_path / "n.zarr"
    good = dat.read_bytes()
    dat.write_bytes(good[:-100])
    result = cli("data", "prepare", "smallnorb", "--source", folder, "--out", out)
    assert result.exit_code == 1 and "truncated" in result.output and dat.name in result.output
    write_norb_matrix(dat, np.zeros((20, 2, 96, 96), np.int32))
    result = cli("data", "prepare", "smallnorb", "--source", folder, "--out", out)
    assert result.exit_code == 1 and "expected uint8" in result.output
    write_norb_matrix(dat, np.zeros((20, 2, 48, 48), np.uint8))
    result = cli("data", "prepare", "smallnorb", "--source", folder, "--out", out)
    assert result.exit_code == 1 and "expected (N, 2, 96, 96)" in result.output
    dat.write_bytes(good)
    write_norb_matrix(folder / "smallnorb-a-training-info.mat", np.full((20, 4), 3, np.int32))
    result = cli("data", "prepare", "smallnorb", "--source", folder, "--out", out)
    assert result.exit_code == 1 and "azimuths must be even" in result.output
    (folder / "smallnorb-a-training-cat.mat").unlink()
    result = cli("data", "prepare", "smallnorb", "--source", folder, "--out", out)
    assert result.exit_code == 1 and "no matching cat file" in result.output
    nothing_left(out)
