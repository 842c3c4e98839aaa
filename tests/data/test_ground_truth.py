"""GroundTruth with nuisance variables (SmallNORB's instance): each observation draws them from
the metric's RandomState right after its factors, as disentanglement_lib does."""

from __future__ import annotations

import numpy as np
import pytest

from disdiff_core.data.ground_truth import GroundTruth
from disdiff_core.errors import DataError

SIZES, NUISANCE_SIZES = [2, 3], [4]


def shuffled_grid() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (factor, nuisance) combination once, rows in a random order."""
    grid = np.stack(np.meshgrid(*[np.arange(s) for s in SIZES + NUISANCE_SIZES], indexing="ij"),
                    axis=-1).reshape(-1, 3)
    order = np.random.default_rng(0).permutation(len(grid))
    table = grid[order]
    return table[:, :2], table[:, 2:], table


def test_rows_match_the_factors_and_the_drawn_nuisance() -> None:
    factors, nuisance, table = shuffled_grid()
    ground_truth = GroundTruth(SIZES, factors=factors, nuisance=nuisance,
                               nuisance_sizes=NUISANCE_SIZES)
    assert ground_truth.num_rows == 24 and ground_truth.is_complete
    wanted = np.array([[0, 0], [1, 2], [1, 2], [0, 1]] * 5)
    state = np.random.RandomState(7)
    rows = ground_truth.rows_from_factors(wanted, state)
    reference = np.random.RandomState(7)
    instance = reference.randint(4, size=len(wanted))  # dlib: one randint per nuisance column
    assert np.array_equal(table[rows, :2], wanted)
    assert np.array_equal(table[rows, 2], instance)
    assert state.randint(1 << 30) == reference.randint(1 << 30)  # same stream position after


def test_sample_draws_factors_then_nuisance() -> None:
    factors, nuisance, table = shuffled_grid()
    ground_truth = GroundTruth(SIZES, factors=factors, nuisance=nuisance,
                               nuisance_sizes=NUISANCE_SIZES)
    drawn, rows = ground_truth.sample(50, np.random.RandomState(3))
    reference = np.random.RandomState(3)
    expected = np.stack([reference.randint(2, size=50), reference.randint(3, size=50)], axis=1)
    assert np.array_equal(drawn, expected)
    assert np.array_equal(table[rows, 2], reference.randint(4, size=50))


def test_nuisance_needs_a_random_state_and_the_factors_table() -> None:
    factors, nuisance, _ = shuffled_grid()
    ground_truth = GroundTruth(SIZES, factors=factors, nuisance=nuisance,
                               nuisance_sizes=NUISANCE_SIZES)
    with pytest.raises(DataError, match="random_state"):
        ground_truth.rows_from_factors(factors[:3])
    with pytest.raises(DataError, match="factors table"):
        GroundTruth(SIZES, nuisance=nuisance, nuisance_sizes=NUISANCE_SIZES)


def test_without_nuisance_no_random_number_is_used() -> None:
    ground_truth = GroundTruth(SIZES)
    state = np.random.RandomState(1)
    before = state.get_state()[1].copy()
    assert np.array_equal(ground_truth.rows_from_factors(np.array([[1, 2]]), state), [5])
    assert np.array_equal(state.get_state()[1], before)
