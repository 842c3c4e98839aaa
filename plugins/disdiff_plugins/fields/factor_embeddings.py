"""Learnable embeddings of the factor index k, added to the time embedding of DisDiff's field.

Both modules take no input and return the (N, P) table of all factor embeddings, so a field
computes it once per forward pass (the orthogonal one costs one P×P matrix exponential).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class LearnedFactorEmbedding(nn.Module):
    """A free (N, P) table, initialised N(0, 1) like ``nn.Embedding``."""

    def __init__(self, num_factors: int, dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(num_factors, dim))

    def forward(self) -> Tensor:
        return self.weight


class OrthogonalFactorEmbedding(nn.Module):
    """The first N rows of Q = expm(W − Wᵀ) for a learnable square W (P×P, N ≤ P).

    W − Wᵀ is skew-symmetric, so Q is orthogonal whatever W is: the N embeddings stay orthonormal
    throughout training (the DisDiff reference's ``orth_emb``; W initialised N(0, 1) as there).
    The reference's own matrix exponential returns exp(−A), so its embeddings are rows of
    expm(Wᵀ − W): the same family, with W transposed (which its importer does when loading).
    """

    def __init__(self, num_factors: int, dim: int) -> None:
        super().__init__()
        if num_factors > dim:
            raise ValueError(f"{num_factors} orthonormal embeddings need a width ≥ {num_factors}, got {dim}")
        self.num_factors = num_factors
        self.weight = nn.Parameter(torch.randn(dim, dim))

    def matrix(self) -> Tensor:
        """The whole orthogonal P×P matrix expm(W − Wᵀ)."""
        return torch.linalg.matrix_exp(self.weight - self.weight.transpose(0, 1))

    def forward(self) -> Tensor:
        return self.matrix()[: self.num_factors]
