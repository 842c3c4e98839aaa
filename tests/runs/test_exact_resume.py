"""A resumed run equals an uninterrupted one bit for bit (weights, EMA, optimiser moments, RNG
states, data position): after a clean stop, after a death before the first checkpoint, and
after `disdiff train` processes are killed (SIGKILL) at random moments and resumed with
`--resume`, each time taking over the lock the killed process left; for the backbone and the
DisDiff stage."""

from __future__ import annotations

import contextlib
import json
import random
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from tiny_runs import (
    DISDIFF,
    STEPS,
    assert_same_state,
    final_state,
    kill,
    logged_step,
    start_training,
    train_here,
    train_to_end,
    wait_until,
)

from disdiff_core.runs import Run


@pytest.fixture(scope="module")
def straight(straight_run: Path) -> dict[str, bytes]:
    """The straight run's final state."""
    return final_state(straight_run)


def test_stop_and_resume_equals_a_straight_run(tmp_path: Path, toy_store: Path,
                                               straight: dict[str, bytes]) -> None:
    out = tmp_path / "run"
    train_here(out, toy_store, **{**STEPS, "train__steps": 10})
    printed = train_here(out, toy_store, resume=True, **STEPS)
    assert "resumed from" in printed and "data order restarts" not in printed
    assert_same_state(final_state(out), straight)


@pytest.mark.filterwarnings("ignore:This DataLoader will create:UserWarning")
def test_stop_and_resume_with_chunked_reading_and_workers(tmp_path: Path,
                                                          toy_store: Path) -> None:
    data = {"data__in_memory": "false", "data__num_workers": 3, "train__checkpoint_every": 3}
    train_here(tmp_path / "straight", toy_store, train__steps=8, **data)
    out = tmp_path / "split"
    train_here(out, toy_store, train__steps=5, **data)  # a position that 3 workers do not divide
    train_here(out, toy_store, resume=True, train__steps=8, **data)
    assert_same_state(final_state(out), final_state(tmp_path / "straight"))


def test_disdiff_stop_and_resume_equals_a_straight_run(tmp_path: Path, toy_store: Path,
                                                       straight_run: Path) -> None:
    parents = {"backbone__from_run": straight_run, "first_stage__from_run": straight_run}
    train_here(tmp_path / "straight", toy_store, DISDIFF, train__steps=8, **parents)
    out = tmp_path / "split"
    train_here(out, toy_store, DISDIFF, train__steps=4, **parents)
    train_here(out, toy_store, DISDIFF, resume=True, train__steps=8, **parents)
    assert_same_state(final_state(out), final_state(tmp_path / "straight"))


def test_resume_of_a_run_that_died_before_its_first_checkpoint(
        tmp_path: Path, toy_store: Path, straight: dict[str, bytes]) -> None:
    out = tmp_path / "run"
    train_here(out, toy_store, train__steps=3, train__checkpoint_every=None)
    # what a process killed at step 3 leaves: no checkpoint, no exported backbone yet
    shutil.rmtree(out / "checkpoints")
    (out / "weights" / "backbone.safetensors").unlink()
    Run(out).update(status="running")
    printed = train_here(out, toy_store, resume=True, **STEPS)
    assert "no checkpoint" in printed and "starting from step 0" in printed
    assert_same_state(final_state(out), straight)
    steps = [record["step"] for record in Run(out).read_metrics()]
    assert steps == sorted(set(steps))  # the dead process's lines were dropped


def test_killed_training_resumes_exactly(tmp_path: Path, toy_store: Path,
                                         straight: dict[str, bytes]) -> None:
    out = tmp_path / "run"
    first = start_training(out, toy_store, **STEPS)
    assert wait_until((out / "checkpoints" / "latest").exists, first), kill(first)
    kill(first)
    assert first.returncode == -9
    printed = train_to_end(out, toy_store, **STEPS)
    assert "took over the stale lock" in printed and "resumed from" in printed
    assert_same_state(final_state(out), straight)


@pytest.mark.slow
def test_training_killed_at_random_moments_resumes_exactly(
        tmp_path: Path, toy_store: Path, straight: dict[str, bytes]) -> None:
    """Killed once during start-up, then each time soon after a random step was logged (so
    also while hooks run and checkpoints are written), whatever the machine's speed."""
    out = tmp_path / "run"
    moments = random.Random(18)  # kills after steps 6, 10, 12 and 16 are logged
    first = start_training(out, toy_store, **STEPS)
    with contextlib.suppress(subprocess.TimeoutExpired):
        first.wait(timeout=moments.uniform(0.5, 3.0))
    printed = [kill(first)]
    for target in sorted(moments.sample(range(2, STEPS["train__steps"]), 4)):
        process = start_training(out, toy_store, resume=True, **STEPS)
        if not wait_until(lambda: logged_step(out) >= target, process):  # noqa: B023
            break
        time.sleep(moments.uniform(0.0, 0.15))
        printed.append(kill(process))
    printed.append(train_to_end(out, toy_store, **STEPS))
    assert len(printed) >= 4 and any("resumed from" in text for text in printed), printed
    assert json.loads((out / "run.json").read_text())["status"] == "finished"
    assert_same_state(final_state(out), straight)
