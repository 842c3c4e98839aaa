"""Pieces shared by the factor metrics, as disentanglement_lib's ``metrics/utils.py`` defines them.

The sampling order matters: a metric's numbers at a fixed seed equal dlib's only if it draws
from the RandomState in exactly dlib's order (factor by factor, batch by batch). Layouts follow
dlib too: sampled codes are (num_codes, num_points), factors (num_factors, num_points).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.metrics import mutual_info_score

from disdiff_core.data.ground_truth import GroundTruth
from disdiff_core.interfaces.metric import FactorMetric, RepresentationFunction
from disdiff_core.plugin import Params


def generate_batch_factor_code(
    ground_truth: GroundTruth,
    representation_function: RepresentationFunction,
    num_points: int,
    random_state: np.random.RandomState,
    batch_size: int = 16,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``num_points`` (factors, code) pairs, ``batch_size`` at a time (dlib's order).

    Returns:
        codes (num_codes, num_points) and factors (num_factors, num_points).
    """
    codes, factors = [], []
    for start in range(0, num_points, batch_size):
        batch_factors, rows = ground_truth.sample(min(batch_size, num_points - start), random_state)
        factors.append(batch_factors)
        codes.append(np.asarray(representation_function(rows)))
    return np.vstack(codes).T, np.vstack(factors).T


def histogram_discretize(codes: np.ndarray, num_bins: int) -> np.ndarray:
    """Bin each code (row of ``codes``, (num_codes, num_points)) into ``num_bins`` equal-width
    bins over its own range: ``np.digitize`` against ``np.histogram``'s left edges, so values
    are 1..num_bins."""
    discretized = np.zeros(codes.shape, dtype=np.int64)
    for i, row in enumerate(codes):
        discretized[i] = np.digitize(row, np.histogram(row, num_bins)[1][:-1])
    return discretized


def discrete_mutual_info(codes: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """Mutual information (nats) of every discrete code with every factor.

    Args:
        codes: (num_codes, num_points) discrete labels; factors: (num_factors, num_points).

    Returns:
        (num_codes, num_factors) matrix.
    """
    return np.array([[mutual_info_score(factor, code) for factor in factors] for code in codes])


def discrete_entropy(factors: np.ndarray) -> np.ndarray:
    """Entropy (nats) of each row of ``factors`` (num_factors, num_points), as I(y; y)."""
    return np.array([mutual_info_score(factor, factor) for factor in factors])


def normalize_data(
    data: np.ndarray, mean: np.ndarray | None = None, stddev: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Standardise each row of ``data`` (num_codes, num_points); the train statistics are
    returned so the test set can reuse them."""
    mean = np.mean(data, axis=1) if mean is None else mean
    stddev = np.std(data, axis=1) if stddev is None else stddev
    return (data - mean[:, np.newaxis]) / stddev[:, np.newaxis], mean, stddev


class FunctionFactorMetric(FactorMetric):
    """A factor metric plugin backed by a pure function ``fn(ground_truth,
    representation_function, random_state, **params)``; the parameter model's fields are the
    function's keyword arguments."""

    def __init__(self, fn: Callable[..., dict[str, float]], params: Params) -> None:
        super().__init__(params)
        self.fn = fn

    def __call__(
        self,
        ground_truth: GroundTruth,
        representation_function: RepresentationFunction,
        random_state: np.random.RandomState,
    ) -> dict[str, float]:
        return self.fn(ground_truth, representation_function, random_state, **dict(self.params))


def factor_metric_factory(fn: Callable[..., dict[str, float]]) -> Callable[..., FactorMetric]:
    """The plugin factory (``factory(params)``) of a pure factor-metric function."""

    def build(params: Params, **_runtime: Any) -> FactorMetric:
        return FunctionFactorMetric(fn, params)

    build.__doc__ = f"Build the metric plugin that runs :func:`{fn.__name__}`."
    return build
