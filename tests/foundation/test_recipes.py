"""Recipes: YAML floats, extends (deep merge, relative paths, shipped names), --set overrides,
validation against plugin parameter models with errors that name the file and key, resolved
provenance."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from disdiff_cli.app import app
from disdiff_core.errors import RecipeError
from disdiff_core.recipes import load_recipe
from disdiff_core.recipes.compose import compose, deep_merge
from disdiff_core.recipes.resolve import recipes_dir
from disdiff_core.recipes.yaml_io import parse_scalar

runner = CliRunner()

BASE = """
stage: backbone
data:
  store: data/toy.zarr
backbone:
  plugin: unet
  params:
    base_channels: 32
train:
  steps: 100
  batch_size: 8
  lr: 2e-4
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "value"),
    [("1e-4", 1e-4), ("2E5", 2e5), ("1.5", 1.5), (".5", 0.5), ("3", 3), ("true", True),
     ("null", None), ("[1, 2]", [1, 2]), ("hello", "hello"), ("-1e-3", -1e-3)],
)
def test_scalars_parse_as_yaml_with_exponent_floats(text: str, value: object) -> None:
    parsed = parse_scalar(text)
    assert parsed == value and type(parsed) is type(value)


def test_deep_merge_merges_mappings_and_replaces_the_rest() -> None:
    merged = deep_merge({"a": {"x": 1, "y": [1]}, "b": 1}, {"a": {"y": [2], "z": 3}})
    assert merged == {"a": {"x": 1, "y": [2], "z": 3}, "b": 1}


def test_extends_is_relative_to_the_file_and_overrides_apply(tmp_path: Path) -> None:
    write(tmp_path / "base" / "backbone.yaml", BASE)
    child = write(tmp_path / "exp" / "small.yaml",
                  "extends: ../base/backbone.yaml\ntrain:\n  steps: 5\n")
    composed = compose(child, ["train.lr=1e-4", "backbone.params.base_channels=16"])
    assert composed.data["train"] == {"steps": 5, "batch_size": 8, "lr": 1e-4}
    assert composed.data["backbone"]["params"]["base_channels"] == 16
    assert composed.origin_of("train.steps") == str(child.resolve())
    assert composed.origin_of("train.batch_size").endswith("backbone.yaml")
    assert composed.origin_of("train.lr") == "--set"


def test_extends_takes_a_shipped_name_as_the_command_line_does(tmp_path: Path) -> None:
    shipped = recipes_dir() / "tiny" / "disdiff.yaml"
    by_name = compose(write(tmp_path / "by_name.yaml", "extends: tiny/disdiff\n"), ["train.steps=3"])
    by_path = compose(write(tmp_path / "by_path.yaml", f"extends: {shipped}\n"), ["train.steps=3"])
    assert by_name.data == by_path.data and by_name.data["stage"] == "disdiff"
    assert by_name.origin_of("encoder.plugin") == str(shipped.resolve())


def test_a_file_next_to_the_recipe_wins_over_a_shipped_name(tmp_path: Path) -> None:
    local = write(tmp_path / "tiny" / "disdiff.yaml", BASE)
    composed = compose(write(tmp_path / "child.yaml", "extends: tiny/disdiff.yaml\n"))
    assert composed.data == compose(local).data and composed.data["stage"] == "backbone"


def test_extends_cycle_is_reported(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", "extends: b.yaml\n")
    write(tmp_path / "b.yaml", "extends: a.yaml\n")
    with pytest.raises(RecipeError, match="cycle"):
        compose(tmp_path / "a.yaml")


def test_valid_recipe_resolves_defaults_and_provenance(tmp_path: Path) -> None:
    resolved = load_recipe(write(tmp_path / "r.yaml", BASE))
    data = resolved.to_dict()
    assert data["train"]["lr"] == pytest.approx(2e-4)
    assert data["backbone"]["params"]["base_channels"] == 32
    assert len(data["backbone"]["params"]) > 1  # defaults filled in
    provenance = {p["key"]: p for p in data["provenance"]["plugins"]}
    assert provenance["backbone"]["distribution"] == "disdiff"
    assert provenance["backbone"]["version"]
    assert "sample.sampler" in provenance and "eval.metrics.0" in provenance
    # the resolved form is itself a valid recipe
    again = load_recipe(write(tmp_path / "again.yaml", resolved.to_yaml()))
    assert again.to_dict()["backbone"] == data["backbone"]


def test_unknown_key_names_file_and_key(tmp_path: Path) -> None:
    path = write(tmp_path / "r.yaml", BASE + "trian:\n  steps: 3\n")
    with pytest.raises(RecipeError) as info:
        load_recipe(path)
    assert str(path.resolve()) in str(info.value) and "trian" in str(info.value)


def test_bad_plugin_param_names_the_key_and_file_it_came_from(tmp_path: Path) -> None:
    write(tmp_path / "base.yaml", BASE)
    child = write(tmp_path / "child.yaml", "extends: base.yaml\n")
    with pytest.raises(RecipeError) as info:
        load_recipe(child, ["backbone.params.no_such_param=3"])
    assert "backbone.params.no_such_param" in str(info.value)
    assert "--set" in str(info.value)
    with pytest.raises(RecipeError) as info:
        load_recipe(write(tmp_path / "bad.yaml", BASE.replace("base_channels: 32", "base_channels: -4")))
    assert "backbone.params.base_channels" in str(info.value)
    assert "bad.yaml" in str(info.value)


def test_unknown_plugin_in_recipe_lists_the_available(tmp_path: Path) -> None:
    path = write(tmp_path / "r.yaml", BASE.replace("plugin: unet", "plugin: unett"))
    with pytest.raises(RecipeError) as info:
        load_recipe(path)
    assert "backbone.plugin" in str(info.value) and "did you mean 'unet'" in str(info.value).lower()


def test_stage_requires_its_components(tmp_path: Path) -> None:
    path = write(tmp_path / "r.yaml", BASE.replace("stage: backbone", "stage: disdiff"))
    with pytest.raises(RecipeError, match="needs: encoder, field"):
        load_recipe(path)


def test_yaml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path / "r.yaml", "stage: [backbone\n")
    with pytest.raises(RecipeError, match=r"r\.yaml \(line"):
        load_recipe(path)


def test_cli_show_validate_and_schema(tmp_path: Path) -> None:
    path = write(tmp_path / "r.yaml", BASE)
    shown = runner.invoke(app, ["recipe", "show", str(path), "--set", "train.lr=1e-4"])
    assert shown.exit_code == 0, shown.output
    assert yaml.safe_load(shown.stdout)["train"]["lr"] == pytest.approx(1e-4)
    valid = runner.invoke(app, ["recipe", "validate", str(path)])
    assert valid.exit_code == 0 and "valid" in valid.stdout
    invalid = runner.invoke(app, ["recipe", "validate", str(path), "--set", "train.steps=abc"])
    assert invalid.exit_code == 1
    assert "train.steps" in invalid.stderr and "Traceback" not in invalid.output
    schema = runner.invoke(app, ["recipe", "schema"])
    assert schema.exit_code == 0
    document = json.loads(schema.stdout)
    assert document["title"] == "disdiff recipe"
    assert "unet" in json.dumps(document)  # plugin-specific params are in the schema


def test_missing_recipe_is_one_clear_error() -> None:
    result = runner.invoke(app, ["recipe", "validate", "no/such/recipe.yaml"])
    assert result.exit_code == 1
    assert "no recipe file" in result.stderr
