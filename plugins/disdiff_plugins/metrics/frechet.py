"""The Fréchet distance between two Gaussians fitted to feature sets (the "F" of FID), in
float64, handled the way the standard implementations (TTUR, pytorch-fid) handle it:

    d² = ‖μ₁ − μ₂‖² + Tr(Σ₁) + Tr(Σ₂) − 2·Tr(√(Σ₁Σ₂))

Tr(√(Σ₁Σ₂)) has two paths (``matrix_root``):

* ``sqrtm`` (default): ``scipy.linalg.sqrtm`` of Σ₁Σ₂, as pytorch-fid computes it, so numbers
  stay comparable with published FIDs. For (near) singular covariances it can fail (non-finite
  entries): then ε·I is added to both covariances. Its result can carry tiny imaginary parts
  from rounding: they are dropped when the diagonal's imaginary parts are below 1e-3, otherwise
  it is an error. Slow for Inception's 2048-d features (tens of seconds on one thread).
* ``eigh``: Σ₁Σ₂ is similar to the symmetric √Σ₁ Σ₂ √Σ₁, so Tr(√(Σ₁Σ₂)) = Σᵢ √λᵢ(√Σ₁ Σ₂ √Σ₁),
  with √Σ₁ from a symmetric eigendecomposition. Two symmetric eigenproblems instead of a
  general Schur form: several times faster, real by construction, and equal to ``sqrtm`` to
  rounding on full-rank covariances (to ~1e-5 relative on rank-deficient ones, where ``sqrtm``
  itself is least accurate). Eigenvalues that rounding makes slightly negative are taken as 0.

Torch-free, so it can be tested and reused without a model.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.linalg

from disdiff_plugins.metrics.specs import MatrixRoot


@dataclass(frozen=True)
class FeatureStatistics:
    """Mean (d,) and covariance (d, d) of a feature set, float64, plus how many samples."""

    mu: np.ndarray
    sigma: np.ndarray
    num_samples: int

    @classmethod
    def from_features(cls, features: np.ndarray) -> FeatureStatistics:
        """Statistics of features (num_samples, d); covariance with ddof=1 as ``np.cov``."""
        features = np.asarray(features, dtype=np.float64)
        if features.ndim != 2 or features.shape[0] < 2:
            raise ValueError(f"need features shaped (num_samples >= 2, d), got {features.shape}")
        return cls(features.mean(axis=0), np.cov(features, rowvar=False), features.shape[0])

    def save(self, path: str | Path) -> None:
        """Write ``mu``/``sigma``/``num_samples`` to an .npz (the layout pytorch-fid reads)."""
        np.savez(path, mu=self.mu, sigma=self.sigma, num_samples=self.num_samples)

    @classmethod
    def load(cls, path: str | Path) -> FeatureStatistics:
        """Read statistics written by :meth:`save` (or by pytorch-fid's ``--save-stats``)."""
        with np.load(path) as data:
            num = int(data["num_samples"]) if "num_samples" in data else 0
            mu, sigma = np.asarray(data["mu"], np.float64), np.asarray(data["sigma"], np.float64)
            return cls(mu, sigma, num)


def frechet_distance(
    mu1: np.ndarray,
    sigma1: np.ndarray,
    mu2: np.ndarray,
    sigma2: np.ndarray,
    eps: float = 1e-6,
    *,
    matrix_root: MatrixRoot = "sqrtm",
) -> float:
    """Squared Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2).

    Args:
        mu1, mu2: means (d,); sigma1, sigma2: covariances (d, d), symmetric.
        eps: diagonal offset used only when the plain ``sqrtm`` root is not finite.
        matrix_root: how Tr(√(Σ₁Σ₂)) is computed: ``"sqrtm"`` (pytorch-fid's way, so results
            compare with published FIDs) or ``"eigh"`` (the symmetric eigenvalue form, several
            times faster, equal to rounding); see the module docstring.
    """
    mu1 = np.atleast_1d(np.asarray(mu1, np.float64))
    mu2 = np.atleast_1d(np.asarray(mu2, np.float64))
    sigma1 = np.atleast_2d(np.asarray(sigma1, np.float64))
    sigma2 = np.atleast_2d(np.asarray(sigma2, np.float64))
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
        raise ValueError("the two feature statistics have different dimensions")
    if matrix_root == "sqrtm":
        trace_root = sqrtm_trace_root(sigma1, sigma2, eps)
    elif matrix_root == "eigh":
        trace_root = eigh_trace_root(sigma1, sigma2)
    else:
        raise ValueError(f"matrix_root must be 'sqrtm' or 'eigh', got {matrix_root!r}")
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * trace_root)


def sqrtm_trace_root(sigma1: np.ndarray, sigma2: np.ndarray, eps: float) -> float:
    """Tr(√(Σ₁Σ₂)) through ``scipy.linalg.sqrtm``, exactly as pytorch-fid (ε·I retry when the
    root is not finite, small imaginary parts dropped)."""
    covmean = scipy.linalg.sqrtm(sigma1 @ sigma2)
    if not np.isfinite(covmean).all():
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = scipy.linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    if np.iscomplexobj(covmean):
        largest = np.max(np.abs(np.diagonal(covmean).imag))
        if largest > 1e-3:
            raise ValueError(f"matrix square root has an imaginary component of {largest:.3g}")
        covmean = covmean.real
    return float(np.trace(covmean))


def eigh_trace_root(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    """Tr(√(Σ₁Σ₂)) = Σᵢ √λᵢ(√Σ₁ Σ₂ √Σ₁) for symmetric positive semi-definite Σ₁, Σ₂; negative
    eigenvalues (rounding) of Σ₁ and of the product are clipped to 0."""
    values, vectors = scipy.linalg.eigh(sigma1)
    root1 = (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T
    eigenvalues = scipy.linalg.eigvalsh(root1 @ sigma2 @ root1)
    return float(np.sum(np.sqrt(np.clip(eigenvalues, 0.0, None))))
