"""Reductions of vector-valued factor codes to the scalar codes dlib's metrics expect.

DisDiff's encoder gives z ∈ R^{N×D} per image; the paper's protocol fits, for each factor chunk
z_k, a 1-component PCA over ALL images of the dataset and scores the N projections (the
reference's ``PCA(n_components=1).fit_transform`` per chunk; seeded here so that a randomised
solver, if sklearn picks one, is repeatable). Other works skip or group it, so the reduction
is a named option recorded with every result:

* ``pca1``: (num_images, N, D) -> (num_images, N), one PCA component per chunk.
* ``none``: every dimension is a code: (num_images, N, D) -> (num_images, N·D), and
  (num_images, C) stays as it is.
"""

from __future__ import annotations

import numpy as np
from sklearn.decomposition import PCA

from disdiff_core.errors import DataError

REDUCTIONS = ("pca1", "none")


def default_reduction(codes: np.ndarray) -> str:
    """``pca1`` for chunked (num_images, N, D) codes, ``none`` for flat (num_images, C) ones."""
    return "pca1" if np.ndim(codes) == 3 else "none"


def reduce_codes(codes: np.ndarray, reduction: str) -> np.ndarray:
    """Reduce codes (num_images, N, D) or (num_images, C) to (num_images, num_codes).

    Raises DataError for an unknown reduction, a shape other than 2-D/3-D, or ``pca1`` on 2-D
    codes (which have no chunks to project).
    """
    codes = np.asarray(codes)
    if reduction not in REDUCTIONS:
        raise DataError(f"unknown reduction {reduction!r}; choose one of {', '.join(REDUCTIONS)}")
    if codes.ndim not in (2, 3):
        raise DataError(
            f"codes must be (images, codes) or (images, N, D); got shape {codes.shape}"
        )
    if reduction == "none":
        return codes.reshape(codes.shape[0], -1)
    if codes.ndim != 3:
        raise DataError(
            "pca1 projects each D-dim chunk of (images, N, D) codes; these codes are "
            f"{codes.shape} (images, codes): use the reduction 'none'"
        )
    pca = PCA(n_components=1, random_state=0)
    return np.concatenate([pca.fit_transform(codes[:, k]) for k in range(codes.shape[1])], axis=1)
