"""Code reductions: one PCA component per chunk, or none."""

from __future__ import annotations

import numpy as np
import pytest

from disdiff_core.errors import DataError
from disdiff_core.evaluation.reduce import default_reduction, reduce_codes


def test_pca1_recovers_each_chunks_principal_direction() -> None:
    rng = np.random.RandomState(0)
    latent = rng.randn(500, 3)  # the scalar each chunk encodes
    directions = rng.randn(3, 8)
    codes = latent[:, :, None] * directions[None] + 0.01 * rng.randn(500, 3, 8) + 5.0
    reduced = reduce_codes(codes, "pca1")
    assert reduced.shape == (500, 3)
    for k in range(3):
        assert abs(np.corrcoef(reduced[:, k], latent[:, k])[0, 1]) > 0.999
    np.testing.assert_allclose(reduced.mean(axis=0), 0.0, atol=1e-9)  # PCA centres


def test_none_flattens_and_keeps_flat_codes() -> None:
    codes = np.arange(24.0).reshape(2, 3, 4)
    np.testing.assert_array_equal(reduce_codes(codes, "none"), codes.reshape(2, 12))
    flat = np.ones((5, 2))
    assert reduce_codes(flat, "none") is not None and reduce_codes(flat, "none").shape == (5, 2)


def test_defaults_and_errors() -> None:
    assert default_reduction(np.zeros((4, 2, 3))) == "pca1"
    assert default_reduction(np.zeros((4, 2))) == "none"
    with pytest.raises(DataError, match="use the reduction 'none'"):
        reduce_codes(np.zeros((4, 2)), "pca1")
    with pytest.raises(DataError, match="unknown reduction"):
        reduce_codes(np.zeros((4, 2)), "pca2")
    with pytest.raises(DataError, match="got shape"):
        reduce_codes(np.zeros(4), "none")
