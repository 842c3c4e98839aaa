"""The diagonal Gaussian posterior of a KL autoencoder (LDM's DiagonalGaussianDistribution)."""

from __future__ import annotations

import torch
from torch import Tensor


class DiagonalGaussian:
    """q(y|x) = N(mean, diag(exp(logvar))), from moments (B, 2c, h, w) split along channels.

    The log-variance is clamped to [−30, 20] as in LDM (exp must not overflow)."""

    def __init__(self, moments: Tensor) -> None:
        self.mean, logvar = moments.chunk(2, dim=1)
        self.logvar = logvar.clamp(-30.0, 20.0)

    @property
    def std(self) -> Tensor:
        return torch.exp(0.5 * self.logvar)

    def sample(self, generator: torch.Generator | None = None) -> Tensor:
        """Reparameterised sample mean + std·ε, (B, c, h, w); differentiable."""
        noise = torch.randn(
            self.mean.shape, generator=generator, device=self.mean.device, dtype=self.mean.dtype
        )
        return self.mean + self.std * noise

    def kl(self) -> Tensor:
        """KL(q ‖ N(0, I)) per example, summed over (c, h, w) in nats: (B,).
        = ½ Σ (mean² + var − 1 − logvar)."""
        return 0.5 * (self.mean.pow(2) + self.logvar.exp() - 1.0 - self.logvar).sum(dim=(1, 2, 3))
