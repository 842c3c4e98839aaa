"""Exact DCI fits its per-factor boosters in parallel processes with the serial numbers."""

from __future__ import annotations

import numpy as np
import pytest

from disdiff_plugins.metrics import dci


def _problem() -> tuple[np.ndarray, ...]:
    """Codes (3, 120) of two factors with 3 and 2 classes (a multiclass and a binary fit)."""
    rng = np.random.RandomState(0)
    factors = np.stack([rng.randint(0, size, 120) for size in (3, 2)])
    codes = np.vstack([factors + 0.8 * rng.randn(*factors.shape), rng.randn(1, 120)])
    return codes[:, :80], factors[:, :80], codes[:, 80:], factors[:, 80:]


def _importance(n_jobs: int) -> tuple[tuple[np.ndarray, float, float], int]:
    random_state = np.random.RandomState(5)
    result = dci.compute_importance(*_problem(), random_state, n_jobs=n_jobs)
    return result, random_state.randint(2**31 - 1)


def test_parallel_fits_give_the_serial_numbers_and_generator_state() -> None:
    (serial, serial_next), (parallel, parallel_next) = _importance(1), _importance(2)
    np.testing.assert_array_equal(parallel[0], serial[0])
    assert parallel[1:] == serial[1:]
    assert parallel_next == serial_next  # the RandomState ends where the serial fits leave it


def test_a_wrong_draw_prediction_is_refitted_not_trusted(monkeypatch: pytest.MonkeyPatch) -> None:
    expected = _importance(1)
    monkeypatch.setattr(dci, "draws_per_fit", lambda labels: 7)
    (importance, *accuracies), next_draw = _importance(1)
    np.testing.assert_array_equal(importance, expected[0][0])
    assert (tuple(accuracies), next_draw) == (expected[0][1:], expected[1])
