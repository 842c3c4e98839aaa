"""``--resume`` with a changed recipe: a run may be resumed with another schedule (more steps),
and then its recipe.yaml says so and run.json keeps the old values, the training still equal
to a straight run; a change to what is trained (a model, the data) is refused with the keys
and the way to train it (``--continue-from``), the run untouched."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from tiny_runs import STEPS, assert_same_state, cli_train, final_state, train_here

from disdiff_core.recipes.yaml_io import read_yaml
from disdiff_core.runs import RECIPE_FILE, Run
from disdiff_core.stages.recipe_changes import recipe_differences


def test_differences_are_dotted_keys_labels_aside() -> None:
    before = {"name": "a", "provenance": {"disdiff": "0.1"}, "train": {"steps": 10, "lr": 1e-3},
              "losses": [{"plugin": "mean-shift"}, {"plugin": "disentangle",
                                                    "params": {"weight": 0.05}}],
              "data": {"store": "s"}}
    after = {"name": "b", "provenance": {"disdiff": "0.2"}, "train": {"steps": 20, "lr": 1e-3},
             "losses": [{"plugin": "mean-shift"}, {"plugin": "disentangle",
                                                   "params": {"weight": 0.2}}],
             "data": {"store": "s", "num_workers": 2}}
    assert recipe_differences(before, after) == {
        "train.steps": (10, 20), "losses.1.params.weight": (0.05, 0.2),
        "data.num_workers": (None, 2)}
    assert recipe_differences(before, {**before, "name": "c"}) == {}
    assert recipe_differences({"x": [1, 2]}, {"x": [1, 2, 3]}) == {"x": ([1, 2], [1, 2, 3])}


def test_resuming_with_more_steps_rewrites_the_recipe_and_keeps_the_old_values(
        tmp_path: Path, toy_store: Path, straight_run: Path, short_run: Path) -> None:
    out = tmp_path / "run"
    shutil.copytree(short_run, out)
    printed = train_here(out, toy_store, resume=True, **STEPS)
    assert "resumed with a changed recipe at step 10: train.steps 10 → 20" in printed
    assert read_yaml(out / RECIPE_FILE)["train"]["steps"] == 20
    assert Run.open(out).info["recipe_changes"] == [
        {"step": 10, "changes": {"train.steps": [10, 20]}}]
    assert_same_state(final_state(out), final_state(straight_run))


@pytest.mark.parametrize("change", [
    ["--set", "backbone.params.base_channels=16"],
    ["--set", "backbone.params.dropout=0.1", "--set", "data.prepare.params.size=8"],
])
def test_resuming_with_another_model_is_refused(tmp_path: Path, toy_store: Path,
                                                short_run: Path, change: list[str]) -> None:
    out = tmp_path / "run"
    shutil.copytree(short_run, out)
    recipe_before = (out / RECIPE_FILE).read_bytes()
    code, output = cli_train(out, toy_store, "--resume", *change)
    assert code == 1 and "Traceback" not in output, output
    assert "was trained with another recipe" in output and "--continue-from" in output
    for key in change[1::2]:
        assert key.split("=")[0] in output
    assert (out / RECIPE_FILE).read_bytes() == recipe_before
    assert sorted(path.name for path in (out / "checkpoints").iterdir()) == sorted(
        path.name for path in (short_run / "checkpoints").iterdir())
    assert Run.open(out).status == "finished" and "recipe_changes" not in Run.open(out).info
