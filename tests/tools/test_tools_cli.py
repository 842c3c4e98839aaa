"""``disdiff encode`` and ``disdiff sample`` on a hand-built run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from tool_runs import FACTOR_DIM, IMAGE, NUM_FACTORS
from typer.testing import CliRunner

from disdiff_cli.app import app
from disdiff_core.data.store import open_store
from disdiff_core.evaluation.codes import load_codes
from disdiff_core.loading import encode_images, load_disdiff

PAD, LABEL_WIDTH, HEADER = 2, 96, 14  # labelled_grid's layout
TILE = IMAGE * 3  # labelled_grid enlarges 16-px tiles to its 48-px minimum


def _grid_size(rows: int, cols: int, *, header: bool) -> tuple[int, int]:
    """(width, height) of a labelled grid of IMAGE-px images."""
    return (LABEL_WIDTH + cols * (TILE + PAD) + PAD,
            (HEADER if header else 0) + rows * (TILE + PAD) + PAD)


def _invoke(cli: CliRunner, *args: str) -> str:
    result = cli.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def store_codes(disdiff_run: Path, toy_store: Path) -> np.ndarray:
    model = load_disdiff(disdiff_run, device="cpu")
    return encode_images(model, open_store(toy_store).read(0, 32)).numpy()


@pytest.mark.parametrize("name", ["codes.npy", "codes.zarr"])
def test_encode_store(cli, disdiff_run, toy_store, store_codes, tmp_path, name) -> None:
    out = tmp_path / name
    _invoke(cli, "encode", disdiff_run, "--data", toy_store, "--out", out, "--batch-size", 5)
    codes = load_codes(out)
    assert codes.shape == (32, NUM_FACTORS, FACTOR_DIM)
    np.testing.assert_allclose(codes, store_codes, rtol=1e-5, atol=1e-6)


def test_encode_image_folder(cli, disdiff_run, toy_store, store_codes, tmp_path) -> None:
    folder = tmp_path / "images"
    folder.mkdir()
    for i, image in enumerate(open_store(toy_store).read(0, 3)):
        Image.fromarray(image).save(folder / f"{i:02d}.png")
    out = tmp_path / "codes.npy"
    _invoke(cli, "encode", disdiff_run, "--images", folder, "--out", out)
    np.testing.assert_allclose(np.load(out), store_codes[:3], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(("args", "rows", "cols", "header"), [
    (["--mode", "generate", "--num", "3"], 1, 3, False),
    (["--mode", "generate", "--num", "3", "--data", "STORE"], 2, 3, False),
    (["--mode", "reconstruct", "--num", "10", "--data", "STORE"], 4, 8, False),
    (["--mode", "swap", "--num", "3", "--data", "STORE"], 1 + NUM_FACTORS, 4, True),
    (["--mode", "swap", "--num", "3", "--data", "STORE", "--start", "noise"], 1 + NUM_FACTORS, 4,
     True),
    (["--mode", "traverse", "--num", "4", "--pool", "8", "--data", "STORE"], NUM_FACTORS, 5,
     True),
    (["--mode", "traverse", "--num", "4", "--to", "5", "--data", "STORE"], NUM_FACTORS, 4, True),
])
def test_sample_figure_sizes(cli, disdiff_run, toy_store, tmp_path, args, rows, cols,
                             header) -> None:
    out = tmp_path / "figure.png"
    args = [str(toy_store) if a == "STORE" else a for a in args]
    _invoke(cli, "sample", disdiff_run, *args, "--out", out, "--steps", 3, "--seed", 1)
    with Image.open(out) as image:
        assert image.size == _grid_size(rows, cols, header=header)
        assert image.mode == "RGB"


def test_sample_is_seeded(cli, disdiff_run, tmp_path) -> None:
    paths = [tmp_path / f"{i}.png" for i in range(2)]
    for path in paths:
        _invoke(cli, "sample", disdiff_run, "--mode", "generate", "--num", 2, "--out", path)
    np.testing.assert_array_equal(*(np.asarray(Image.open(p)) for p in paths))


@pytest.mark.parametrize("command", [
    ["encode", "RUN", "--data", "STORE", "--out", "OUT/codes.npy"],
    ["sample", "RUN", "--mode", "generate", "--out", "OUT/x.png"],
])
def test_not_a_run(cli, toy_store, tmp_path, command) -> None:
    args = [a.replace("RUN", str(tmp_path)).replace("STORE", str(toy_store))
            .replace("OUT", str(tmp_path)) for a in command]
    result = cli.invoke(app, args)
    assert result.exit_code == 1
    assert "not a run directory" in result.output and "Traceback" not in result.output


def test_missing_store_and_source(cli, disdiff_run, tmp_path) -> None:
    result = cli.invoke(app, ["encode", str(disdiff_run), "--data", str(tmp_path / "none.zarr"),
                              "--out", str(tmp_path / "c.npy")])
    assert result.exit_code == 1 and "none.zarr" in result.output
    result = cli.invoke(app, ["sample", str(disdiff_run), "--mode", "swap",
                              "--out", str(tmp_path / "x.png")])
    assert result.exit_code == 1 and "--data" in result.output
    assert not (tmp_path / "c.npy").exists() and not (tmp_path / "x.png").exists()


def test_store_of_another_image_size(cli, disdiff_run, tmp_path) -> None:
    store = tmp_path / "small.zarr"
    _invoke(cli, "data", "prepare", "toy-shapes", "--out", store, "--set", "size=8",
            "--set", "num_positions=2", "--set", "num_hues=2")
    for command in (["encode", str(disdiff_run), "--out", str(tmp_path / "c.npy")],
                    ["sample", str(disdiff_run), "--mode", "swap", "--out", str(tmp_path / "x.png")]):
        result = cli.invoke(app, [*command, "--data", str(store)])
        assert result.exit_code == 1 and "encoder takes 16×16×3" in result.output
