"""The backbone contract: a (usually frozen) ε-prediction diffusion model and its reusable features.

DisDiff's gradient field G is a new decoder half of the backbone UNet that reads the frozen
encoder half's activations, exactly like PDAE. A backbone therefore exposes its forward pass in
two halves:

* :meth:`Backbone.run_encoder` (y_t, t) → :class:`BackboneFeatures`: the time embedding and the
  outputs of every encoder-half block (the "skips"), the last of which is the bottleneck;
* :meth:`Backbone.run_decoder` (features) → ε: the backbone's own middle block, decoder half and
  output layer.

``forward_with_features`` runs both once and returns ε with the features of the same pass;
``features`` runs only the encoder half without gradient (what a field needs, shared by all
factors). :class:`FeatureLayout` describes channels and resolutions so a field can build a decoder
that mirrors the encoder half (see ``disdiff_plugins.nn.unet.UNetDecoder``).

What a field reads (PDAE and the DisDiff reference do the same): every skip, in order, and the
bottleneck = the encoder half's output = the INPUT of the backbone's middle block (it is also the
last skip). The field computes its own middle block from the bottleneck; the backbone's middle
block output is never part of the features.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Self

import torch
from torch import Tensor, nn

from disdiff_core.diffusion.schedule import NoiseSchedule


@dataclass(frozen=True)
class FeatureLayout:
    """Shape of a backbone's encoder half, enough to build a mirrored decoder.

    The encoder half is the ADM / diffusers layout: a stem convolution, then ``num_levels``
    resolution levels; level l runs at ``image_size / 2**l`` with ``level_channels[l]``
    channels and holds ``num_res_blocks`` residual blocks, and every level but the last ends
    with a 2× downsampling. Each of these blocks' outputs is a skip, in order::

        level 0:  stem (stem_channels), res × n (level_channels[0])
        level l:  downsample of level l−1 (level_channels[l−1]), res × n (level_channels[l])

    so there are num_levels·(n+1) skips and a mirrored decoder consumes n+1 of them per level,
    deepest first.

    Attributes:
        sample_channels: channels C of the diffusion space (input y_t and output ε).
        image_size: (H, W) of the diffusion space.
        stem_channels: output channels of the stem convolution (the first skip).
        level_channels: channels of each resolution level.
        num_res_blocks: residual blocks per level in the encoder half.
        time_embed_dim: width of the time embedding in :attr:`BackboneFeatures.emb`.
        attention_levels: levels where the backbone uses self-attention (a default for a
            mirrored decoder; the backbone's middle block always attends).
    """

    sample_channels: int
    image_size: tuple[int, int]
    stem_channels: int
    level_channels: tuple[int, ...]
    num_res_blocks: int
    time_embed_dim: int
    attention_levels: tuple[int, ...] = ()

    @property
    def num_levels(self) -> int:
        return len(self.level_channels)

    @property
    def skip_channels(self) -> tuple[int, ...]:
        """Channels of each skip, in the order the encoder half produces them."""
        channels = [self.stem_channels]
        for level, width in enumerate(self.level_channels):
            if level > 0:
                channels.append(self.level_channels[level - 1])
            channels.extend([width] * self.num_res_blocks)
        return tuple(channels)

    @property
    def skip_levels(self) -> tuple[int, ...]:
        """Resolution level of each skip (its spatial size is image_size / 2**level)."""
        return tuple(
            level for level in range(self.num_levels) for _ in range(self.num_res_blocks + 1)
        )

    @property
    def bottleneck_channels(self) -> int:
        return self.level_channels[-1]

    def resolution(self, level: int) -> tuple[int, int]:
        """(H, W) at a level."""
        height, width = self.image_size
        return height >> level, width >> level

    def check(self, features: BackboneFeatures) -> None:
        """Raise ValueError unless ``features`` have the shapes this layout promises."""
        if len(features.skips) != len(self.skip_channels):
            raise ValueError(
                f"{len(features.skips)} skips, the layout promises {len(self.skip_channels)}"
            )
        for i, (skip, ch, level) in enumerate(
            zip(features.skips, self.skip_channels, self.skip_levels, strict=True)
        ):
            expected = (ch, *self.resolution(level))
            if tuple(skip.shape[1:]) != expected:
                raise ValueError(f"skip {i} has shape {tuple(skip.shape[1:])}, not {expected}")
        if features.emb.shape[1:] != (self.time_embed_dim,):
            raise ValueError(f"time embedding of shape {tuple(features.emb.shape[1:])}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "sample_channels": self.sample_channels,
            "image_size": list(self.image_size),
            "stem_channels": self.stem_channels,
            "level_channels": list(self.level_channels),
            "num_res_blocks": self.num_res_blocks,
            "time_embed_dim": self.time_embed_dim,
            "attention_levels": list(self.attention_levels),
        }


@dataclass
class BackboneFeatures:
    """Activations of a backbone's encoder half for one batch (see the module docstring).

    Attributes:
        skips: output of every encoder-half block, in order (B, C_i, H_i, W_i); channels and
            sizes as :class:`FeatureLayout` lists them. The last one is the bottleneck.
        emb: the backbone's time embedding of t, (B, time_embed_dim).
    """

    skips: list[Tensor]
    emb: Tensor

    @property
    def bottleneck(self) -> Tensor:
        """The encoder half's output = the input of the middle block (= ``skips[-1]``)."""
        return self.skips[-1]

    def map(self, fn: Callable[[Tensor], Tensor]) -> BackboneFeatures:
        """Apply ``fn`` to every tensor (e.g. ``lambda x: x.detach()``)."""
        return BackboneFeatures([fn(s) for s in self.skips], fn(self.emb))

    def repeat_interleave(self, repeats: int) -> BackboneFeatures:
        """Each example repeated ``repeats`` times along the batch (row b·repeats + k is
        example b): how a field folds its factor axis into the batch without recomputing."""
        return self.map(lambda x: x.repeat_interleave(repeats, dim=0))


class Backbone(nn.Module, ABC):
    """A diffusion model predicting ε in the diffusion space, with its noise schedule.

    Subclasses build their network in ``__init__`` (after ``super().__init__(schedule)``) and
    implement the two halves. ``schedule`` is a submodule, so ``backbone.to(device)`` moves it.
    """

    def __init__(self, schedule: NoiseSchedule) -> None:
        super().__init__()
        self.schedule = schedule
        self._frozen = False

    # -- what a subclass provides -----------------------------------------------------------
    @property
    @abstractmethod
    def sample_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of the diffusion space."""

    @property
    @abstractmethod
    def feature_layout(self) -> FeatureLayout:
        """Channels and resolutions of the features (see :class:`FeatureLayout`)."""

    @abstractmethod
    def run_encoder(self, y_t: Tensor, t: Tensor | int) -> BackboneFeatures:
        """The time embedding and encoder half: y_t (B, C, H, W), t (B,) long (or an int)."""

    @abstractmethod
    def run_decoder(self, features: BackboneFeatures) -> Tensor:
        """Middle block, decoder half and output layer: ε of shape (B, C, H, W)."""

    # -- derived API ---------------------------------------------------------------------------
    def forward(self, y_t: Tensor, t: Tensor | int) -> Tensor:
        """ε_θ(y_t, t), shape of y_t."""
        return self.run_decoder(self.run_encoder(y_t, t))

    def forward_with_features(
        self, y_t: Tensor, t: Tensor | int
    ) -> tuple[Tensor, BackboneFeatures]:
        """ε_θ(y_t, t) and the encoder-half features of the same pass (nothing recomputed)."""
        features = self.run_encoder(y_t, t)
        return self.run_decoder(features), features

    def features(self, y_t: Tensor, t: Tensor | int) -> BackboneFeatures:
        """Only the encoder half, without gradient (what a gradient field reads)."""
        with torch.no_grad():
            return self.run_encoder(y_t, t)

    # -- freezing ------------------------------------------------------------------------------
    @property
    def frozen(self) -> bool:
        return self._frozen

    def freeze(self) -> Self:
        """Eval mode and ``requires_grad=False`` on every parameter, for good: a frozen
        backbone stays in eval mode when an enclosing module calls ``.train()`` (dropout
        would otherwise change ε_θ)."""
        self._frozen = True
        self.requires_grad_(False)
        return self.eval()

    def train(self, mode: bool = True) -> Self:
        return super().train(mode and not self._frozen)
