"""The study's conditions (experiments/study_conditions.py) and its plan of runs
(experiments/toy_disentanglement.py): each ``-x10`` condition continues its ``-x5`` twin only
where the two are the same recipe but for the steps (the continuation then equals a straight
run; see tests/runs/test_continue_run.py), training starts from the conditions a chain needs,
and a run side by side that fails keeps the runs that start from it from starting."""

from __future__ import annotations

import argparse
import io
import sys
from dataclasses import replace
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "experiments"))
study = pytest.importorskip("toy_disentanglement")
conditions = pytest.importorskip("study_conditions")


def test_continued_conditions_differ_from_their_twin_only_in_steps() -> None:
    continued = {name: condition.continues for name, condition in conditions.CONDITIONS.items()
                 if condition.continues}
    assert continued["disdiff-lam0.2-b32-x10"] == "disdiff-lam0.2-b32-x5"
    assert continued["lambda0-b32-x10"] == "lambda0-b32-x5"
    for name, twin in continued.items():
        longer, shorter = conditions.CONDITIONS[name], conditions.CONDITIONS[twin]
        assert (longer.steps_scale, shorter.steps_scale) == (10, 5)
        assert replace(longer, steps_scale=5, label=shorter.label, continues=None) == shorter


def test_a_condition_whose_loss_depends_on_its_steps_starts_over() -> None:
    # a λ ramp over half the run is a different recipe at 4000 and 8000 steps
    name = "disdiff-lam0.2-lwarmup-x10"
    conditions.CONDITIONS[name] = replace(conditions.CONDITIONS["disdiff-lam0.2-lwarmup-x5"], steps_scale=10)
    try:
        assert conditions.shorter_twin(name) is None
    finally:
        del conditions.CONDITIONS[name]


def test_training_order_puts_the_shorter_twin_first() -> None:
    assert conditions.train_order(["disdiff-lam0.2-b32-x10", "untrained"]) == [
        "disdiff-lam0.2-b32-x5", "disdiff-lam0.2-b32-x10"]


def test_planned_runs_wait_for_the_runs_they_start_from(tmp_path: Path) -> None:
    args = argparse.Namespace(setting="pixel16", seeds=[0, 1], steps=10, lam=0.05, work=tmp_path,
                              conditions=["lambda0-x10", "disdiff-warm", "untrained"])
    planned = {(run.condition, run.seed): run
               for run in study.plan_runs(args, ["data.store=x"], tmp_path / "backbone")}
    assert set(planned) == {(name, seed) for seed in (0, 1) for name in
                            ("lambda0-x5", "lambda0-x10", "lambda0", "disdiff-warm")}
    continued = planned[("lambda0-x10", 1)]
    assert continued.after == (("lambda0-x5", 1),)
    assert continued.step.continue_from == tmp_path / "runs" / "lambda0-x5-seed1"
    assert "train.steps=100" in continued.step.overrides
    warm = planned[("disdiff-warm", 0)]
    assert warm.after == (("lambda0", 0),)
    assert f"encoder.from_run={tmp_path / 'runs' / 'lambda0-seed0'}" in warm.step.overrides
    assert planned[("lambda0", 0)].after == ()


def test_a_failed_run_stops_the_runs_that_start_from_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    step = study.PipelineStep("no-such-recipe", out=tmp_path / "runs" / "first")
    planned = [study.PlannedRun("first", 0, step, ()),
               study.PlannedRun("second", 0, replace(step, out=tmp_path / "runs" / "second"),
                                (("first", 0),))]
    with pytest.raises(Exception, match="no-such-recipe"):
        study.train_side_by_side(planned, jobs=2)
    assert "first seed 0 failed" in capsys.readouterr().out
    assert not (tmp_path / "runs" / "second").exists()


def test_a_worker_names_its_run_on_every_line_it_prints() -> None:
    out = io.StringIO()
    lines = study.NamedLines("disdiff-seed0", out)
    print("step 50/4000  loss 0.1", file=lines)
    lines.write("step 100")
    assert out.getvalue() == "[disdiff-seed0] step 50/4000  loss 0.1\n"  # the rest waits
    lines.write("/4000\nresumed\n")
    assert out.getvalue().splitlines()[1:] == ["[disdiff-seed0] step 100/4000",
                                               "[disdiff-seed0] resumed"]
    assert not lines.isatty()  # so the trainer prints lines, not a live bar
