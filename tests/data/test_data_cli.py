"""`disdiff data prepare|info|preview`: one clear message and exit code 1 for user errors,
a summary table, a labelled preview PNG of the expected size."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from disdiff_core.images import labelled_grid


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory, cli) -> Path:
    out = tmp_path_factory.mktemp("cli") / "toy.zarr"
    result = cli("data", "prepare", "toy-shapes", "--out", out, "--set", "size=16")
    assert result.exit_code == 0, result.output
    assert "wrote 864 images of 16×16×3" in result.output
    return out


def test_info_table_and_json(toy: Path, cli) -> None:
    result = cli("data", "info", toy)
    assert result.exit_code == 0, result.output
    for text in ("toy-shapes", "864 × 16×16×3", "shape (3)", "pos_y (6)", "procedural"):
        assert text in result.output
    result = cli("data", "info", toy, "--json")
    summary = json.loads(result.output)
    assert summary["factor_sizes"] == [3, 4, 2, 6, 6] and summary["num_images"] == 864
    assert summary["params"]["size"] == 16 and summary["disk_bytes"] > 0


def test_preview_png_size(toy: Path, tmp_path: Path, cli) -> None:
    out = tmp_path / "grid.png"
    result = cli("data", "preview", toy, "--out", out, "--seed", 3, "--zoom", 2)
    assert result.exit_code == 0, result.output
    # 2 random rows + 5 factor rows of 10 columns of 32×32 tiles, 2 px padding, 96 px labels
    expected = labelled_grid([np.zeros((1, 32, 32, 3), np.uint8)] * 7, ["x"] * 7, ncols=10,
                             min_tile=1)
    with Image.open(out) as image:
        assert image.size == (expected.shape[1], expected.shape[0]) == (96 + 10 * 34 + 2,
                                                                         7 * 34 + 2)
        assert image.mode == "RGB"
    again = tmp_path / "again.png"
    cli("data", "preview", toy, "--out", again, "--seed", 3, "--zoom", 2)
    assert again.read_bytes() == out.read_bytes()


def test_user_errors_are_one_message(tmp_path: Path, toy: Path, cli, nothing_left) -> None:
    out = tmp_path / "x.zarr"
    cases = [
        (("data", "prepare", "toy-shape", "--out", out), "Did you mean 'toy-shapes'"),
        (("data", "prepare", "toy-shapes", "--out", out, "--set", "bogus=1"), "bogus"),
        (("data", "prepare", "toy-shapes", "--out", out, "--set", "size"), "key=value"),
        (("data", "prepare", "shapes3d", "--out", out), "pass the path of 3dshapes.h5"),
        (("data", "prepare", "shapes3d", "--out", out, "--source", tmp_path / "none.h5"),
         "does not exist"),
        (("data", "prepare", "toy-shapes", "--out", out, "--source", tmp_path),
         "procedural and reads no source"),
        (("data", "prepare", "toy-shapes", "--out", toy), "pass --force"),
        (("data", "prepare", "toy-shapes", "--out", tmp_path), "not a dataset store"),
        (("data", "info", tmp_path / "none.zarr"), "no dataset store"),
        (("data", "preview", tmp_path, "--out", tmp_path / "p.png"), "not a dataset store"),
    ]
    for args, message in cases:
        result = cli(*args)
        assert result.exit_code == 1, (args, result.output)
        assert message in " ".join(result.output.split()), (args, result.output)
        assert "Traceback" not in result.output
    nothing_left(out)


def test_interrupted_prepare_leaves_nothing(tmp_path: Path, nothing_left) -> None:
    from disdiff_plugins.datasets.specs import SYNTH_DSPRITES

    out = tmp_path / "d.zarr"

    def interrupt(done: int, total: int) -> None:
        if done >= 2048:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        SYNTH_DSPRITES.build({"size": 16}).prepare(out, limit=5000, progress=interrupt)
    nothing_left(out)
