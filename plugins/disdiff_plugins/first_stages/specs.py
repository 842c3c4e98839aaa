"""First-stage plugin specs (torch-free).

Defaults are the DisDiff reference autoencoders (``configs/autoencoder/*_vq_4_16.yaml`` and
``*_kl_4_16.yaml``: LDM's VQModel / AutoencoderKL with ch 32, ch_mult [1, 2, 4], 2 residual blocks
per level, no attention outside the middle block), so a 64×64 image becomes a 16×16×3 (VQ) or
16×16×4 (KL) latent. The reference also trains with LPIPS (perceptual weight 1.0); here that
term needs a local weights file (``perceptual_weights``) and is off without one.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from disdiff_core.plugin import Params, PluginSpec

_DISC_WEIGHT = (
    "weight of the adversarial (PatchGAN, hinge) term, times LDM's adaptive gradient-norm "
    "ratio; 0 builds no discriminator"
)
_DISC_START = "global step from which the adversarial term is on"


class IdentityParams(Params):
    """Pixel space: ℰ = 𝒟 = identity, s = 1."""

    channels: int = Field(3, ge=1, description="image channels (= latent channels)")


class ConvAutoencoderParams(Params):
    """Shared settings of the LDM-style convolutional autoencoders (VQ and KL)."""

    in_channels: int = Field(3, ge=1, description="image channels")
    ch: int = Field(32, ge=1, description="base width of encoder and decoder (reference: 32)")
    ch_mult: list[int] = Field(
        default_factory=lambda: [1, 2, 4],
        min_length=1,
        description="width multiplier per resolution level; the downsampling factor is "
        "2**(len(ch_mult) - 1) (reference [1, 2, 4]: factor 4, 64 px → 16 px)",
    )
    num_res_blocks: int = Field(2, ge=1, description="residual blocks per level (decoder: +1)")
    attn_levels: list[int] = Field(
        default_factory=list,
        description="levels (0 = full resolution) with self-attention after each residual "
        "block, besides the middle block which always attends (reference: none)",
    )
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="dropout in residual blocks")
    norm_groups: int = Field(
        32, ge=1, description="GroupNorm groups; must divide ch·m for every multiplier m"
    )
    pixel_loss: Literal["l1", "l2"] = Field("l1", description="pixel reconstruction loss")
    perceptual_weights: str | None = Field(
        None,
        description="local LPIPS-VGG16 weights (.safetensors, or a torch state dict .pt/.pth) "
        "holding torchvision's `features.*` VGG16 keys and LPIPS's `lin0..lin4.model.1.weight`; "
        "None: no perceptual term",
    )
    perceptual_weight: float = Field(
        1.0, ge=0.0, description="weight of the LPIPS term when `perceptual_weights` is set"
    )
    z_channels: int = Field(ge=1, description="encoder output channels (before quant_conv)")
    embed_dim: int = Field(ge=1, description="latent channels")
    disc_weight: float = Field(ge=0.0, description=_DISC_WEIGHT)
    disc_start: int = Field(ge=0, description=_DISC_START)
    disc_layers: int = Field(3, ge=1, description="PatchGAN strided layers")
    disc_channels: int = Field(64, ge=1, description="PatchGAN base width")
    checkpoint: str | None = Field(
        None,
        description="weights (.safetensors state dict) to load; a loaded first stage is frozen",
    )

    @model_validator(mode="after")
    def _check_shapes(self) -> ConvAutoencoderParams:
        if any(m < 1 for m in self.ch_mult):
            raise ValueError("ch_mult entries must be ≥ 1")
        bad = [self.ch * m for m in self.ch_mult if (self.ch * m) % self.norm_groups]
        if bad or self.ch % self.norm_groups:
            raise ValueError(
                f"norm_groups={self.norm_groups} must divide every width ch·m "
                f"({[self.ch * m for m in self.ch_mult]})"
            )
        levels = len(self.ch_mult)
        if any(not 0 <= level < levels for level in self.attn_levels):
            raise ValueError(f"attn_levels must lie in 0..{levels - 1}")
        return self


class VQParams(ConvAutoencoderParams):
    """VQ autoencoder (LDM VQModel; DisDiff's reference first stage)."""

    z_channels: int = Field(3, ge=1, description="encoder output channels (before quant_conv)")
    embed_dim: int = Field(3, ge=1, description="latent channels = codebook vector size (ref: 3)")
    n_embed: int = Field(2048, ge=2, description="codebook entries")
    beta: float = Field(0.25, ge=0.0, description="commitment weight β")
    codebook_weight: float = Field(
        1.0, ge=0.0, description="weight of codebook + commitment terms in the loss"
    )
    disc_weight: float = Field(0.75, ge=0.0, description=_DISC_WEIGHT + " (reference: 0.75)")
    disc_start: int = Field(0, ge=0, description=_DISC_START + " (reference: 0)")


class KLParams(ConvAutoencoderParams):
    """KL autoencoder (LDM AutoencoderKL): a diagonal Gaussian posterior per latent element."""

    z_channels: int = Field(4, ge=1, description="encoder output channels (posterior moments: 2×)")
    embed_dim: int = Field(4, ge=1, description="latent channels (reference: 4)")
    kl_weight: float = Field(1e-6, ge=0.0, description="weight of KL(q(y|x) ‖ N(0, I))")
    logvar_init: float = Field(
        0.0, description="initial value of the learned output log-variance of the likelihood"
    )
    sample_posterior: bool = Field(
        False,
        description="encode() returns a posterior sample instead of its mean (training always "
        "samples)",
    )
    disc_weight: float = Field(0.5, ge=0.0, description=_DISC_WEIGHT + " (reference: 0.5)")
    disc_start: int = Field(50001, ge=0, description=_DISC_START + " (reference: 50001)")


IDENTITY = PluginSpec(
    kind="first_stage",
    name="identity",
    description="Pixel space: no autoencoder (encode = decode = identity, scale 1).",
    params=IdentityParams,
    factory="disdiff_plugins.first_stages.identity:build_identity",
)

VQ = PluginSpec(
    kind="first_stage",
    name="vq",
    description="LDM-style VQ autoencoder (default 4× downsampling, codebook 2048×3).",
    params=VQParams,
    factory="disdiff_plugins.first_stages.autoencoders:build_vq",
)

KL = PluginSpec(
    kind="first_stage",
    name="kl",
    description="LDM-style KL autoencoder (default 4× downsampling, 4 latent channels).",
    params=KLParams,
    factory="disdiff_plugins.first_stages.autoencoders:build_kl",
)
