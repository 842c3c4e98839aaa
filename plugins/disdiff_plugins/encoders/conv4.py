"""The ``conv4`` encoder: DisDiff's reference "Encoder4" CNN, made size-agnostic.

Layers (d = ``channels``, 128 in the reference)::

    4 × [Conv 4×4 stride 2 (padding 1) → BatchNorm → ReLU]      H×W → H/16 × W/16
    ResidualBlock → BatchNorm → ReLU → ResidualBlock
    flatten → Linear(d·(H/16)·(W/16), N·D)

Two departures from the reference code (docs/method.md): the reference leaves out the ReLU after
the third convolution's BatchNorm (restored here; ``third_relu: false`` builds the reference's
layer list, which its checkpoints need), and it hard-codes the flattened size of a 64×64×128
feature map, mixing the examples of a batch at any other size (here computed from
``image_size``, so 32 px gives a 2×2 map and a 512-wide linear layer). Both flatten in the same
(C, H, W) order. Keeping the flatten rather than pooling preserves the spatial layout that
position factors need.
"""

from __future__ import annotations

from torch import Tensor, nn

from disdiff_core.interfaces.encoder import RepresentationEncoder
from disdiff_plugins.encoders.specs import Conv4Params

#: Spatial reduction of the four stride-2 convolutions.
DOWNSAMPLE = 16


class ResidualBlock(nn.Module):
    """x + Conv1×1(ReLU(BN(Conv3×3(ReLU(x))))): the reference encoder's residual block."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.branch = nn.Sequential(
            nn.ReLU(),
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.BatchNorm2d(channels),
            nn.ReLU(),
            nn.Conv2d(channels, channels, 1),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.branch(x)


def _down(in_channels: int, out_channels: int, relu: bool = True) -> list[nn.Module]:
    layers = [nn.Conv2d(in_channels, out_channels, 4, stride=2, padding=1),
              nn.BatchNorm2d(out_channels)]
    return [*layers, nn.ReLU()] if relu else layers


class Conv4Encoder(RepresentationEncoder):
    """image (B, in_channels, S, S) in [-1, 1] → z (B, N, D) with S = ``image_size``."""

    def __init__(self, params: Conv4Params) -> None:
        super().__init__(params.num_factors, params.factor_dim)
        self.image_size = params.image_size
        d = params.channels
        side = params.image_size // DOWNSAMPLE
        self.features = nn.Sequential(
            *_down(params.in_channels, d),
            *_down(d, d),
            *_down(d, d, relu=params.third_relu),
            *_down(d, d),
            ResidualBlock(d),
            nn.BatchNorm2d(d),
            nn.ReLU(),
            ResidualBlock(d),
        )
        self.head = nn.Linear(d * side * side, params.num_factors * params.factor_dim)

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[-2:] != (self.image_size, self.image_size):
            raise ValueError(
                f"conv4 encoder built for {self.image_size}×{self.image_size} images, got "
                f"{tuple(x.shape[-2:])}"
            )
        return self.split(self.head(self.features(x).flatten(1)))
