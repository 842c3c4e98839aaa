"""The three inputs of issue 15 that ended in a Python traceback, through the real CLI: a
recipe file that is not UTF-8, codes holding NaN, and ``--set`` into a list item."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from robust_fixtures import grid_factors, write_grid_store
from typer.testing import CliRunner

from disdiff_cli.app import app
from disdiff_core.errors import RecipeError
from disdiff_core.recipes import load_recipe
from disdiff_core.recipes.compose import compose

runner = CliRunner()


def test_recipe_file_that_is_not_utf8_is_one_message(tmp_path: Path) -> None:
    path = tmp_path / "binary.yaml"
    path.write_bytes(bytes(np.random.RandomState(0).randint(0, 256, 300, dtype=np.uint8)))
    result = runner.invoke(app, ["recipe", "validate", str(path)])
    assert result.exit_code == 1, result.output
    assert "not a text (UTF-8) file" in result.stderr
    assert "Traceback" not in result.output


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_codes_with_nan_or_inf_are_one_message(tmp_path: Path, bad: float) -> None:
    write_grid_store(tmp_path / "grid.zarr")
    codes = grid_factors().astype(np.float64)
    codes[7, 1] = bad
    np.save(tmp_path / "codes.npy", codes)
    result = runner.invoke(app, ["eval-codes", str(tmp_path / "codes.npy"),
                                 "--data", str(tmp_path / "grid.zarr")])
    assert result.exit_code == 1, result.output
    assert "NaN, infinite or huge (beyond ±3.4e38) values in 1 of 24 rows (first: row 7)" in (
        " ".join(result.stderr.split()))
    assert "Traceback" not in result.output


def test_set_reaches_a_key_inside_a_list_item() -> None:
    result = runner.invoke(app, ["recipe", "show", "tiny/disdiff",
                                 "--set", "losses.1.params.weight=1.0"])
    assert result.exit_code == 0, result.output
    losses = yaml.safe_load(result.stdout)["losses"]
    assert losses[1]["plugin"] == "disentangle" and losses[1]["params"]["weight"] == 1.0


@pytest.mark.parametrize(("override", "message"), [
    ("losses.2.params.weight=1", "losses has no item 2 (items: 0..1)"),
    ("losses.first.params.weight=1", "losses is a list; index it with a number, not 'first'"),
    ("losses.-1.params.weight=1", "not '-1'"),
    ("train.steps.x=1", "train.steps is a value"),
    ("train..steps=1", "empty key"),
])
def test_set_into_a_list_with_a_bad_index_names_it(override: str, message: str) -> None:
    recipe = Path(__file__).parents[2] / "recipes" / "tiny" / "disdiff.yaml"
    with pytest.raises(RecipeError, match="^--set ") as info:
        compose(recipe, [override])
    assert message in str(info.value)


@pytest.mark.parametrize(("codes_shape", "settings", "message"), [
    ((24, 3), ["--set", "mig.num_train=-1"], "invalid settings for metric 'mig': num_train:"),
    ((24, 3), ["--set", "mig.num_trian=10"],
     "invalid settings for metric 'mig': num_trian: unknown key; did you mean 'num_train'?"),
    ((24, 1), ["--set", "mig.num_train=24"], "metric 'mig' cannot score these codes"),
])
def test_eval_codes_that_a_metric_refuses_are_one_message(
        tmp_path: Path, codes_shape: tuple[int, int], settings: list[str], message: str) -> None:
    """Found while testing the codes: pydantic's and the metric's own ValueErrors were bugs."""
    write_grid_store(tmp_path / "grid.zarr")
    np.save(tmp_path / "codes.npy", np.random.RandomState(0).randn(*codes_shape))
    result = runner.invoke(app, ["eval-codes", str(tmp_path / "codes.npy"), "--data",
                                 str(tmp_path / "grid.zarr"), "--metrics", "mig", *settings])
    assert result.exit_code == 1, result.output
    assert message in " ".join(result.stderr.split())


def test_recipe_values_are_json_data(tmp_path: Path) -> None:
    """Found by probing free-form parameters: a ``!!binary`` value resolved, then failed to be
    written out (a bug exit); dates became date objects a string field refused."""
    base = Path(__file__).parents[2] / "recipes" / "tiny" / "backbone.yaml"
    dated = tmp_path / "dated.yaml"
    dated.write_text(f"extends: {base}\nname: 2020-01-01\n")
    assert load_recipe(dated).name == "2020-01-01"
    binary = tmp_path / "binary.yaml"
    binary.write_text(f"extends: {base}\ndescription: !!binary gA==\n")
    with pytest.raises(RecipeError, match="binary values are not allowed in a recipe"):
        load_recipe(binary)
