"""User errors of ``disdiff train`` are one line on stderr and exit code 1."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from disdiff_cli.app import app
from disdiff_core.recipes import load_recipe
from disdiff_core.recipes.resolve import recipes_dir
from disdiff_core.runs import Run


def train(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["train", *args])
    return result.exit_code, result.output


def test_missing_store_without_prepare(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    code, output = train("tiny/backbone", "--out", str(tmp_path / "run"),
                         "--set", f"data.store={missing}", "--set", "data.prepare=null")
    assert code == 1
    assert "error:" in output and "data.store" in output and "Traceback" not in output


def test_existing_run_needs_resume(tmp_path: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "run.json").write_text('{"name": "x", "stage": "backbone", "status": "finished", '
                                  '"step": 1}')
    code, output = train("tiny/backbone", "--out", str(out))
    assert code == 1 and "--resume" in output


def test_missing_backbone_run(tmp_path: Path) -> None:
    code, output = train(str(recipes_dir() / "tiny/disdiff.yaml"), "--out", str(tmp_path / "d"),
                         "--set", f"data.store={tmp_path / 'store'}",
                         "--set", f"backbone.from_run={tmp_path / 'absent'}",
                         "--set", f"first_stage.from_run={tmp_path / 'absent'}")
    assert code == 1 and "absent" in output and "Traceback" not in output


def test_failed_setup_marks_the_run(tmp_path: Path) -> None:
    # an earlier run that looks like one (a recipe.yaml) but holds no weights: found out only
    # while the stage builds its parts, after its run folder exists
    hollow = tmp_path / "hollow"
    hollow.mkdir()
    (hollow / "recipe.yaml").write_text(
        load_recipe("tiny/backbone", [f"data.store={tmp_path / 'store'}"]).to_yaml())
    out = tmp_path / "d"
    _, output = train(str(recipes_dir() / "tiny/disdiff.yaml"), "--out", str(out),
                      "--set", f"data.store={tmp_path / 'store'}",
                      "--set", f"backbone.from_run={hollow}",
                      "--set", f"first_stage.from_run={hollow}")
    assert Run.open(out).status == "failed"
    assert "no exported backbone weights" in output


def test_file_where_a_folder_belongs(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = CliRunner().invoke(app, ["quickstart", "--out", str(blocker)])
    assert result.exit_code == 1
    assert "Not a directory" in result.output and str(blocker) in result.output
    assert "Traceback" not in result.output


def test_quickstart_refuses_a_folder_without_disdiff(tmp_path: Path) -> None:
    (tmp_path / "backbone.yaml").write_text(f"extends: {recipes_dir() / 'toy16/backbone.yaml'}\n")
    result = CliRunner().invoke(app, ["quickstart", "--recipes", str(tmp_path)])
    assert result.exit_code == 1
    assert "needs a backbone and a disdiff recipe" in result.output and str(tmp_path) in result.output
    assert "Traceback" not in result.output


def test_quickstart_refuses_steps_for_a_stage_the_folder_lacks(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["quickstart", "--out", str(tmp_path / "qs"),
                                      "--recipes", "toy16", "--autoencoder-steps", "5"])
    assert result.exit_code == 1
    assert "has no autoencoder stage" in result.output and "backbone, disdiff" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "qs").exists()
