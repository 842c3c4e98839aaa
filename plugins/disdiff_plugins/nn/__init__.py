"""Building blocks shared by UNet backbones and gradient fields (torch).

* :mod:`~disdiff_plugins.nn.embeddings`: sinusoidal timestep embedding and its MLP;
* :mod:`~disdiff_plugins.nn.layers`: GroupNorm, 2× down/upsampling, :func:`zero_module`;
* :mod:`~disdiff_plugins.nn.blocks`: :class:`ResBlock` (FiLM time conditioning plus any number of
  extra FiLM conditionings), :class:`AttentionBlock`, :class:`ConditionedSequential`;
* :mod:`~disdiff_plugins.nn.unet`: :class:`UNetEncoder` and :class:`UNetDecoder`, the two halves
  of an ADM UNet; a decoder can be built from any backbone's feature layout.
"""

from disdiff_plugins.nn.blocks import (
    AttentionBlock,
    ConditionedBlock,
    ConditionedSequential,
    ResBlock,
    attention_heads,
)
from disdiff_plugins.nn.embeddings import TimestepEmbedder, timestep_embedding
from disdiff_plugins.nn.layers import Downsample, GroupNorm32, Upsample, normalization, zero_module
from disdiff_plugins.nn.unet import BlockOptions, UNetDecoder, UNetEncoder

__all__ = [
    "AttentionBlock",
    "BlockOptions",
    "ConditionedBlock",
    "ConditionedSequential",
    "Downsample",
    "GroupNorm32",
    "ResBlock",
    "TimestepEmbedder",
    "UNetDecoder",
    "UNetEncoder",
    "Upsample",
    "attention_heads",
    "normalization",
    "timestep_embedding",
    "zero_module",
]
