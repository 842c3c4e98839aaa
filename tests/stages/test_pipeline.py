"""``disdiff pipeline``: stages in order, a finished stage reused, a changed one refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from stages_cli import disdiff, sets
from test_stages_train import BACKBONE_OVERRIDES

from disdiff_core.errors import RecipeError, RunError
from disdiff_core.recipes import load_recipe
from disdiff_core.runs import Run
from disdiff_core.stages.pipeline import Action, decide, stage_recipes, steps_of


def test_a_folder_expands_to_its_stages_in_order() -> None:
    for folder in ("tiny", "quickstart", "shapes3d-cpu", "shapes3d-cpu-b64", "shapes3d", "mpi3d",
                   "cars3d", "celeba", "dsprites"):
        stages = [load_recipe(path).recipe.stage for path in stage_recipes(folder)]
        assert stages == ["first_stage", "backbone", "disdiff"], folder
    assert [p.stem for p in stage_recipes("toy16")] == ["backbone", "disdiff"]


def test_named_recipes_keep_the_given_order() -> None:
    steps = steps_of(["tiny/disdiff", "tiny/backbone"], ["train.steps=3"])
    assert [Path(s.recipe).stem for s in steps] == ["disdiff", "backbone"]
    assert all(s.overrides == ("train.steps=3",) for s in steps)


def test_unknown_folder_and_doubled_stage(tmp_path: Path) -> None:
    with pytest.raises(RecipeError, match="no recipe"):
        stage_recipes(tmp_path / "absent")
    for name in ("a", "b"):
        (tmp_path / f"{name}.yaml").write_text(
            f"extends: {load_recipe('tiny/backbone').path}\nname: {name}\n")
    with pytest.raises(RecipeError, match="two backbone recipes"):
        stage_recipes(tmp_path)


def test_finished_stage_is_reused_and_a_changed_one_refused(tmp_path: Path) -> None:
    overrides = [*BACKBONE_OVERRIDES, "train.steps=4", "train.log_every=2",
                 f"data.store={tmp_path / 'store'}"]
    out = tmp_path / "runs/tiny-backbone"
    first = disdiff(tmp_path, "pipeline", "tiny/backbone", *sets(overrides))
    assert "backbone tiny-backbone: train" in first.stderr
    trained = json.loads((out / "run.json").read_text())
    assert trained["status"] == "finished" and trained["step"] == 4

    again = disdiff(tmp_path, "pipeline", "tiny/backbone", *sets(overrides))
    assert "backbone tiny-backbone: reuse" in again.stderr
    assert json.loads((out / "run.json").read_text()) == trained  # untouched

    changed = load_recipe("tiny/backbone", [*overrides, "train.lr=1e-4"])
    with pytest.raises(RunError, match="different recipe"):
        decide(changed, out)
    relabelled = load_recipe("tiny/backbone", [*overrides, "name=renamed", "description=other"])
    assert decide(relabelled, out) is Action.reuse  # labels do not change what a run trains
    Run.open(out).update(status="running")  # as if interrupted: resumed, not retrained
    assert decide(load_recipe("tiny/backbone", overrides), out) is Action.resume


def test_a_run_stored_before_a_plugin_option_existed_is_still_the_same_recipe(
    tmp_path: Path,
) -> None:
    # A run trained before the denoise loss had ``loss_type`` stored no such key; read with
    # today's default it is the same recipe. An option today's plugin rejects makes it another.
    overrides = [*BACKBONE_OVERRIDES, "train.steps=2", f"data.store={tmp_path / 'store'}"]
    out = tmp_path / "runs/tiny-backbone"
    disdiff(tmp_path, "pipeline", "tiny/backbone", *sets(overrides))
    recipe_file = out / "recipe.yaml"
    stored = yaml.safe_load(recipe_file.read_text())
    assert stored["losses"][0]["params"].pop("loss_type") == "l1"
    recipe_file.write_text(yaml.safe_dump(stored))
    assert decide(load_recipe("tiny/backbone", overrides), out) is Action.reuse

    stored["losses"][0]["params"]["no_such_option"] = 1
    recipe_file.write_text(yaml.safe_dump(stored))
    with pytest.raises(RunError, match="different recipe"):
        decide(load_recipe("tiny/backbone", overrides), out)
