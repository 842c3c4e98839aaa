"""Training progress for people: a rich live bar on a terminal, plain lines in a log file.

Only rank 0 reports; other ranks get :class:`SilentProgress`. The live bar advances every step;
the plain reporter prints one line per ``log_every`` steps, e.g.::

    step 1200/100000  loss 0.08123  rec 0.07911  dis 0.00212  lr 3.07e-05  5.31 steps/s
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import IO, Protocol, Self


def format_metrics(values: Mapping[str, float]) -> str:
    """``name value`` pairs: 4 significant digits, scientific notation for small magnitudes."""
    parts = []
    for name, value in values.items():
        text = f"{value:.3e}" if value != 0 and abs(value) < 1e-3 else f"{value:.4g}"
        parts.append(f"{name} {text}")
    return "  ".join(parts)


class Progress(Protocol):
    """What the trainer reports to."""

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc: object) -> None: ...

    def advance(self, step: int) -> None:
        """``step`` optimiser steps are done."""

    def log(self, step: int, values: Mapping[str, float]) -> None:
        """The periodic summary (mean loss terms, lr, steps/s)."""

    def message(self, text: str) -> None:
        """A one-off notice (resumed from …, checkpoint written …)."""


class SilentProgress:
    """The reporter of non-main ranks."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def advance(self, step: int) -> None:
        return None

    def log(self, step: int, values: Mapping[str, float]) -> None:
        return None

    def message(self, text: str) -> None:
        return None


class LineProgress(SilentProgress):
    """One plain line per log interval, for log files and pipes."""

    def __init__(self, total: int | None, stream: IO[str]):
        self.total = total
        self.stream = stream

    def log(self, step: int, values: Mapping[str, float]) -> None:
        of_total = f"/{self.total}" if self.total else ""
        self.message(f"step {step}{of_total}  {format_metrics(values)}")

    def message(self, text: str) -> None:
        print(text, file=self.stream, flush=True)


class LiveProgress(LineProgress):
    """A rich progress bar with the latest loss beside it; the periodic summary lines and
    notices scroll above the bar."""

    def __init__(self, total: int | None, stream: IO[str]):
        super().__init__(total, stream)
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Progress as RichProgress

        self._bar = RichProgress(
            TextColumn("[bold]train"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[loss]}"),
            console=Console(file=stream),
            refresh_per_second=4,
        )
        self._task = self._bar.add_task("train", total=total, loss="")

    def __enter__(self) -> Self:
        self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._bar.stop()

    def advance(self, step: int) -> None:
        self._bar.update(self._task, completed=step)

    def log(self, step: int, values: Mapping[str, float]) -> None:
        loss = format_metrics({"loss": values["loss"]}) if "loss" in values else ""
        self._bar.update(self._task, completed=step, loss=loss)
        super().log(step, values)

    def message(self, text: str) -> None:
        self._bar.console.print(text, markup=False, highlight=False)


def make_progress(*, is_main: bool, total: int | None, stream: IO[str] | None = None) -> Progress:
    """Live bar for rank 0 on a terminal, plain lines for rank 0 otherwise, silence elsewhere."""
    if not is_main:
        return SilentProgress()
    stream = stream or sys.stdout
    if stream.isatty():
        return LiveProgress(total, stream)
    return LineProgress(total, stream)
