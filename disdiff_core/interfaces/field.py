"""The gradient-field contract: N sub-gradient fields G_k, batched over factors.

G_ψ(y_t, t, z_k, k) has the shape of y_t. DisDiff splits the frozen backbone's gradient field:
training uses ε̂ = ε_θ − a_t·Σ_k G_k, sampling ε̃ = ε_θ − b_t·Σ_{k∈S} G_k. A field reads the
backbone's encoder-half features of y_t (computed ONCE per step, without gradient, and shared by
every factor) rather than y_t itself, like PDAE.

Two entry points:

* :meth:`GradientField.forward` ``(features, t, z, factor_ids)``: z is the whole representation
  (B, N, D); ``factor_ids`` picks the factors whose fields are wanted (default: all N).
* :meth:`GradientField.forward_codes` ``(features, t, codes, factor_ids)``: the primitive; row
  (b, j) is conditioned on ``codes[b, j]`` as factor ``factor_ids[b, j]``. DisDiff's training
  step uses it to evaluate, in the same pass, the N fields on the live z (for the reconstruction
  loss) and the sampled factor's field on a DETACHED z_c (for the disentangling loss, through
  which the encoder must not learn).

Both return (B, K, C, H, W): K fields per example, in the order of ``factor_ids``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from disdiff_core.interfaces.backbone import BackboneFeatures

#: Which factors to evaluate: None (all N), K ids shared by every example (a sequence of ints or
#: a (K,) tensor), or per-example ids (a (B, K) long tensor).
FactorIds = Sequence[int] | Tensor | None


class GradientField(nn.Module, ABC):
    """Sub-gradient fields G_k of N factors conditioned on D-dim codes.

    Subclasses call ``super().__init__(num_factors, factor_dim)`` and implement
    :meth:`forward_codes`.
    """

    def __init__(self, num_factors: int, factor_dim: int) -> None:
        super().__init__()
        self.num_factors = num_factors
        self.factor_dim = factor_dim

    @abstractmethod
    def forward_codes(
        self, features: BackboneFeatures, t: Tensor, codes: Tensor, factor_ids: Tensor
    ) -> Tensor:
        """Fields for explicit (code, factor) pairs.

        Args:
            features: the backbone's encoder-half features of y_t (batch B).
            t: (B,) long timesteps of y_t.
            codes: (B, K, D): the code each requested field is conditioned on.
            factor_ids: (B, K) long in [0, N): the factor of each requested field.

        Returns:
            (B, K, C, H, W): ``out[b, j] = G(y_t[b], t[b], codes[b, j], factor_ids[b, j])``.
        """

    def forward(
        self, features: BackboneFeatures, t: Tensor, z: Tensor, factor_ids: FactorIds = None
    ) -> Tensor:
        """G_k(y_t, t, z_k) for the requested factors k: z (B, N, D) → (B, K, C, H, W)."""
        return self.forward_codes(features, t, *self.select_codes(z, factor_ids))

    def select_codes(self, z: Tensor, factor_ids: FactorIds = None) -> tuple[Tensor, Tensor]:
        """(codes (B, K, D), factor ids (B, K)) for :meth:`forward_codes`: the chunks z_k of the
        requested factors. Validates once, so a sampling loop can select before it starts."""
        if z.ndim != 3 or z.shape[1:] != (self.num_factors, self.factor_dim):
            raise ValueError(
                f"z of shape {tuple(z.shape)}; this field takes (B, {self.num_factors}, "
                f"{self.factor_dim})"
            )
        ids = self.resolve_factor_ids(factor_ids, z.shape[0], z.device)
        return z.gather(1, ids[..., None].expand(-1, -1, self.factor_dim)), ids

    def resolve_factor_ids(self, factor_ids: FactorIds, batch: int, device: torch.device) -> Tensor:
        """``factor_ids`` as a (B, K) long tensor on ``device`` (see :data:`FactorIds`); raises
        ValueError for ids outside [0, N) or a shape that fits neither form."""
        if factor_ids is None:
            ids = torch.arange(self.num_factors, device=device)
        else:
            ids = torch.as_tensor(factor_ids, device=device).long()
        if ids.ndim == 1:
            ids = ids.expand(batch, -1)
        if ids.ndim != 2 or ids.shape[0] != batch or ids.shape[1] == 0:
            raise ValueError(f"factor ids of shape {tuple(ids.shape)} for a batch of {batch}")
        if bool(((ids < 0) | (ids >= self.num_factors)).any()):
            raise ValueError(f"factor ids must lie in [0, {self.num_factors})")
        return ids
