"""Curves of a run's metrics log: which keys are loss terms, instruments or evaluation numbers,
and how they are grouped into plot panels."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

#: Metrics-log keys that describe the optimisation rather than a loss term.
BOOKKEEPING = frozenset({"step", "time", "lr", "steps_per_s", "skipped"})
#: Prefix of the numbers the training-time evaluation hook logs (``eval/<metric>/<number>``).
EVAL_PREFIX = "eval/"
#: Prefix of the gradient instrument's numbers (disdiff_core/stages/gradient_hook.py).
GRADIENT_PREFIX = "grad_z/"

#: Curves by name: name -> (steps, values), in logging order.
Series = dict[str, tuple[list[int], list[float]]]


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def is_loss_term(key: str) -> bool:
    """Loss terms are the plain numbers of the log: not bookkeeping, not a hook's
    ``<hook>/<number>`` (evaluation, samples)."""
    return key not in BOOKKEEPING and "/" not in key


def is_training_curve(key: str) -> bool:
    """What the training plot shows: the loss terms and instruments of the log, and the
    gradient instrument's ``grad_z/*`` numbers."""
    return is_loss_term(key) or key.startswith(GRADIENT_PREFIX)


#: Panels of the training plot, by a key's family (its first ``_``-separated word).
TRAINING_PANELS = {
    "acc": "top-1 accuracy of the disentangling logits (chance = 1/N)",
    "spread": "spread of the disentangling logits (max - min)",
    "w": "dynamic weight w (w_t0..4: its sum over timestep fifths)",
    "z": "code norms |z_k|",
}
LOSS_PANEL = "loss terms"
GRADIENT_PANEL = "gradient reaching the codes, by term (grad_z)"


def group_training_series(series: Series) -> dict[str, Series]:
    """Training curves in panels: loss terms first, then each instrument family."""
    panels: dict[str, Series] = {LOSS_PANEL: {}}
    for key, curve in series.items():
        if key.startswith(GRADIENT_PREFIX):
            panel = GRADIENT_PANEL
        else:
            panel = TRAINING_PANELS.get(key.split("_")[0], LOSS_PANEL)
        panels.setdefault(panel, {})[key.removeprefix(GRADIENT_PREFIX)] = curve
    return {title: curves for title, curves in panels.items() if curves}


def is_eval_number(key: str) -> bool:
    return key.startswith(EVAL_PREFIX)


def collect_series(records: Sequence[Mapping[str, Any]], keep: Callable[[str], bool]) -> Series:
    """Curves of the numeric keys ``keep`` accepts, each over the records that hold it."""
    series: Series = {}
    for record in records:
        step = record.get("step")
        if not is_number(step):
            continue
        for key, value in record.items():
            if keep(key) and is_number(value):
                steps, values = series.setdefault(key, ([], []))
                steps.append(int(step))
                values.append(float(value))
    return series


def split_eval_key(key: str) -> tuple[str, str]:
    """``eval/dci/disentanglement`` -> (``dci``, ``disentanglement``)."""
    metric, _, number = key.removeprefix(EVAL_PREFIX).partition("/")
    return metric, number or metric


def group_eval_series(series: Series) -> dict[str, Series]:
    """Evaluation curves grouped by metric (one plot panel each), keyed by number name."""
    panels: dict[str, Series] = {}
    for key, curve in series.items():
        metric, number = split_eval_key(key)
        panels.setdefault(metric, {})[number] = curve
    return panels

