"""Property tests of the recipe layer: whatever the file holds (any YAML, any bytes, a valid
recipe with random values put in, chains of ``extends`` with cycles and missing files) and
whatever ``--set`` says, reading a recipe gives a resolved recipe or a DisdiffError with a
message, never another exception; and a resolved recipe, written out, reads back the same."""

from __future__ import annotations

import copy
import string
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from robust_fixtures import BOUNDED, put_value, result_or_user_error

from disdiff_core.errors import DisdiffError, RecipeError
from disdiff_core.recipes import load_recipe
from disdiff_core.recipes.compose import compose
from disdiff_core.recipes.yaml_io import dump_yaml

#: A valid DisDiff recipe whose components need no earlier run: what the strategies perturb.
BASE: dict[str, Any] = {
    "stage": "disdiff",
    "data": {"store": "data/none.zarr", "prepare": {"plugin": "toy-shapes", "params": {"size": 16}}},
    "backbone": {"plugin": "unet", "params": {"image_size": 16, "base_channels": 32}},
    "encoder": {"plugin": "conv4", "params": {"num_factors": 3, "factor_dim": 4, "image_size": 16}},
    "field": {"plugin": "shift-unet"},
    "losses": [{"plugin": "mean-shift"}, {"plugin": "disentangle", "params": {"weight": 0.1}}],
    "train": {"steps": 10, "batch_size": 8, "lr": 1e-3},
    "sample": {"sampler": {"plugin": "ddim", "params": {"steps": 5}}},
    "eval": {"metrics": [{"plugin": "dci"}, {"plugin": "factorvae"}], "seeds": 2},
}
#: Keys recipes use, so that random documents hit real sections and not only unknown keys.
KEYS = ["stage", "data", "store", "plugin", "params", "from_run", "checkpoint", "losses",
        "train", "steps", "lr", "eval", "metrics", "sample", "sampler", "extends", "weight",
        "backbone", "encoder", "field", "first_stage", "image_size", "name", "0", "1"]

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(), st.text(max_size=12), st.sampled_from(KEYS + ["disdiff", "backbone", "unet"]),
)
keys = st.one_of(st.sampled_from(KEYS), st.text(max_size=8), st.integers(-3, 3))
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=5),
    max_leaves=20,
)
#: Text as PyYAML's own constructors meet it: tags, anchors, timestamps, flow collections.
yaml_snippets = st.lists(st.sampled_from([
    "a: 1\n", "stage: disdiff\n", "train: {steps: 3}\n", "x: !!binary aGk=\n", "d: 2020-13-45\n",
    "t: !!timestamp 3\n", "i: !!int x\n", "f: !!float abc\n", "s: !!set {1}\n", "&a x: *a\n",
    "- 1\n", "? [1]\n: 2\n", "[[[[[[\n", "extends: [a.yaml]\n", "\t", "%YAML 1.1\n---\n",
    "x: 1:2:3\n", "k: .nan\n", "k: -.inf\n", "losses: [{plugin: mean-shift}]\n", "\x00",
]), max_size=6).map("".join)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("recipes")


def check_recipe(path: Path, overrides: list[str] | tuple[str, ...] = ()) -> DisdiffError | None:
    """The property: a resolved recipe that reads back the same once written, or a
    DisdiffError with a message (returned)."""
    outcome = result_or_user_error(lambda: load_recipe(path, overrides))
    if isinstance(outcome, DisdiffError):
        return outcome
    written = path.with_name("resolved.yaml")
    written.write_text(outcome.to_yaml(), encoding="utf-8")
    again = load_recipe(written).to_dict()
    expected = outcome.to_dict()
    for resolved in (again, expected):
        resolved["provenance"].pop("recipe_file", None)
    assert again == expected
    return None


def test_the_base_recipe_is_valid(folder: Path) -> None:
    path = folder / "base.yaml"
    path.write_text(dump_yaml(BASE))
    assert check_recipe(path) is None


@BOUNDED
@given(document=st.one_of(values.map(dump_yaml), yaml_snippets, st.text(max_size=200)))
def test_any_yaml_document(folder: Path, document: str) -> None:
    path = folder / "document.yaml"
    path.write_text(document, encoding="utf-8")
    check_recipe(path)


@BOUNDED
@given(content=st.binary(max_size=300))
def test_any_bytes(folder: Path, content: bytes) -> None:
    path = folder / "bytes.yaml"
    path.write_bytes(content)
    check_recipe(path)


@BOUNDED
@given(changes=st.lists(st.tuples(st.lists(st.sampled_from(KEYS) | st.integers(0, 3),
                                            min_size=1, max_size=4), values),
                        min_size=1, max_size=3))
def test_a_valid_recipe_with_random_values_put_in(folder: Path,
                                                   changes: list[tuple[list[Any], Any]]) -> None:
    data = copy.deepcopy(BASE)
    for path, value in changes:
        put_value(data, path, value)
    recipe = folder / "changed.yaml"
    recipe.write_text(dump_yaml(data))
    check_recipe(recipe)


segments = st.one_of(
    st.sampled_from(["losses", "metrics", "eval", "params", "weight", "train", "steps", "plugin",
                     "encoder", "betas", "model_kwargs", "0", "1", "2", "7", "-1", "01", "x", ""]),
    st.text(string.ascii_letters + string.digits + "_-+ ", max_size=4),
)
set_values = st.one_of(st.sampled_from(["1", "1e-4", "-3", "null", "[1, 2]", "{a: 1}", "true",
                                        "2020-13-45", "2020-01-01", "!!int x", "[", "mean-shift",
                                        "", "!!binary gA==", "{a: !!set {1}}", "timm"]),
                       st.text(max_size=10))


@BOUNDED
@given(overrides=st.lists(st.tuples(st.lists(segments, min_size=1, max_size=5), set_values)
                          .map(lambda item: ".".join(item[0]) + "=" + item[1]),
                          max_size=3)
       | st.lists(st.text(max_size=12), max_size=2))
def test_any_set_override(folder: Path, overrides: list[str]) -> None:
    path = folder / "base.yaml"
    path.write_text(dump_yaml(BASE))
    check_recipe(path, overrides)


@BOUNDED
@given(index=st.integers(0, 5), weight=st.floats(0, 10, allow_nan=False))
def test_set_into_a_list_item_sets_it_or_names_the_items(folder: Path, index: int,
                                                        weight: float) -> None:
    path = folder / "base.yaml"
    path.write_text(dump_yaml(BASE))
    override = f"losses.{index}.params.weight={weight!r}"
    if index < len(BASE["losses"]):
        assert compose(path, [override]).data["losses"][index]["params"]["weight"] == weight
    else:
        with pytest.raises(RecipeError, match=r"losses has no item \d+ \(items: 0\.\.1\)"):
            compose(path, [override])


NAMES = [f"r{i}.yaml" for i in range(4)]  # r3.yaml is never written: a missing file


@BOUNDED
@given(files=st.lists(
    st.tuples(st.one_of(st.none(), st.sampled_from(NAMES), st.lists(st.sampled_from(NAMES),
                                                                     max_size=3), values),
              st.sampled_from(sorted(BASE)), st.booleans()),
    min_size=3, max_size=3))
def test_any_extends_chain(tmp_path_factory: pytest.TempPathFactory,
                           files: list[tuple[Any, str, bool]]) -> None:
    """r0..r2 extend any of r0..r3 (themselves, each other in cycles, the missing r3) or hold a
    wrong ``extends`` value; each also holds one section of the base recipe."""
    folder = tmp_path_factory.mktemp("chain")
    for name, (extends, section, keep) in zip(NAMES, files, strict=False):
        data = {section: BASE[section]} if keep else {}
        if extends is not None:
            data["extends"] = extends
        (folder / name).write_text(yaml.safe_dump(data))
    error = check_recipe(folder / "r0.yaml")
    if error is None:
        return
    assert "RecursionError" not in str(error)
