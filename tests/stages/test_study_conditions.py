"""The study's conditions (experiments/study_conditions.py) and its plan of runs
(experiments/toy_disentanglement.py): each ``-x10`` condition continues its ``-x5`` twin only
where the two are the same recipe but for the steps (the continuation then equals a straight
run; see tests/runs/test_continue_run.py), training starts from the conditions a chain needs,
a run side by side that fails keeps the runs that start from it from starting, and a study told
to score only trains nothing: it names the runs it lacks, or combines scores kept from earlier
studies."""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
from joblib import Parallel, delayed

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


def scored_entry(factorvae: float) -> dict[str, float]:
    """A saved score entry of a trained condition, as :func:`study.score_run` writes one."""
    entry = {f"{metric}/{number}": 0.3 for _, metric, number in study.COLUMNS}
    entry |= {"factorvae/eval_accuracy": factorvae, "train/cpu_threads": 1}
    entry |= {f"probe/acc_invariant_t{k}": 0.25 for k in range(5)}
    return entry | {f"final/{key}": 0.1 for key in study.INSTRUMENTS}


def test_score_only_names_the_runs_it_would_have_to_train(tmp_path: Path) -> None:
    args = argparse.Namespace(setting="pixel16", seeds=[0, 1], steps=10, lam=0.05, work=tmp_path,
                              conditions=["lambda0"])
    planned = study.plan_runs(args, ["data.store=x"], tmp_path / "backbone")
    with pytest.raises(SystemExit, match=r"2 run\(s\) neither finished nor scored: lambda0 seed 0"):
        study.check_nothing_to_train(planned, {})
    with pytest.raises(SystemExit, match="lambda0 seed 1") as stopped:
        study.check_nothing_to_train(planned, {"lambda0": {"0": scored_entry(0.4)}})
    assert "lambda0 seed 0" not in str(stopped.value)
    study.check_nothing_to_train(planned, {"lambda0": {"0": scored_entry(0.4),
                                                       "1": scored_entry(0.5)}})


def test_a_study_of_imported_scores_trains_nothing_and_keeps_its_scores_beside_the_doc(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    earlier = tmp_path / "earlier-scores.json"
    earlier.write_text(json.dumps({"lambda0": {"0": scored_entry(0.40), "1": scored_entry(0.42)},
                                   "disdiff": {"0": scored_entry(0.50), "1": scored_entry(0.56)}}))
    work, doc = tmp_path / "work", tmp_path / "docs" / "study.md"
    monkeypatch.setattr(sys, "argv", [
        "toy_disentanglement.py", "--work", str(work), "--seeds", "0", "1", "--score-only",
        "--conditions", "disdiff", "lambda0", "--compare", "disdiff", "lambda0",
        "--doc", str(doc), "--import-scores", str(earlier)])
    study.main()
    assert not (work / "runs").exists()  # nothing trained, not even the backbone
    text = doc.read_text()
    assert "| 0.530 ± 0.030 |" in text and "| 0.410 ± 0.010 |" in text
    assert "over the seeds whose runs are kept (none)" in text
    kept = json.loads((tmp_path / "docs" / "study-scores.json").read_text())
    assert kept["disdiff"]["1"]["factorvae/eval_accuracy"] == 0.56


def test_the_timestep_fifths_average_over_the_seeds_that_have_them() -> None:
    """Scores imported from an earlier table lack the per-fifth columns it printed only as
    means: the fifths table averages over the other seeds and names them, instead of failing."""
    from_table = {k: v for k, v in scored_entry(0.4).items()
                  if not k.startswith("probe/acc_invariant_t")}
    fifths = scored_entry(0.5) | {"probe/acc_invariant_t4": 0.45}
    args = argparse.Namespace(seeds=[0, 1, 2], conditions=["lambda0"], lam=0.05)
    rows = study.probe_slices(args, {"lambda0": {0: from_table, 1: fifths, 2: fifths}})
    assert rows.splitlines()[2].endswith("| 1, 2 | 0.250 | 0.250 | 0.250 | 0.250 | 0.450 |")
    args.seeds = [0]
    rows = study.probe_slices(args, {"lambda0": {0: from_table}})
    assert rows.splitlines()[2].endswith("| none | – | – | – | – | – |")


def test_imported_scores_do_not_replace_the_scores_of_runs_kept_here(tmp_path: Path) -> None:
    (tmp_path / "scores.json").write_text(json.dumps({"lambda0": {"0": {"mig/discrete_mig": 1}}}))
    earlier = tmp_path / "earlier.json"
    earlier.write_text(json.dumps({"lambda0": {"0": {"mig/discrete_mig": 2},
                                               "1": {"mig/discrete_mig": 3}}}))
    study.import_scores(tmp_path, [earlier])
    saved = json.loads((tmp_path / "scores.json").read_text())
    assert saved == {"lambda0": {"0": {"mig/discrete_mig": 1}, "1": {"mig/discrete_mig": 3}}}
    earlier.write_text("{not json")
    with pytest.raises(SystemExit, match=f"--import-scores {earlier}: not a scores file"):
        study.import_scores(tmp_path, [earlier])


def fit_in_metric_processes(count: int) -> int:
    """What scoring does in a study's worker: work in joblib's processes, then release them."""
    total = sum(Parallel(n_jobs=2)(delayed(abs)(-k) for k in range(count)))
    study.release_metric_processes()
    return total


def test_a_scoring_worker_exits_when_its_work_is_done() -> None:
    # joblib's idle processes kept a study's worker alive for loky's 300 s idle timeout
    started = time.monotonic()
    with study.worker_pool(2) as pool:
        assert list(pool.map(fit_in_metric_processes, [3, 4])) == [3, 6]
    assert time.monotonic() - started < 120
