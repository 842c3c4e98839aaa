"""Small factor grids and representations with known disentanglement for the metric tests."""

from __future__ import annotations

import numpy as np

from disdiff_core.data.ground_truth import GroundTruth

#: Small study-like settings: enough points for stable scores, fast on two CPU cores.
SMALL = {
    "factorvae": {"num_train": 300, "num_eval": 200, "num_variance_estimate": 1000},
    "dci": {"num_train": 600, "num_test": 300},
    "mig": {"num_train": 1000},
    "sap": {"num_train": 600, "num_test": 300},
}


def small_grid() -> GroundTruth:
    """Three factors of 4, 5 and 6 values: 120 rows in canonical order."""
    return GroundTruth([4, 5, 6], ["a", "b", "c"])


def grid_factors(ground_truth: GroundTruth) -> np.ndarray:
    """(num_rows, K) factor indices of every row, canonical order."""
    rows = np.arange(ground_truth.num_rows)
    return np.stack(np.unravel_index(rows, ground_truth.factor_sizes), axis=1).astype(np.float64)


def identity_codes(ground_truth: GroundTruth, noise: float = 0.01, seed: int = 7) -> np.ndarray:
    """Codes equal to the factor indices plus a little fixed noise (no exact ties between
    features, so tree tie-breaking never matters)."""
    factors = grid_factors(ground_truth)
    return factors + noise * np.random.RandomState(seed).randn(*factors.shape)
