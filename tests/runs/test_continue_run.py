"""``--continue-from``: a new run that starts from another run's checkpoint equals a run trained
straight to its final step, bit for bit (weights, EMA, optimiser moments, random streams, data
position), whether it starts from a run folder or one checkpoint folder, for the backbone and
the DisDiff stage; the source run is only read; the new run carries the source's curves up to
the checkpoint and says where it started; a continued run that dies before its first own
checkpoint resumes from the source's; wrong sources are one message and leave nothing behind."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from tiny_runs import DISDIFF, STEPS, assert_same_state, cli_train, final_state, train_here

from disdiff_core.runs import Run


def logged_steps(run_dir: Path) -> list[int]:
    return [record["step"] for record in Run(run_dir).read_metrics()]


def test_continuing_a_finished_run_equals_a_straight_run(
        tmp_path: Path, toy_store: Path, straight_run: Path, short_run: Path) -> None:
    before = final_state(short_run)
    out = tmp_path / "longer"
    printed = train_here(out, toy_store, continue_from=short_run, **STEPS)
    assert "a new run continuing" in printed and "train settings changed: steps" in printed
    assert_same_state(final_state(out), final_state(straight_run))
    assert logged_steps(out) == logged_steps(straight_run)  # the curves start at step 0
    run = Run.open(out)
    assert run.status == "finished" and run.step == 20
    assert run.info["continued_from"] == str((short_run / "checkpoints" / "step-0000010").resolve())
    assert_same_state(final_state(short_run), before)  # the source is only read
    assert Run.open(short_run).step == 10


def test_continuing_from_a_checkpoint_folder(tmp_path: Path, toy_store: Path,
                                             straight_run: Path, short_run: Path) -> None:
    out = tmp_path / "from-step-5"
    train_here(out, toy_store, continue_from=short_run / "checkpoints" / "step-0000005", **STEPS)
    assert_same_state(final_state(out), final_state(straight_run))
    assert logged_steps(out) == logged_steps(straight_run)


def test_a_continuation_that_died_early_resumes_from_its_source(
        tmp_path: Path, toy_store: Path, straight_run: Path, short_run: Path) -> None:
    out = tmp_path / "longer"
    train_here(out, toy_store, continue_from=short_run, **STEPS)
    # what a process killed before its first checkpoint leaves: no checkpoint, no weights
    shutil.rmtree(out / "checkpoints")
    shutil.rmtree(out / "weights")
    Run(out).update(status="running")
    printed = train_here(out, toy_store, resume=True, **STEPS)
    assert "resumed from" in printed and "step-0000010" in printed
    assert_same_state(final_state(out), final_state(straight_run))


def test_disdiff_continuation_equals_a_straight_run(tmp_path: Path, toy_store: Path,
                                                    straight_run: Path) -> None:
    parents = {"backbone__from_run": straight_run, "first_stage__from_run": straight_run}
    train_here(tmp_path / "straight", toy_store, DISDIFF, train__steps=8, **parents)
    train_here(tmp_path / "short", toy_store, DISDIFF, train__steps=4, **parents)
    train_here(tmp_path / "longer", toy_store, DISDIFF, continue_from=tmp_path / "short",
               train__steps=8, **parents)
    assert_same_state(final_state(tmp_path / "longer"), final_state(tmp_path / "straight"))


def test_the_cli_continues_a_run(tmp_path: Path, toy_store: Path, straight_run: Path,
                                 short_run: Path) -> None:
    out = tmp_path / "longer"
    code, output = cli_train(out, toy_store, "--continue-from", str(short_run))
    assert code == 0, output
    assert "finished at step 20" in output
    assert_same_state(final_state(out), final_state(straight_run))


@pytest.mark.parametrize("case", ["no-checkpoint", "not-a-run", "other-stage", "with-resume"])
def test_wrong_sources_are_one_message(tmp_path: Path, toy_store: Path, short_run: Path,
                                       case: str) -> None:
    source = tmp_path / "source"
    extra = ["--continue-from", str(source)]
    if case == "no-checkpoint":
        Run.create(source, stage="backbone", recipe_yaml="stage: backbone\n")
        expected = "has no checkpoint"
    elif case == "not-a-run":
        source.mkdir()
        expected = "neither a run folder nor a checkpoint folder"
    elif case == "other-stage":
        Run.create(source, stage="disdiff", recipe_yaml="stage: disdiff\n")
        shutil.copytree(short_run / "checkpoints", source / "checkpoints", dirs_exist_ok=True)
        expected = "checkpoint of a 'disdiff' run"
    else:
        extra = ["--continue-from", str(short_run), "--resume"]
        expected = "give one of them"
    out = tmp_path / "new"
    code, output = cli_train(out, toy_store, *extra)
    assert code == 1 and expected in output and "Traceback" not in output, output
    assert not out.exists()  # nothing left behind
