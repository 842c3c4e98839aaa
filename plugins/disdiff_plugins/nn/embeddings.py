"""Timestep embeddings (ADM / LDM convention)."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def timestep_embedding(t: Tensor, dim: int, max_period: float = 10000.0) -> Tensor:
    """Sinusoidal embedding of timesteps, (B,) → (B, dim) float32.

    Frequencies f_i = max_period^(−i/half) for i < half = dim // 2, laid out as
    [cos(t·f), sin(t·f)] (the ADM order), zero-padded when ``dim`` is odd.
    """
    half = dim // 2
    freqs = torch.exp(
        -math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half
    )
    args = t.float()[:, None] * freqs[None]
    embedding = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        embedding = torch.cat([embedding, torch.zeros_like(embedding[:, :1])], dim=-1)
    return embedding


class TimestepEmbedder(nn.Module):
    """Sinusoidal features of t (``freq_dim`` wide) through Linear–SiLU–Linear to ``embed_dim``
    (ADM uses freq_dim = base channels, embed_dim = 4 × base channels)."""

    def __init__(self, freq_dim: int, embed_dim: int) -> None:
        super().__init__()
        self.freq_dim = freq_dim
        self.mlp = nn.Sequential(
            nn.Linear(freq_dim, embed_dim), nn.SiLU(), nn.Linear(embed_dim, embed_dim)
        )

    def forward(self, t: Tensor) -> Tensor:
        """(B,) timesteps → (B, embed_dim)."""
        freqs = timestep_embedding(t, self.freq_dim)
        return self.mlp(freqs.to(self.mlp[0].weight.dtype))
