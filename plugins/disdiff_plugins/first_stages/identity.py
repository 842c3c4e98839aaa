"""The identity first stage: diffusion runs on pixels (ℰ = 𝒟 = identity, s = 1)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from torch import Tensor

from disdiff_core.errors import DisdiffError
from disdiff_core.interfaces.first_stage import FirstStage
from disdiff_plugins.first_stages.specs import IdentityParams


class IdentityFirstStage(FirstStage):
    """No parameters; the latent is the image itself and the scale factor stays 1."""

    def __init__(self, channels: int = 3) -> None:
        super().__init__(downsample=1, latent_channels=channels)

    def encode(self, x: Tensor) -> Tensor:
        """x (B, C, H, W) → x."""
        return x

    def decode(self, y: Tensor, *, quantize: bool = True) -> Tensor:
        """y (B, C, H, W) → y (``quantize`` has no meaning here)."""
        return y

    def measure_scale_factor(
        self, batches: Iterable[Tensor | Sequence[Tensor]], num_batches: int | None = None
    ) -> float:
        """Pixel space keeps s = 1 by definition (DisDiff, PDAE): nothing is measured."""
        return float(self.scale_factor)

    def training_losses(self, x: Tensor, *, step: int = 0) -> dict[str, Tensor]:
        raise DisdiffError(
            "the identity first stage has nothing to train; a pixel-space model needs no "
            "first-stage run (start with the backbone stage)"
        )


def build_identity(params: IdentityParams) -> IdentityFirstStage:
    """Factory of the ``identity`` plugin."""
    return IdentityFirstStage(params.channels)
