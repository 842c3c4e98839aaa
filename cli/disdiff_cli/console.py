"""Shared rich consoles and small rendering helpers for the CLI."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console

#: Results go to stdout; progress, warnings and errors to stderr.
out = Console(highlight=False)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def print_json(data: Any) -> None:
    """Print machine-readable JSON on stdout, unstyled, one document."""
    print(json.dumps(data, indent=2, default=str))


def dim_progress(line: str) -> None:
    """The progress callback of commands that report a few lines on stderr, dimmed."""
    from rich.markup import escape

    err.print(f"[dim]{escape(line)}[/]")
