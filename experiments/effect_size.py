"""How far a condition is ahead of its control over training seeds, in the terms of the
quality issue's bar: the difference of the means in pooled standard deviations (population
std, as every study table here, and the sample std), the seeds ahead, the paired t over seeds,
and a bootstrap interval of the pooled-std difference.

The two conditions of one seed share the initial weights, the data order and the noise (only
the disentangling weight differs), so the seeds are paired: the bootstrap resamples seeds, and
a drawn seed brings both of its runs. With eight seeds the interval is wide (a pooled-std
difference of 1.7 reads roughly 1 to 3), which is why a difference near the bar says little
either way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: The issue's bar: the condition ahead of its control by more than this many pooled std.
BAR = 2.0
#: A pooled spread below this is no spread (the scores lie in [0, 1]; equal scores can leave a
#: variance of rounding size, and a difference over it would read as astronomically large).
NO_SPREAD = 1e-12
#: Below this many seeds the bootstrap is not reported: n seeds have only C(2n − 1, n) distinct
#: resamplings (2 seeds: 3, one of them with a spread, so the "interval" is a point; 4: 35).
MIN_BOOTSTRAP_SEEDS = 5


def pooled_std_difference(condition: np.ndarray, control: np.ndarray, ddof: int = 0) -> float:
    """(mean of ``condition`` − mean of ``control``) / √((s²₁ + s²₂) / 2), s the standard
    deviation with ``ddof`` (0: population, 1: sample); nan when neither varies."""
    spread = np.sqrt((condition.var(ddof=ddof) + control.var(ddof=ddof)) / 2)
    if spread < NO_SPREAD:
        return float("nan")
    return float((condition.mean() - control.mean()) / spread)


def paired_t(condition: np.ndarray, control: np.ndarray) -> float:
    """The paired t statistic over seeds: mean difference / (its sample std / √seeds)."""
    differences = condition - control
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(differences.mean() / (differences.std(ddof=1) / np.sqrt(len(differences))))


def bootstrap_interval(condition: np.ndarray, control: np.ndarray, *, level: float = 0.9,
                       draws: int = 20000, seed: int = 0) -> tuple[float, float]:
    """The central ``level`` interval of the pooled-std difference (population std) over
    ``draws`` resamplings of the seeds with replacement, pairs kept together. Resamplings in
    which both spreads vanish (one seed drawn every time) are left out; nan when every one
    does (no spread at all) or below :data:`MIN_BOOTSTRAP_SEEDS` seeds."""
    if len(condition) < MIN_BOOTSTRAP_SEEDS:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(condition), size=(draws, len(condition)))
    ours, theirs = condition[picks], control[picks]
    spread = np.sqrt((ours.var(axis=1) + theirs.var(axis=1)) / 2)
    kept = spread >= NO_SPREAD
    if not kept.any():
        return float("nan"), float("nan")
    values = (ours.mean(axis=1) - theirs.mean(axis=1))[kept] / spread[kept]
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


@dataclass(frozen=True)
class Comparison:
    """One score of a condition against its control over the same seeds."""

    score: str
    condition_mean: float
    control_mean: float
    pooled: float
    pooled_sample: float
    seeds_ahead: int
    seeds: int
    paired_t: float
    interval: tuple[float, float]

    @property
    def meets_bar(self) -> bool:
        return self.pooled > BAR


def compare(score: str, condition: np.ndarray, control: np.ndarray) -> Comparison:
    """Every figure of :class:`Comparison` for one score, per-seed values in the same seed
    order in both arrays."""
    if condition.shape != control.shape or condition.ndim != 1 or len(condition) < 2:
        raise ValueError(f"{score}: need the same two or more seeds in both conditions, "
                         f"got {condition.shape} and {control.shape}")
    return Comparison(
        score=score, condition_mean=float(condition.mean()), control_mean=float(control.mean()),
        pooled=pooled_std_difference(condition, control),
        pooled_sample=pooled_std_difference(condition, control, ddof=1),
        seeds_ahead=int((condition > control).sum()), seeds=len(condition),
        paired_t=paired_t(condition, control), interval=bootstrap_interval(condition, control))


def comparison_table(name: str, control: str, rows: list[Comparison]) -> str:
    """A Markdown table of ``rows``: ``name`` against ``control``, one line per score."""
    header = (f"| {name} against {control} | mean | control | pooled std (population) | "
              f"pooled std (sample) | 90 % bootstrap interval | seeds ahead | paired t | "
              f"above {BAR:g} |")
    lines = [header, "|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        low, high = row.interval
        interval = "–" if np.isnan(low) else f"[{low:+.2f}, {high:+.2f}]"
        lines.append(
            f"| {row.score} | {row.condition_mean:.3f} | {row.control_mean:.3f} | "
            f"{row.pooled:+.2f} | {row.pooled_sample:+.2f} | {interval} | "
            f"{row.seeds_ahead} of {row.seeds} | {row.paired_t:.2f} | "
            f"{'yes' if row.meets_bar else 'no'} |")
    return "\n".join(lines)
