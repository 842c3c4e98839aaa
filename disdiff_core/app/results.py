"""The typed results of the application API (:mod:`disdiff_core.api`).

Each result is a plain dataclass a caller reads by attribute; where a result is also written
to disk as JSON (an evaluation), ``record`` keeps that document exactly as written, so the file
format stays the one ``disdiff eval`` has always written and readers of old files keep working.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from disdiff_core.disdiff import DisDiffModel
    from disdiff_core.recipes.model import Recipe

#: Metrics that score codes when none are named, by what the store holds (factors or
#: attributes); torch-free here so the CLI's help can show them without importing the API.
FACTOR_METRICS = ("factorvae", "dci")
ATTRIBUTE_METRICS = ("tad",)
#: A progress callback: takes one line of text (the CLI prints it on stderr).
Progress = Callable[[str], None]


def silent(line: str) -> None:
    """The progress callback of a caller who asked for none."""


@dataclass(frozen=True)
class MetricSummary:
    """One metric number over seeds."""

    mean: float
    std: float
    values: tuple[float, ...]


@dataclass(frozen=True)
class EvalResult:
    """Metric numbers of a representation, and how they were made.

    ``metrics[name][number]`` summarises one number of one metric plugin over the seeds;
    ``modes[name]`` is ``exact`` or ``fast``; ``record`` is the JSON document (settings,
    reduction, dataset, seeds, library versions) and ``file`` where it was written, if it was."""

    metrics: dict[str, dict[str, MetricSummary]]
    modes: dict[str, str]
    seeds: tuple[int, ...]
    reduction: str
    num_codes: int
    record: dict[str, Any]
    file: Path | None = None

    @classmethod
    def from_record(cls, record: Mapping[str, Any], file: Path | None = None) -> EvalResult:
        """The typed view of an evaluation document (as :func:`evaluate_codes` returns it)."""
        metrics = {
            name: {key: MetricSummary(float(v["mean"]), float(v["std"]),
                                      tuple(float(x) for x in v.get("values", ())))
                   for key, v in numbers.items()}
            for name, numbers in record["metrics"].items()}
        return cls(metrics=metrics, modes=dict(record["modes"]),
                   seeds=tuple(int(s) for s in record["seeds"]),
                   reduction=str(record["codes"]["reduction"]),
                   num_codes=int(record["codes"]["num_codes"]), record=dict(record), file=file)

    def means(self) -> dict[str, float]:
        """``{"metric/number": mean}``, the flat form a metrics log takes."""
        return {f"{name}/{key}": summary.mean for name, numbers in self.metrics.items()
                for key, summary in numbers.items()}


@dataclass(frozen=True)
class TrainResult:
    """A trained (or reused) stage: its run folder, stage, status and last step, and the step
    at which ``train.time_limit_s`` ended it (None when it ran to its last step)."""

    path: Path
    stage: str
    status: str
    step: int
    time_limit_reached: int | None = None


@dataclass(frozen=True)
class EncodeResult:
    """Codes of a set of images, float32 (images, N, D) in the source's order, and the file
    they were written to, if any."""

    codes: np.ndarray
    source: str
    file: Path | None = None


class FigureMode(str, Enum):
    """The figures :func:`~disdiff_core.app.figures.draw_figure` draws."""

    generate = "generate"
    reconstruct = "reconstruct"
    swap = "swap"
    traverse = "traverse"


class EditStart(str, Enum):
    """Where the edits of a swap or traversal figure start sampling
    (:mod:`disdiff_core.editing`): the source's DDIM inversion (the source's identity is kept)
    or one fresh noise shared by the grid (the reference's figures: what the codes alone
    control)."""

    inverted = "inverted"
    noise = "noise"


@dataclass(frozen=True)
class Figure:
    """A labelled grid (uint8 (H, W, 3)) of one figure mode, and the PNG it was saved to."""

    mode: str
    image: np.ndarray
    file: Path | None = None


@dataclass(frozen=True)
class LoadedRun:
    """A finished DisDiff run ready for use: its folder, resolved recipe, last step and model
    (trained weights, eval mode)."""

    path: Path
    recipe: Recipe
    step: int
    model: DisDiffModel = field(repr=False)
