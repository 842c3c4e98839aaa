"""The ``unet`` backbone: an ADM-style UNet predicting ε, split into an encoder half (whose
features DisDiff's field reuses) and a decoder half."""

from __future__ import annotations

from pathlib import Path

from torch import Tensor

from disdiff_core.diffusion.schedule import NoiseSchedule, as_timesteps
from disdiff_core.interfaces.backbone import Backbone, BackboneFeatures, FeatureLayout
from disdiff_plugins.backbones.checkpoint import load_backbone_weights
from disdiff_plugins.backbones.specs import UNetParams
from disdiff_plugins.nn.unet import BlockOptions, UNetDecoder, UNetEncoder


def block_options(params: UNetParams) -> BlockOptions:
    """The block hyperparameters a UNet's parameters name (also what a mirrored field may use)."""
    return BlockOptions(
        num_heads=params.num_heads,
        num_head_channels=params.num_head_channels,
        dropout=params.dropout,
        resblock_updown=params.resblock_updown,
        conv_resample=params.conv_resample,
        scale_shift=params.use_scale_shift_norm,
        norm_groups=params.norm_groups,
    )


class UNetBackbone(Backbone):
    """ADM UNet backbone: ``encoder`` (time embedding + input blocks) and ``decoder`` (middle
    block, output blocks, output layer), with the noise schedule of ``params.schedule``."""

    def __init__(self, params: UNetParams) -> None:
        super().__init__(NoiseSchedule(params.schedule))
        self.params = params
        self.block_options = block_options(params)
        self.encoder = UNetEncoder(
            in_channels=params.in_channels,
            base_channels=params.base_channels,
            channel_mult=params.channel_mult,
            num_res_blocks=params.num_res_blocks,
            image_size=(params.image_size, params.image_size),
            attention_levels=params.attention_levels,
            time_embed_dim=params.time_embed_dim,
            options=self.block_options,
        )
        self.decoder = UNetDecoder(
            self.encoder.layout,
            out_channels=params.out_channels or params.in_channels,
            options=self.block_options,
        )

    @property
    def sample_shape(self) -> tuple[int, int, int]:
        return (self.params.in_channels, self.params.image_size, self.params.image_size)

    @property
    def feature_layout(self) -> FeatureLayout:
        return self.encoder.layout

    def run_encoder(self, y_t: Tensor, t: Tensor | int) -> BackboneFeatures:
        return self.encoder(y_t, as_timesteps(t, y_t.shape[0], y_t.device))

    def run_decoder(self, features: BackboneFeatures) -> Tensor:
        return self.decoder(features.skips, features.emb)


def build_unet(params: UNetParams, *, checkpoint: str | Path | None = None) -> UNetBackbone:
    """The ``unet`` plugin factory: a fresh (trainable) UNet, or, given a ``checkpoint``
    (safetensors file of its state dict), the trained one, frozen."""
    backbone = UNetBackbone(params)
    if checkpoint is not None:
        load_backbone_weights(backbone, checkpoint)
        backbone.freeze()
    return backbone
