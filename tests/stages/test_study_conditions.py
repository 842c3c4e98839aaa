"""The study's conditions (experiments/toy_disentanglement.py): each ``-x10`` condition continues
its ``-x5`` twin only where the two are the same recipe but for the steps (the continuation then
equals a straight run; see tests/runs/test_continue_run.py), and training starts from the
conditions a chain needs."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "experiments"))
study = pytest.importorskip("toy_disentanglement")


def test_continued_conditions_differ_from_their_twin_only_in_steps() -> None:
    continued = {name: condition.continues for name, condition in study.CONDITIONS.items()
                 if condition.continues}
    assert continued["disdiff-lam0.2-b32-x10"] == "disdiff-lam0.2-b32-x5"
    assert continued["lambda0-b32-x10"] == "lambda0-b32-x5"
    for name, twin in continued.items():
        longer, shorter = study.CONDITIONS[name], study.CONDITIONS[twin]
        assert (longer.steps_scale, shorter.steps_scale) == (10, 5)
        assert replace(longer, steps_scale=5, label=shorter.label, continues=None) == shorter


def test_a_condition_whose_loss_depends_on_its_steps_starts_over() -> None:
    # a λ ramp over half the run is a different recipe at 4000 and 8000 steps
    name = "disdiff-lam0.2-lwarmup-x10"
    study.CONDITIONS[name] = replace(study.CONDITIONS["disdiff-lam0.2-lwarmup-x5"], steps_scale=10)
    try:
        assert study.shorter_twin(name) is None
    finally:
        del study.CONDITIONS[name]


def test_training_order_puts_the_shorter_twin_first() -> None:
    assert study.train_order(["disdiff-lam0.2-b32-x10", "untrained"]) == [
        "disdiff-lam0.2-b32-x5", "disdiff-lam0.2-b32-x10"]
