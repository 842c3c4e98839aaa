"""The representation-encoder contract: an image → N factor codes of D dims each.

DisDiff's encoder E_φ reads the PIXEL image (even when the diffusion runs in a latent space) and
returns z ∈ R^{N×D}; chunk z_k conditions the k-th sub-gradient field. The encoder is trained
(through the reconstruction loss only) and is deterministic: no sampling, no output
normalisation. A frozen eval-mode copy of it scores the disentangling loss (see
:mod:`disdiff_core.disdiff`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from torch import Tensor, nn


class RepresentationEncoder(nn.Module, ABC):
    """image (B, C, H, W) in [-1, 1] → z (B, N, D).

    Subclasses call ``super().__init__(num_factors, factor_dim)`` and implement
    :meth:`forward`; :meth:`split` turns a flat (B, N·D) output into (B, N, D).

    Attributes:
        num_factors: N, the number of factor codes.
        factor_dim: D, the width of each code.
    """

    def __init__(self, num_factors: int, factor_dim: int) -> None:
        super().__init__()
        if num_factors < 1 or factor_dim < 1:
            raise ValueError(f"an encoder needs N ≥ 1 and D ≥ 1, got N={num_factors}, D={factor_dim}")
        self.num_factors = num_factors
        self.factor_dim = factor_dim

    @abstractmethod
    def forward(self, x: Tensor) -> Tensor:
        """z = E(x): image (B, C, H, W) in [-1, 1] → (B, N, D)."""

    def split(self, flat: Tensor) -> Tensor:
        """(B, N·D) → (B, N, D): code k is ``flat[:, k·D:(k+1)·D]`` (the reference's chunking)."""
        return flat.reshape(flat.shape[0], self.num_factors, self.factor_dim)
