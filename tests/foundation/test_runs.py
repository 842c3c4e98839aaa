"""Run directories: create, open, update, metrics log, listing through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from disdiff_cli import console
from disdiff_cli.app import app
from disdiff_core.errors import RunError
from disdiff_core.runs import Run, find_runs

runner = CliRunner()


def make_run(path: Path, stage: str = "backbone") -> Run:
    return Run.create(path, stage=stage, recipe_yaml=f"stage: {stage}\n")


def test_create_open_update_and_log(tmp_path: Path) -> None:
    run = make_run(tmp_path / "runs" / "backbone")
    assert run.status == "created" and run.step == 0
    assert (run.path / "recipe.yaml").read_text() == "stage: backbone\n"
    for sub in ("checkpoints", "images", "eval"):
        assert (run.path / sub).is_dir()
    run.update(status="running", step=10)
    run.log_metrics(10, {"loss": 0.5})
    run.log_metrics(20, {"loss": 0.25, "rec": 0.2})
    with run.metrics_path.open("a") as fh:
        fh.write('{"step": 30, "lo')  # a crash mid-write
    reopened = Run.open(run.path)
    assert reopened.status == "running" and reopened.step == 10
    assert [r["loss"] for r in reopened.read_metrics()] == [0.5, 0.25]


def test_create_twice_needs_resume_and_the_same_stage(tmp_path: Path) -> None:
    make_run(tmp_path / "r")
    with pytest.raises(RunError, match="already holds a run"):
        make_run(tmp_path / "r")
    assert Run.create(tmp_path / "r", stage="backbone", recipe_yaml="", exist_ok=True).stage == "backbone"
    with pytest.raises(RunError, match="not a 'disdiff' run"):
        Run.create(tmp_path / "r", stage="disdiff", recipe_yaml="", exist_ok=True)


def test_open_rejects_non_runs_and_corrupt_state(tmp_path: Path) -> None:
    with pytest.raises(RunError, match="not a run directory"):
        Run.open(tmp_path)
    run = make_run(tmp_path / "r")
    (run.path / "run.json").write_text("{not json")
    with pytest.raises(RunError, match="cannot read"):
        Run.open(run.path)


def test_runs_list_json_and_show(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_run(tmp_path / "runs" / "backbone").update(status="finished", step=300)
    disdiff = make_run(tmp_path / "runs" / "disdiff", stage="disdiff")
    disdiff.log_metrics(5, {"loss": 1.0})
    assert [r.name for r in find_runs(tmp_path)] == ["backbone", "disdiff"]
    listed = runner.invoke(app, ["runs", "list", str(tmp_path), "--json"])
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.stdout)
    assert [(r["name"], r["stage"], r["status"], r["step"]) for r in rows] == [
        ("backbone", "backbone", "finished", 300), ("disdiff", "disdiff", "created", 0)]
    assert all(Path(r["path"]).is_dir() for r in rows)
    shown = runner.invoke(app, ["runs", "show", str(disdiff.path)])
    assert shown.exit_code == 0 and "loss" in shown.stdout
    assert "trained on" not in shown.stdout  # a run made before the environment was kept
    disdiff.update(environment={"torch": "2.14.1", "python": "3.11.9", "device": "cpu",
                                "processes": 2, "cpu_threads": 1})
    monkeypatch.setattr(console.out, "width", 200)  # the row unwrapped, whatever COLUMNS says
    shown = runner.invoke(app, ["runs", "show", str(disdiff.path)])
    assert "cpu, 2 process(es), 1 CPU thread(s), torch 2.14.1" in shown.stdout
    missing = runner.invoke(app, ["runs", "show", str(tmp_path / "nope")])
    assert missing.exit_code == 1 and "not a run directory" in missing.stderr
