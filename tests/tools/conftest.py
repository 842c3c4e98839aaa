"""Fixtures of the tools tests (defined in tool_runs.py)."""

from tool_runs import cli, disdiff_run, toy_store

__all__ = ["cli", "disdiff_run", "toy_store"]
