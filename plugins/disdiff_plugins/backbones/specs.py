"""Backbone plugins (torch-free specs): the ADM UNet trained by disdiff, and a diffusers UNet.

Both factories are called as ``factory(params, checkpoint=None)``; a checkpoint loads weights
and freezes the backbone.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from disdiff_core.diffusion.config import ScheduleConfig
from disdiff_core.plugin import Params, PluginSpec


class UNetParams(Params):
    """ADM-style UNet (Dhariwal & Nichol 2021) predicting ε; defaults are the DisDiff
    reference backbone for a 16×16×3 latent."""

    image_size: int = Field(16, ge=1, description="height = width of the diffusion space (px)")
    in_channels: int = Field(3, ge=1, description="channels of the diffusion space")
    out_channels: int | None = Field(None, ge=1, description="output channels (default: in)")
    base_channels: int = Field(64, ge=1, description="base channel count")
    channel_mult: list[int] = Field(
        [1, 2, 4, 4], min_length=1, description="channel multiplier of each resolution level"
    )
    num_res_blocks: int = Field(2, ge=1, description="residual blocks per level")
    attention_resolutions: list[int] = Field(
        [16, 8, 4], description="resolutions (px) at which blocks use self-attention"
    )
    num_heads: int = Field(8, ge=1, description="attention heads")
    num_head_channels: int | None = Field(
        None, ge=1, description="channels per attention head (overrides num_heads)"
    )
    dropout: float = Field(0.0, ge=0, lt=1, description="dropout in residual blocks")
    resblock_updown: bool = Field(True, description="residual blocks for up/downsampling")
    conv_resample: bool = Field(True, description="plain resampling layers use a convolution")
    use_scale_shift_norm: bool = Field(True, description="FiLM (scale-shift) time conditioning")
    norm_groups: int = Field(32, ge=1, description="GroupNorm groups")
    time_embed_dim: int | None = Field(
        None, ge=1, description="time embedding width (default: 4 × base_channels)"
    )
    schedule: ScheduleConfig = Field(
        default_factory=ScheduleConfig, description="noise schedule the backbone is trained with"
    )

    @property
    def level_resolutions(self) -> list[int]:
        """Resolution (px) of each level."""
        return [self.image_size >> level for level in range(len(self.channel_mult))]

    @property
    def attention_levels(self) -> list[int]:
        """Levels whose resolution is in ``attention_resolutions``."""
        return [
            level
            for level, res in enumerate(self.level_resolutions)
            if res in self.attention_resolutions
        ]

    @model_validator(mode="after")
    def _check_sizes(self) -> UNetParams:
        factor = 2 ** (len(self.channel_mult) - 1)
        if self.image_size % factor:
            raise ValueError(
                f"image_size {self.image_size} is not divisible by {factor} "
                f"({len(self.channel_mult)} levels)"
            )
        resolutions = self.level_resolutions
        stray = [r for r in self.attention_resolutions if r not in resolutions]
        if stray:
            raise ValueError(
                f"attention_resolutions {stray} are not resolutions of this UNet {resolutions}"
            )
        widths = {self.base_channels * m for m in self.channel_mult} | {self.base_channels}
        for width in sorted(widths):
            if width % self.norm_groups:
                raise ValueError(f"{width} channels are not divisible by norm_groups")
        for level in self.attention_levels + [len(self.channel_mult) - 1]:
            width = self.base_channels * self.channel_mult[level]
            per_head = self.num_head_channels
            if (per_head and width % per_head) or (not per_head and width % self.num_heads):
                raise ValueError(f"{width} attention channels do not split into heads")
        return self


class DiffusersParams(Params):
    """A pre-trained diffusers ``UNet2DModel`` (ε-prediction) saved with ``save_pretrained``,
    with the noise schedule of its DDPM-style scheduler config."""

    path: str | None = Field(
        None,
        description="UNet2DModel folder, or a pipeline folder with unet/ and scheduler/ "
        "(the component's `checkpoint` may give it instead)",
    )
    scheduler_config: str | None = Field(
        None,
        description="scheduler_config.json (default: in the model folder, its scheduler/ "
        "subfolder, or a sibling scheduler/ folder)",
    )


UNET = PluginSpec(
    kind="backbone",
    name="unet",
    description="ADM-style UNet predicting noise (the DisDiff reference backbone).",
    params=UNetParams,
    factory="disdiff_plugins.backbones.unet:build_unet",
)

DIFFUSERS = PluginSpec(
    kind="backbone",
    name="diffusers",
    description="A local diffusers UNet2DModel folder and its scheduler config, frozen.",
    params=DiffusersParams,
    factory="disdiff_plugins.backbones.diffusers_backbone:load_diffusers_backbone",
)
