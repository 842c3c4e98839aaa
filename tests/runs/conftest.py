"""Fixtures of the run tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from tiny_runs import SHORT, STEPS, train_here

from disdiff_plugins.datasets.specs import TOY_SHAPES


@pytest.fixture(scope="session")
def toy_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The 864-image 16×16 toy-shapes store every tiny run reads."""
    return TOY_SHAPES.build({"size": 16}).prepare(tmp_path_factory.mktemp("toy") / "toy.zarr")


@pytest.fixture(scope="session")
def straight_run(tmp_path_factory: pytest.TempPathFactory, toy_store: Path) -> Path:
    """The tiny backbone run trained without interruption (:data:`tiny_runs.STEPS`)."""
    out = tmp_path_factory.mktemp("straight") / "run"
    train_here(out, toy_store, **STEPS)
    return out


@pytest.fixture(scope="session")
def short_run(tmp_path_factory: pytest.TempPathFactory, toy_store: Path) -> Path:
    """The same recipe stopped (finished) at half the steps (:data:`tiny_runs.SHORT`)."""
    out = tmp_path_factory.mktemp("short") / "run"
    train_here(out, toy_store, **SHORT)
    return out
