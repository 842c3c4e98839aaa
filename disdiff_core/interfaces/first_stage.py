"""The first-stage contract: an autoencoder between pixels and the diffusion space.

DisDiff (like LDM) may run its diffusion in the latent space of a frozen autoencoder with encoder
ℰ and decoder 𝒟. The diffusion space is the *scaled* latent y = s·ℰ(x), with s = 1/std of the
latents measured over the training data, so that y has roughly unit variance; pixels come back
as x = 𝒟(y/s). Pixel-space models use the identity first stage (ℰ = 𝒟 = identity, s = 1).

Two conventions every caller relies on:

* :meth:`FirstStage.encode` / :meth:`FirstStage.decode` work on UNSCALED latents;
  :meth:`FirstStage.encode_scaled` / :meth:`FirstStage.decode_scaled` apply s. Diffusion code
  (backbone training, DisDiff's losses, sampling) uses only the ``*_scaled`` pair, so s is applied
  exactly once.
* ``decode(y, quantize=...)``: a VQ first stage decodes with quantisation by default (what LDM
  does when it renders samples); DisDiff's disentangling loss decodes predicted latents WITHOUT
  quantisation (``quantize=False``) so the decoder stays differentiable w.r.t. its input. Other
  first stages ignore the flag.

Images are float tensors in [-1, 1] of shape (B, C, H, W).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from typing import Self

import torch
from torch import Tensor, nn

from disdiff_core.errors import DisdiffError


class FirstStage(nn.Module, ABC):
    """An autoencoder ℰ/𝒟 with its latent scale factor s (a buffer, saved in the state dict).

    Subclasses call ``super().__init__(downsample=..., latent_channels=...)`` and implement
    :meth:`encode`, :meth:`decode` and :meth:`training_losses`.

    Attributes:
        downsample: spatial factor f: an (H, W) image has an (H/f, W/f) latent.
        latent_channels: channels c of the latent.
        scale_factor: 0-dim float buffer s (1.0 until measured or loaded).
    """

    scale_factor: Tensor

    def __init__(self, *, downsample: int, latent_channels: int) -> None:
        super().__init__()
        self.downsample = downsample
        self.latent_channels = latent_channels
        self.register_buffer("scale_factor", torch.tensor(1.0))
        self._frozen = False

    # -- what a subclass provides -----------------------------------------------------------
    @abstractmethod
    def encode(self, x: Tensor) -> Tensor:
        """ℰ(x): image (B, C, H, W) in [-1, 1] → UNSCALED latent (B, c, H/f, W/f).

        For a VQ autoencoder this is the latent BEFORE quantisation (after ``quant_conv``)."""

    @abstractmethod
    def decode(self, y: Tensor, *, quantize: bool = True) -> Tensor:
        """𝒟(y): UNSCALED latent (B, c, h, w) → image (B, C, h·f, w·f), nominally in [-1, 1]
        (not clamped).

        ``quantize``: VQ only: snap y to the codebook first (default, as when rendering
        samples) or decode y as it is (``False``: differentiable w.r.t. y, what DisDiff's loss
        uses). Ignored by first stages without a codebook."""

    @abstractmethod
    def training_losses(self, x: Tensor, *, step: int = 0) -> dict[str, Tensor]:
        """The autoencoder's training objective on an image batch (B, C, H, W) in [-1, 1].

        ``step`` is the global optimiser step (schedules such as a discriminator start step
        depend on it). Returns 0-dim tensors: ``"loss"`` is the one to backpropagate (through
        ``self.parameters()``, one optimiser for all of them); every other entry is a detached
        term for logging. Raises DisdiffError for a frozen or parameter-free first stage."""

    # -- scale ------------------------------------------------------------------------------
    def encode_scaled(self, x: Tensor) -> Tensor:
        """y = s·ℰ(x): image → diffusion-space latent (roughly unit variance)."""
        return self.encode(x) * self.scale_factor

    def decode_scaled(self, y: Tensor, *, quantize: bool = True) -> Tensor:
        """x = 𝒟(y/s): diffusion-space latent → image (see :meth:`decode` for ``quantize``)."""
        return self.decode(y / self.scale_factor, quantize=quantize)

    def reconstruct(self, x: Tensor) -> Tensor:
        """𝒟(ℰ(x)) with quantisation: what the autoencoder makes of an image."""
        return self.decode(self.encode(x), quantize=True)

    @torch.no_grad()
    def measure_scale_factor(
        self, batches: Iterable[Tensor | Sequence[Tensor]], num_batches: int | None = None
    ) -> float:
        """Set s = 1/std of the encoded latents over ``num_batches`` batches (all when None)
        and return it.

        ``batches`` yields image tensors (B, C, H, W) in [-1, 1], or tuples/lists whose first
        item is one. The standard deviation is taken over every latent element (LDM's
        ``scale_by_std``: ``1 / z.flatten().std()``), accumulated exactly across batches in
        float64 (batch-wise mean/M2 merging), with the unbiased (n−1) estimator. The module is
        in eval mode while measuring.
        """
        was_training = self.training
        self.eval()
        count, mean, m2 = 0, 0.0, 0.0
        try:
            for index, batch in enumerate(batches):
                if num_batches is not None and index >= num_batches:
                    break
                images = batch if isinstance(batch, Tensor) else batch[0]
                latent = self.encode(images.to(self.scale_factor.device)).double().flatten()
                n_b = latent.numel()
                mean_b = latent.mean().item()
                m2_b = ((latent - mean_b) ** 2).sum().item()
                delta = mean_b - mean
                total = count + n_b
                mean += delta * n_b / total
                m2 += m2_b + delta**2 * count * n_b / total
                count = total
        finally:
            self.train(was_training)
        if count < 2:
            raise DisdiffError("measuring the latent scale factor needs at least one image batch")
        std = math.sqrt(m2 / (count - 1))
        if not std > 0:
            raise DisdiffError("the encoded latents have zero variance; cannot set s = 1/std")
        self.scale_factor.fill_(1.0 / std)
        return 1.0 / std

    # -- shapes -------------------------------------------------------------------------------
    def latent_shape(self, image_shape: Sequence[int]) -> tuple[int, ...]:
        """Shape of the latent of an image of shape (..., C, H, W): (..., c, H/f, W/f).

        Raises DisdiffError when H or W is not divisible by the downsampling factor f."""
        *lead, _, height, width = image_shape
        f = self.downsample
        if height % f or width % f:
            raise DisdiffError(
                f"image size {height}x{width} is not divisible by the first stage's "
                f"downsampling factor {f}"
            )
        return (*lead, self.latent_channels, height // f, width // f)

    # -- freezing -----------------------------------------------------------------------------
    @property
    def frozen(self) -> bool:
        return self._frozen

    def freeze(self) -> Self:
        """Eval mode and ``requires_grad=False`` on every parameter, for good: a frozen first
        stage stays in eval mode when an enclosing module calls ``.train()``. Gradients still
        flow THROUGH it (w.r.t. its inputs), which DisDiff's loss needs."""
        self._frozen = True
        self.requires_grad_(False)
        return self.eval()

    def train(self, mode: bool = True) -> Self:
        return super().train(mode and not self._frozen)

    def _check_trainable(self) -> None:
        """Raise DisdiffError when asked for training losses of a frozen first stage."""
        if self._frozen:
            raise DisdiffError(
                f"this {type(self).__name__} is frozen (loaded from a checkpoint); to train a "
                "first stage, leave its `checkpoint` unset"
            )
