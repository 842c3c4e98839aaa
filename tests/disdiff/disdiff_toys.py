"""Tiny DisDiff parts for the tests: real plugins at toy sizes, weights randomised on request
(zero-initialised layers would hide bugs in most checks)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from disdiff_core.disdiff import DisDiffModel
from disdiff_core.interfaces.first_stage import FirstStage
from disdiff_core.interfaces.loss import LossTerm
from disdiff_plugins.backbones.specs import UNetParams
from disdiff_plugins.backbones.unet import UNetBackbone, build_unet
from disdiff_plugins.encoders.conv4 import Conv4Encoder
from disdiff_plugins.encoders.specs import Conv4Params
from disdiff_plugins.fields.shift_unet import ShiftUNetField, build_shift_unet
from disdiff_plugins.fields.specs import ShiftUNetParams
from disdiff_plugins.first_stages.autoencoders import VQAutoencoder
from disdiff_plugins.first_stages.identity import IdentityFirstStage
from disdiff_plugins.first_stages.specs import VQParams
from disdiff_plugins.losses.disentangle import DisentangleLoss
from disdiff_plugins.losses.mean_shift import MeanShiftLoss
from disdiff_plugins.losses.specs import DisentangleParams, MeanShiftParams

N, D = 3, 4
IMAGE = 16


def randomise(module: nn.Module, seed: int, scale: float = 0.1) -> nn.Module:
    """Every parameter N(0, scale²), including the zero-initialised ones."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in module.parameters():
            param.copy_(torch.randn(param.shape, generator=gen) * scale)
    return module


def tiny_backbone(image_size: int = IMAGE, seed: int = 0) -> UNetBackbone:
    params = UNetParams.model_validate({
        "image_size": image_size,
        "base_channels": 16,
        "channel_mult": [1, 2],
        "num_res_blocks": 1,
        "attention_resolutions": [image_size // 2],
        "num_heads": 2,
        "norm_groups": 4,
        "schedule": {"num_timesteps": 100},
    })
    return randomise(build_unet(params), seed).freeze()


def tiny_vq(seed: int = 1) -> VQAutoencoder:
    """A random VQ autoencoder with 2× downsampling (16 px → 8×8×3) and s ≠ 1."""
    params = VQParams(ch=8, ch_mult=[1, 2], num_res_blocks=1, norm_groups=4, n_embed=16,
                      disc_weight=0.0)
    model = randomise(VQAutoencoder(params), seed)
    model.scale_factor.fill_(0.7)
    return model.freeze()


def tiny_encoder(seed: int = 2) -> Conv4Encoder:
    encoder = Conv4Encoder(Conv4Params(num_factors=N, factor_dim=D, image_size=IMAGE, channels=16))
    torch.manual_seed(seed)
    for module in encoder.modules():
        if isinstance(module, nn.Conv2d | nn.Linear):
            module.reset_parameters()
    return encoder


def tiny_field(backbone: UNetBackbone, *, seed: int | None = None, **params: Any) -> ShiftUNetField:
    torch.manual_seed(0)
    field = build_shift_unet(ShiftUNetParams(**params), backbone=backbone, num_factors=N,
                             factor_dim=D)
    return randomise(field, seed) if seed is not None else field


def default_losses(weight: float = 0.05, **dis: Any) -> list[LossTerm]:
    return [MeanShiftLoss(MeanShiftParams()),
            DisentangleLoss(DisentangleParams(weight=weight, **dis))]


def tiny_model(
    *,
    latent: bool = False,
    field_seed: int | None = None,
    losses: list[LossTerm] | None = None,
    **field_params: Any,
) -> DisDiffModel:
    """Pixel space (identity first stage, 16 px backbone) or latent space (tiny VQ, 8 px)."""
    first_stage: FirstStage = tiny_vq() if latent else IdentityFirstStage()
    backbone = tiny_backbone(IMAGE // 2 if latent else IMAGE)
    field = tiny_field(backbone, seed=field_seed, **field_params)
    return DisDiffModel(backbone, first_stage, tiny_encoder(), field,
                        default_losses() if losses is None else losses)


def images(batch: int = 4, seed: int = 3) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(batch, 3, IMAGE, IMAGE, generator=gen) * 2 - 1
