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
        nuisance: optional (num_rows, M) indices of variables that vary in the data but are not
            factors (SmallNORB's object instance), with ``nuisance_sizes``. Each factor
            combination then has several rows, and every observation draws its nuisance values
            uniformly with the metric's RandomState, after its factors, exactly as
            disentanglement_lib's SplitDiscreteStateSpace does (one randint per nuisance column,
            in column order).
    """

    def __init__(
        self,
        factor_sizes: Sequence[int],
        factor_names: Sequence[str] | None = None,
        factors: np.ndarray | None = None,
        nuisance: np.ndarray | None = None,
        nuisance_sizes: Sequence[int] = (),
    ) -> None:
        self.factor_sizes = [int(s) for s in factor_sizes]
        self.factor_names = list(factor_names or [f"factor_{k}" for k in range(len(factor_sizes))])
        if len(self.factor_names) != len(self.factor_sizes):
            raise DataError("factor_names and factor_sizes differ in length")
        self.nuisance_sizes = [int(s) for s in nuisance_sizes] if nuisance is not None else []
        if nuisance is not None:
            if factors is None or len(nuisance) != len(factors):
                raise DataError("nuisance labels need the factors table, one row each")
            factors = np.concatenate([np.asarray(factors), np.asarray(nuisance)], axis=1)
        sizes = self.factor_sizes + self.nuisance_sizes
        grid = int(np.prod(sizes))
        self._row_of_index: np.ndarray | None = None
        if factors is not None:
            factors = np.asarray(factors, dtype=np.int64)
            flat = np.ravel_multi_index(factors.T, sizes)
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

    def rows_from_factors(
        self, factors: np.ndarray, random_state: np.random.RandomState | None = None
    ) -> np.ndarray:
        """Row indices holding the given factor combinations; with nuisance variables, their
        values are drawn from ``random_state`` (required then) for each row."""
        factors = np.asarray(factors, dtype=np.int64)
        if self.nuisance_sizes:
            if random_state is None:
                raise DataError("this dataset draws its nuisance variables at random for each "
                                "observation: pass the metric's random_state")
            drawn = [random_state.randint(size, size=len(factors)) for size in self.nuisance_sizes]
            factors = np.column_stack([factors, *drawn])
        flat = np.ravel_multi_index(factors.T, self.factor_sizes + self.nuisance_sizes)
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
        return factors, self.rows_from_factors(factors, random_state)
