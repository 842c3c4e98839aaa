"""Small layers of ADM-style UNets: normalisation, resampling, zero initialisation."""

from __future__ import annotations

from typing import TypeVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

M = TypeVar("M", bound=nn.Module)


def zero_module(module: M) -> M:
    """Zero every parameter of ``module`` and return it: a residual branch (or a whole field)
    that ends in a zeroed layer starts as the identity (or as 0)."""
    for param in module.parameters():
        param.detach().zero_()
    return module


def group_norm32(x: Tensor, num_groups: int, weight: Tensor | None, bias: Tensor | None,
                 eps: float) -> Tensor:
    """``F.group_norm`` computed in (at least) float32 whatever the input dtype (as ADM), for
    stable statistics under half precision; the result has the input's dtype."""
    if x.dtype not in (torch.float16, torch.bfloat16):
        return F.group_norm(x, num_groups, weight, bias, eps)
    weight = weight.float() if weight is not None else None
    bias = bias.float() if bias is not None else None
    return F.group_norm(x.float(), num_groups, weight, bias, eps).to(x.dtype)


class GroupNorm32(nn.GroupNorm):
    """GroupNorm with :func:`group_norm32`'s float32 statistics."""

    def forward(self, x: Tensor) -> Tensor:
        return group_norm32(x, self.num_groups, self.weight, self.bias, self.eps)


def normalization(channels: int, groups: int = 32) -> GroupNorm32:
    """The UNet's normalisation layer; ``channels`` must be divisible by ``groups``."""
    if channels % groups:
        raise ValueError(f"{channels} channels cannot be split into {groups} norm groups")
    return GroupNorm32(groups, channels)


class Downsample(nn.Module):
    """2× spatial downsampling: a stride-2 3×3 convolution, or average pooling."""

    def __init__(self, channels: int, use_conv: bool, out_channels: int | None = None) -> None:
        super().__init__()
        out_channels = out_channels or channels
        if use_conv:
            self.op: nn.Module = nn.Conv2d(channels, out_channels, 3, stride=2, padding=1)
        elif out_channels != channels:
            raise ValueError("average-pool downsampling cannot change the channel count")
        else:
            self.op = nn.AvgPool2d(kernel_size=2, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        return self.op(x)


class Upsample(nn.Module):
    """2× nearest-neighbour upsampling, optionally followed by a 3×3 convolution."""

    def __init__(self, channels: int, use_conv: bool, out_channels: int | None = None) -> None:
        super().__init__()
        out_channels = out_channels or channels
        if not use_conv and out_channels != channels:
            raise ValueError("upsampling without a convolution cannot change the channel count")
        self.conv = nn.Conv2d(channels, out_channels, 3, padding=1) if use_conv else None

    def forward(self, x: Tensor) -> Tensor:
        x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        return self.conv(x) if self.conv is not None else x
