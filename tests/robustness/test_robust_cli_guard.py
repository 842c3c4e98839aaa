"""The CLI's top-level guard, through the real ``disdiff`` app: a bug (any unexpected exception)
is a short message saying so, its traceback in a log file (the run folder when the command has
one, else the temp folder) and exit 2; user errors, usage errors and Ctrl-C keep their own."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

import disdiff_core.app.runs
import disdiff_core.recipes
from disdiff_cli.app import app
from disdiff_core.errors import RecipeError
from disdiff_core.runs import Run

runner = CliRunner()


def _boom(*args: object, **kwargs: object) -> None:
    raise ZeroDivisionError("the bug under test")


@pytest.fixture
def temp_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh temp folder for crash logs of commands without a run folder."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def _single_log(folder: Path) -> str:
    logs = list(folder.glob("disdiff-crash-*.log"))
    assert len(logs) == 1, logs
    return logs[0].read_text()


def test_a_bug_is_a_short_message_a_log_in_the_temp_folder_and_exit_2(
        temp_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(disdiff_core.recipes, "load_recipe", _boom)
    result = runner.invoke(app, ["recipe", "validate", "tiny/backbone"])
    assert result.exit_code == 2, result.output
    assert "this is a bug in disdiff" in result.stderr
    assert "ZeroDivisionError: the bug under test" in result.stderr
    assert "Traceback" not in result.output
    log = _single_log(temp_dir)
    assert str(temp_dir) in " ".join(result.stderr.split())
    assert "Traceback (most recent call last)" in log and "in _boom" in log
    assert "ZeroDivisionError: the bug under test" in log


def test_the_log_of_a_command_on_a_run_goes_into_the_run_folder(
        tmp_path: Path, temp_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run = Run.create(tmp_path / "run", stage="disdiff", recipe_yaml="stage: disdiff\n")
    monkeypatch.setattr(disdiff_core.app.runs, "read_run_recipe", _boom)
    result = runner.invoke(app, ["encode", str(run.path), "--images", str(tmp_path),
                                 "--out", str(tmp_path / "codes.npy")])
    assert result.exit_code == 2, result.output
    assert "in _boom" in _single_log(run.path)
    assert not list(temp_dir.iterdir())


def test_user_errors_keep_exit_1_and_their_message(
        temp_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def user_error(*args: object) -> None:
        raise RecipeError("the recipe is wrong")

    monkeypatch.setattr(disdiff_core.recipes, "load_recipe", user_error)
    result = runner.invoke(app, ["recipe", "validate", "tiny/backbone"])
    assert result.exit_code == 1 and "the recipe is wrong" in result.stderr
    assert "bug" not in result.stderr and not list(temp_dir.iterdir())


def test_ctrl_c_and_usage_errors_are_not_bugs(temp_dir: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(disdiff_core.recipes, "load_recipe", interrupted)
    result = runner.invoke(app, ["recipe", "validate", "tiny/backbone"])
    assert result.exit_code == 130  # click's code for Ctrl-C (128 + SIGINT)
    usage = runner.invoke(app, ["recipe", "validate", "--no-such-option"])
    assert usage.exit_code == 2 and "No such option" in usage.stderr
    assert "bug" not in result.stderr + usage.stderr and not list(temp_dir.iterdir())
