"""``disdiff runs compare``: recipe differences, last loss terms and latest evaluations."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_report import RECIPE, eval_result
from typer.testing import CliRunner

from disdiff_cli.app import app
from disdiff_core.compare import compare_runs, flatten
from disdiff_core.errors import RunError
from disdiff_core.runs import Run


def make_run(path: Path, weight: float, loss: float, accuracy: float | None) -> Run:
    recipe = RECIPE.replace("{weight: 0.05}", f"{{weight: {weight}}}")
    run = Run.create(path, stage="disdiff", recipe_yaml=recipe)
    run.log_metrics(100, {"loss": 2 * loss, "rec": loss, "lr": 1e-3})
    run.log_metrics(200, {"loss": loss, "rec": loss / 2, "eval/mig/discrete_mig": 0.1})
    run.update(status="finished", step=200)
    if accuracy is not None:
        (run.eval_dir / "eval-step0000200.json").write_text(json.dumps(eval_result(accuracy, 200)))
    return run


def test_flatten_numbers_list_items() -> None:
    assert flatten({"a": {"b": 1}, "losses": [{"w": 2}, 3]}) == {
        "a.b": 1, "losses.0.w": 2, "losses.1": 3}


def test_compare_shows_only_what_differs(tmp_path: Path) -> None:
    make_run(tmp_path / "disdiff", 0.05, 0.2, 0.8)
    make_run(tmp_path / "lambda0", 0.0, 0.3, None)
    comparison = compare_runs([tmp_path / "disdiff", tmp_path / "lambda0"])
    assert comparison.recipe == [("losses.1.params.weight", [0.05, 0.0])]
    assert dict(comparison.training) == {"loss": [0.2, 0.3], "rec": [0.1, 0.15]}
    evaluation = dict(comparison.evaluation)
    assert evaluation["factorvae/eval_accuracy"][0] == {"mean": 0.8, "std": 0.0125, "seeds": 2}
    assert evaluation["factorvae/eval_accuracy"][1] is None


def test_compare_cli_table_and_json(tmp_path: Path) -> None:
    for name, weight in (("a", 0.05), ("b", 0.01)):
        make_run(tmp_path / name, weight, 0.2, 0.7)
    runner = CliRunner()
    table = runner.invoke(app, ["runs", "compare", str(tmp_path / "a"), str(tmp_path / "b")])
    assert table.exit_code == 0, table.output
    assert "losses.1.params.weight" in table.output and "0.700 ± 0.013" in table.output
    as_json = runner.invoke(app, ["runs", "compare", str(tmp_path / "a"), str(tmp_path / "b"),
                                  "--json"])
    data = json.loads(as_json.output)
    assert data["recipe"] == {"losses.1.params.weight": [0.05, 0.01]}
    assert [run["status"] for run in data["runs"]] == ["finished", "finished"]


def test_compare_needs_two_runs(tmp_path: Path) -> None:
    make_run(tmp_path / "a", 0.05, 0.2, None)
    with pytest.raises(RunError, match="at least two"):
        compare_runs([tmp_path / "a"])
    result = CliRunner().invoke(app, ["runs", "compare", str(tmp_path / "a"),
                                      str(tmp_path / "nothing")])
    assert result.exit_code == 1 and "nothing" in result.output
