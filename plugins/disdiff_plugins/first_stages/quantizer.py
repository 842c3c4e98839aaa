"""Vector quantisation with a straight-through estimator (VQ-VAE; taming's VectorQuantizer2).

Losses as in the VQ-VAE paper (van den Oord et al. 2017), with sg = stop-gradient:
codebook = mean ‖sg[z] − e‖² (moves the codes) and commitment = β·mean ‖z − sg[e]‖² (keeps the
encoder near its codes). taming's default ``legacy=True`` puts β on the codebook term instead;
that slip is not copied.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn


@dataclass
class Quantized:
    """Result of quantising a latent z of shape (B, C, h, w).

    Attributes:
        z_q: the nearest codes, (B, C, h, w), straight-through: its value is e, its gradient
            passes to z unchanged.
        indices: code index of every position, (B, h, w) long.
        codebook_loss: mean ‖sg[z] − e‖² (0-dim; gradient only to the codebook).
        commitment_loss: β·mean ‖z − sg[e]‖² (0-dim; gradient only to z).
    """

    z_q: Tensor
    indices: Tensor
    codebook_loss: Tensor
    commitment_loss: Tensor


class VectorQuantizer(nn.Module):
    """A codebook of ``n_embed`` vectors of size ``embed_dim`` (LDM name: ``embedding``)."""

    def __init__(self, n_embed: int, embed_dim: int, beta: float) -> None:
        super().__init__()
        self.n_embed = n_embed
        self.beta = beta
        self.embedding = nn.Embedding(n_embed, embed_dim)
        nn.init.uniform_(self.embedding.weight, -1.0 / n_embed, 1.0 / n_embed)

    def nearest(self, z: Tensor) -> Tensor:
        """Index of the nearest code (Euclidean) of every position: (B, C, h, w) → (B, h, w).

        Distances in float32 with autocast off: bf16 would pick wrong codes."""
        b, c, h, w = z.shape
        with torch.autocast(device_type=z.device.type, enabled=False):
            flat = z.detach().float().permute(0, 2, 3, 1).reshape(-1, c)
            codes = self.embedding.weight.detach().float()
            distances = (
                flat.pow(2).sum(1, keepdim=True)
                - 2.0 * flat @ codes.T
                + codes.pow(2).sum(1)[None, :]
            )
            return distances.argmin(1).view(b, h, w)

    def lookup(self, indices: Tensor) -> Tensor:
        """Codes of an index map: (B, h, w) → (B, C, h, w)."""
        return self.embedding(indices).permute(0, 3, 1, 2).contiguous()

    def forward(self, z: Tensor) -> Quantized:
        indices = self.nearest(z)
        e = self.lookup(indices)
        z32 = z.float()  # the two losses in float32 even under autocast
        codebook = (e - z32.detach()).pow(2).mean()
        commitment = self.beta * (z32 - e.detach()).pow(2).mean()
        z_q = z + (e.to(z.dtype) - z).detach()
        return Quantized(z_q, indices, codebook, commitment)

    def perplexity(self, indices: Tensor) -> Tensor:
        """exp(entropy) of code usage in ``indices``: n_embed when all codes are used equally,
        1 when one code takes everything (a collapse diagnostic)."""
        counts = torch.bincount(indices.flatten(), minlength=self.n_embed).float()
        p = counts / counts.sum()
        return torch.exp(-(p * torch.log(p + 1e-10)).sum())
