"""Fixtures of the data tests: the CLI (the real app once it has the `data` group, else a
minimal app with the same error handling) and a check that a failed conversion left nothing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner, Result


def _app() -> typer.Typer:
    from disdiff_cli.app import DisdiffGroup, app

    if any(group.name == "data" for group in app.registered_groups):
        return app
    from disdiff_cli.data_cmd import data_app

    local = typer.Typer(cls=DisdiffGroup, pretty_exceptions_enable=False)
    local.add_typer(data_app, name="data")
    return local


@pytest.fixture(scope="session")
def cli() -> Callable[..., Result]:
    """``cli("data", "prepare", ...)`` → the typer Result (exit_code, output)."""
    app, runner = _app(), CliRunner()

    def invoke(*args: object) -> Result:
        return runner.invoke(app, [str(a) for a in args])

    return invoke


@pytest.fixture
def nothing_left() -> Callable[[Path], None]:
    """Assert that no store and no temporary sibling of ``out`` exist."""

    def check(out: Path) -> None:
        assert not out.exists(), f"{out} was left behind"
        leftovers = list(out.parent.glob(f".{out.name}.*"))
        assert not leftovers, f"temporary folders left: {leftovers}"

    return check
