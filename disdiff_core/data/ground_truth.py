"""Ground-truth factor access for metrics, in disentanglement_lib's contract.

A ground truth has K discrete factors of sizes s_1..s_K whose observations are stored in
canonical C order: ``index = ravel_multi_index(factors, sizes)``. Metrics draw factors, turn
them into observations and pass the observations to a representation function. Here an
observation is the canonical row index of the image, so one ground truth serves both images
(look the rows up in a store) and precomputed codes (``codes[rows]``), and metric code never
touches zarr.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from disdiff_core.errors import DataError


class GroundTruth:
    """Discrete factors of a dataset and the row holding each factor combination.

    Args:
        factor_sizes: number of values of each factor, canonical order.
        factor_names: names of the factors (defaults to ``factor_0`` …).
        factors: optional (num_rows, K) table of factor indices of each stored row, for a store
            that holds a subset of the grid or holds it out of order. Without it the rows are the
            full grid in canonical order.
    """

    def __init__(
        self,
        factor_sizes: Sequence[int],
        factor_names: Sequence[str] | None = None,
        factors: np.ndarray | None = None,
    ) -> None:
        self.factor_sizes = [int(s) for s in factor_sizes]
        self.factor_names = list(factor_names or [f"factor_{k}" for k in range(len(factor_sizes))])
        if len(self.factor_names) != len(self.factor_sizes):
            raise DataError("factor_names and factor_sizes differ in length")
        grid = int(np.prod(self.factor_sizes))
        self._row_of_index: np.ndarray | None = None
        if factors is not None:
            factors = np.asarray(factors, dtype=np.int64)
            flat = np.ravel_multi_index(factors.T, self.factor_sizes)
            if not np.array_equal(flat, np.arange(grid)):
                lookup = np.full(grid, -1, dtype=np.int64)
                lookup[flat] = np.arange(len(flat))
                self._row_of_index = lookup
            self.num_rows = len(factors)
        else:
            self.num_rows = grid

    @property
    def num_factors(self) -> int:
        return len(self.factor_sizes)

    @property
    def is_complete(self) -> bool:
        """True when every factor combination has a row (what the metrics' sampling assumes)."""
        return self._row_of_index is None or bool((self._row_of_index >= 0).all())

    def sample_factors(self, num: int, random_state: np.random.RandomState) -> np.ndarray:
        """Draw ``num`` factor combinations, each factor uniformly and independently
        (disentanglement_lib draws factor by factor in the same order)."""
        out = np.zeros((num, self.num_factors), dtype=np.int64)
        for k, size in enumerate(self.factor_sizes):
            out[:, k] = random_state.randint(size, size=num)
        return out

    def rows_from_factors(self, factors: np.ndarray) -> np.ndarray:
        """Row indices holding the given factor combinations."""
        flat = np.ravel_multi_index(np.asarray(factors, dtype=np.int64).T, self.factor_sizes)
        if self._row_of_index is None:
            return flat
        rows = self._row_of_index[flat]
        if (rows < 0).any():
            raise DataError(
                "the dataset does not hold every factor combination the metric asked for; "
                "metrics need the full factor grid"
            )
        return rows

    def sample(
        self, num: int, random_state: np.random.RandomState
    ) -> tuple[np.ndarray, np.ndarray]:
        """Draw factors and return (factors, rows)."""
        factors = self.sample_factors(num, random_state)
        return factors, self.rows_from_factors(factors)
