"""Reconstruction and adversarial terms of LDM's autoencoder losses (taming's
``VQLPIPSWithDiscriminator`` and LDM's ``LPIPSWithDiscriminator``).

One optimiser trains the autoencoder and its discriminator together. LDM alternates two
optimisers on each batch (autoencoder, then discriminator, same learning rate and Adam betas);
here one loss carries both, arranged so each gradient reaches only its own side:

* the autoencoder's adversarial term −mean D(x̂) runs the discriminator with DETACHED parameters
  (``torch.func.functional_call``): its gradient reaches the decoder, not D;
* the discriminator's hinge loss sees DETACHED reconstructions: its gradient reaches D only.

So one optimiser step over all parameters equals LDM's two steps (the discriminator sees the
reconstructions from before the autoencoder's update of the same step, a negligible difference).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

from disdiff_plugins.first_stages.lpips import LPIPS


class PatchGAN(nn.Module):
    """pix2pix's N-layer PatchGAN discriminator with BatchNorm (taming's NLayerDiscriminator):
    image (B, C, H, W) → patch logits (B, 1, H', W'). Initialised N(0, 0.02) as in taming."""

    def __init__(self, in_channels: int = 3, channels: int = 64, layers: int = 3) -> None:
        super().__init__()
        seq: list[nn.Module] = [
            nn.Conv2d(in_channels, channels, 4, stride=2, padding=1),
            nn.LeakyReLU(0.2),
        ]
        mult = 1
        for n in range(1, layers + 1):
            prev, mult = mult, min(2**n, 8)
            stride = 2 if n < layers else 1
            seq += [
                nn.Conv2d(
                    channels * prev, channels * mult, 4, stride=stride, padding=1, bias=False
                ),
                nn.BatchNorm2d(channels * mult),
                nn.LeakyReLU(0.2),
            ]
        seq.append(nn.Conv2d(channels * mult, 1, 4, stride=1, padding=1))
        self.main = nn.Sequential(*seq)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.normal_(module.weight, 0.0, 0.02)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.normal_(module.weight, 1.0, 0.02)
                nn.init.zeros_(module.bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.main(x)

    def generator_loss(self, fake: Tensor) -> Tensor:
        """−mean D(fake) with D's parameters detached: the gradient reaches ``fake`` only."""
        frozen = {name: p.detach() for name, p in self.named_parameters()}
        return -functional_call(self, frozen, (fake,)).mean()

    def discriminator_loss(self, real: Tensor, fake: Tensor) -> Tensor:
        """Hinge loss ½(mean relu(1 − D(real)) + mean relu(1 + D(fake))) on detached inputs:
        the gradient reaches D only."""
        logits_real = self(real.detach())
        logits_fake = self(fake.detach())
        return 0.5 * (F.relu(1.0 - logits_real).mean() + F.relu(1.0 + logits_fake).mean())


def adaptive_weight(nll: Tensor, g_loss: Tensor, last_layer: Tensor) -> Tensor:
    """LDM/taming's balance of the adversarial term: ‖∇_w nll‖ / (‖∇_w g_loss‖ + 1e-4) at the
    decoder's last weight w, clamped to [0, 1e4], detached. 0 where no graph exists (under
    ``torch.no_grad``, e.g. validation), as LDM does."""
    if not (torch.is_grad_enabled() and nll.requires_grad and g_loss.requires_grad):
        return nll.new_zeros(())
    (grad_nll,) = torch.autograd.grad(nll, last_layer, retain_graph=True)
    (grad_g,) = torch.autograd.grad(g_loss, last_layer, retain_graph=True)
    return (grad_nll.norm() / (grad_g.norm() + 1e-4)).clamp(0.0, 1e4).detach()


@dataclass
class AdversarialTerms:
    """Adversarial part of one step (0-dim tensors).

    Attributes:
        generator: d_weight·g_loss, to add to the autoencoder loss (gradient to the decoder).
        discriminator: the hinge loss, to add as well (gradient to the discriminator only).
        g_loss: −mean D(x̂), unweighted (detached, for logs).
        d_weight: disc_weight × adaptive weight (detached; 0 before the start step).
    """

    generator: Tensor
    discriminator: Tensor
    g_loss: Tensor
    d_weight: Tensor


class AutoencoderLoss(nn.Module):
    """Pixel (+ LPIPS) reconstruction, and the adversarial term when ``disc_weight > 0``.

    LDM keeps the discriminator (and the KL autoencoder's learned ``logvar``) in a submodule
    ``loss``; so does this class, so LDM checkpoints keep their key names. The LPIPS network is
    NOT a registered submodule: it is fixed, loaded from its own file, and stays out of the
    state dict, ``parameters()`` and EMA copies; it follows the input's device.
    """

    def __init__(
        self,
        *,
        in_channels: int,
        pixel_loss: str,
        perceptual: LPIPS | None,
        perceptual_weight: float,
        disc_weight: float,
        disc_start: int,
        disc_channels: int,
        disc_layers: int,
        logvar_init: float | None = None,
    ) -> None:
        super().__init__()
        self.pixel_loss = pixel_loss
        self._perceptual = (perceptual,) if perceptual is not None else ()  # unregistered
        self.perceptual_weight = perceptual_weight
        self.disc_weight = disc_weight
        self.disc_start = disc_start
        self.discriminator = (
            PatchGAN(in_channels, disc_channels, disc_layers) if disc_weight > 0 else None
        )
        self.logvar = nn.Parameter(torch.tensor(logvar_init)) if logvar_init is not None else None

    @property
    def has_perceptual(self) -> bool:
        return bool(self._perceptual)

    def reconstruction(self, x: Tensor, xrec: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """Per-element reconstruction loss (B, C, H, W): |x − x̂| (or squared) + w_p·LPIPS
        (broadcast over each image, as LDM adds it), and its detached parts for logs."""
        pixel = (x - xrec).abs() if self.pixel_loss == "l1" else (x - xrec).pow(2)
        logs = {"rec": pixel.detach().mean()}
        if not self._perceptual:
            return pixel, logs
        lpips = self._perceptual[0].to(x.device)
        distance = lpips(x.float(), xrec.float()).to(pixel.dtype)
        logs["perceptual"] = distance.detach().mean()
        return pixel + self.perceptual_weight * distance.view(-1, 1, 1, 1), logs

    def adversarial(
        self, x: Tensor, xrec: Tensor, nll: Tensor, last_layer: Tensor, step: int
    ) -> AdversarialTerms | None:
        """The adversarial terms at global ``step`` (None without a discriminator; zeros
        before ``disc_start``, when the discriminator is not even run)."""
        if self.discriminator is None:
            return None
        if step < self.disc_start:
            zero = nll.new_zeros(())
            return AdversarialTerms(zero, zero, zero, zero)
        g_loss = self.discriminator.generator_loss(xrec)
        d_weight = adaptive_weight(nll, g_loss, last_layer) * self.disc_weight
        d_loss = self.discriminator.discriminator_loss(x, xrec)
        return AdversarialTerms(d_weight * g_loss, d_loss, g_loss.detach(), d_weight)
