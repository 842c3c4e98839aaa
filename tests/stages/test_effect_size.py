"""The study's comparison of a condition with its control (experiments/effect_size.py): the
pooled-std difference the quality issue's bar is stated in, the paired t, the seed-resampling
bootstrap interval, and the table the study runner writes with ``--compare``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "experiments"))
effect_size = pytest.importorskip("effect_size")


def test_pooled_std_difference_with_population_and_sample_spread() -> None:
    condition, control = np.array([1.0, 2.0, 3.0]), np.array([0.0, 1.0, 2.0])
    # both population variances 2/3: a difference of 1 is 1 / sqrt(2/3) pooled std
    assert effect_size.pooled_std_difference(condition, control) == pytest.approx(1.5 ** 0.5)
    assert effect_size.pooled_std_difference(condition, control, ddof=1) == pytest.approx(1.0)


def test_paired_t_is_the_mean_difference_over_its_standard_error() -> None:
    control = np.array([0.5, 0.1, 0.9])
    condition = control + np.array([1.0, 2.0, 3.0])  # differences: mean 2, sample std 1
    assert effect_size.paired_t(condition, control) == pytest.approx(2 * 3 ** 0.5)


def test_bootstrap_interval_brackets_the_estimate_and_repeats() -> None:
    rng = np.random.default_rng(1)
    control = rng.normal(0.0, 1.0, 8)
    condition = control + rng.normal(1.5, 1.0, 8)
    low, high = effect_size.bootstrap_interval(condition, control, draws=4000)
    assert low < effect_size.pooled_std_difference(condition, control) < high
    assert (low, high) == effect_size.bootstrap_interval(condition, control, draws=4000)
    narrower = effect_size.bootstrap_interval(condition, control, draws=4000, level=0.5)
    assert low < narrower[0] < narrower[1] < high


def test_bootstrap_interval_excludes_zero_for_a_clear_separation() -> None:
    control = np.array([0.10, 0.12, 0.11, 0.13, 0.09, 0.10])
    condition = control + 0.5
    low, _ = effect_size.bootstrap_interval(condition, control, draws=2000)
    assert low > effect_size.BAR


def test_compare_counts_seeds_ahead_and_judges_the_bar() -> None:
    control = np.array([0.40, 0.38, 0.45, 0.43])
    condition = np.array([0.56, 0.55, 0.40, 0.53])
    row = effect_size.compare("FactorVAE", condition, control)
    assert (row.seeds_ahead, row.seeds) == (3, 4)
    assert row.condition_mean == pytest.approx(0.51) and row.control_mean == pytest.approx(0.415)
    assert row.meets_bar == (row.pooled > 2.0)
    table = effect_size.comparison_table("disdiff", "lambda0", [row])
    assert "disdiff against lambda0" in table and "3 of 4" in table


def test_no_spread_at_all_has_no_interval() -> None:
    same = np.array([0.2, 0.2, 0.2])
    assert all(np.isnan(effect_size.bootstrap_interval(same, same)))


def test_compare_refuses_unpaired_or_single_seeds() -> None:
    with pytest.raises(ValueError, match="DCI"):
        effect_size.compare("DCI", np.array([0.1, 0.2, 0.3]), np.array([0.1, 0.2]))
    with pytest.raises(ValueError, match="two or more seeds"):
        effect_size.compare("DCI", np.array([0.1]), np.array([0.2]))


def test_study_writes_one_table_per_compared_pair() -> None:
    study = pytest.importorskip("toy_disentanglement")
    seeds = ["0", "1", "2"]
    results = {
        "disdiff": {s: {"factorvae/eval_accuracy": 0.5 + 0.01 * i,
                        "dci/disentanglement": 0.2 + 0.02 * i} for i, s in enumerate(seeds)},
        "lambda0": {s: {"factorvae/eval_accuracy": 0.4 - 0.01 * i,
                        "dci/disentanglement": 0.2 - 0.01 * i} for i, s in enumerate(seeds)},
    }
    args = argparse.Namespace(seeds=seeds, compare=[("disdiff", "lambda0")])
    text = study.comparisons(args, results)
    assert text.startswith("| disdiff against lambda0 |")
    assert "| FactorVAE score | 0.510 | 0.390 |" in text
    assert "| DCI disentanglement | 0.220 | 0.190 |" in text
    # a score the runs do not have (MIG here) is left out rather than shown as nan
    assert "MIG" not in text and "nan" not in text


@pytest.mark.parametrize("arguments", [
    ["--seeds", "2", "--conditions", "disdiff", "lambda0", "--compare", "disdiff", "lambda0"],
    ["--seeds", "0", "1", "--conditions", "disdiff", "--compare", "disdiff", "lambda0"]])
def test_study_refuses_a_comparison_it_cannot_make(arguments: list[str],
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    study = pytest.importorskip("toy_disentanglement")
    monkeypatch.setattr(sys, "argv", ["toy_disentanglement.py", *arguments])
    with pytest.raises(SystemExit) as exit_info:
        study.parse_args()
    assert exit_info.value.code == 2 and "--compare" in capsys.readouterr().err


def test_too_few_seeds_have_no_interval() -> None:
    # two seeds: every resampling with a spread draws both, so an "interval" would be a point
    condition, control = np.array([0.45, 0.50]), np.array([0.38, 0.43])
    assert all(np.isnan(effect_size.bootstrap_interval(condition, control)))
    row = effect_size.compare("DCI", condition, control)
    assert "| – |" in effect_size.comparison_table("a", "b", [row])
