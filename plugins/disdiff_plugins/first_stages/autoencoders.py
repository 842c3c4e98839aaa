"""LDM-style VQ and KL autoencoders (LDM's ``VQModelInterface`` and ``AutoencoderKL``).

Both share the convolutional :class:`~disdiff_plugins.first_stages.blocks.Encoder` /
:class:`~disdiff_plugins.first_stages.blocks.Decoder`, the 1×1 ``quant_conv`` after the encoder
and ``post_quant_conv`` before the decoder, and the reconstruction / adversarial losses of
:mod:`disdiff_plugins.first_stages.losses`. Module names are LDM's, so a converted LDM / DisDiff
checkpoint loads as it is.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

from torch import Tensor, nn

from disdiff_core.errors import DisdiffError
from disdiff_core.interfaces.first_stage import FirstStage
from disdiff_plugins.first_stages.blocks import Decoder, Encoder
from disdiff_plugins.first_stages.gaussian import DiagonalGaussian
from disdiff_plugins.first_stages.losses import AdversarialTerms, AutoencoderLoss
from disdiff_plugins.first_stages.lpips import load_lpips
from disdiff_plugins.first_stages.quantizer import VectorQuantizer
from disdiff_plugins.first_stages.specs import ConvAutoencoderParams, KLParams, VQParams


class ConvAutoencoder(FirstStage):
    """Encoder → quant_conv (→ latent) → post_quant_conv → decoder, and the training loss.

    ``trainable=False`` builds no loss parts (no discriminator, no LPIPS): what a frozen first
    stage loaded from a checkpoint needs.
    """

    def __init__(
        self,
        params: ConvAutoencoderParams,
        *,
        moments: int,
        trainable: bool = True,
        logvar_init: float | None = None,
    ) -> None:
        """``moments``: channels per latent channel that quant_conv emits (1: a point latent,
        2: mean and log-variance)."""
        p = params
        super().__init__(downsample=2 ** (len(p.ch_mult) - 1), latent_channels=p.embed_dim)
        arch = {
            "ch": p.ch,
            "ch_mult": p.ch_mult,
            "num_res_blocks": p.num_res_blocks,
            "attn_levels": p.attn_levels,
            "groups": p.norm_groups,
            "dropout": p.dropout,
        }
        self.encoder = Encoder(
            in_channels=p.in_channels, out_channels=moments * p.z_channels, **arch
        )
        self.decoder = Decoder(in_channels=p.z_channels, out_channels=p.in_channels, **arch)
        self.quant_conv = nn.Conv2d(moments * p.z_channels, moments * p.embed_dim, 1)
        self.post_quant_conv = nn.Conv2d(p.embed_dim, p.z_channels, 1)
        self.loss: AutoencoderLoss | None = None
        if trainable:
            self.loss = AutoencoderLoss(
                in_channels=p.in_channels,
                pixel_loss=p.pixel_loss,
                perceptual=load_lpips(p.perceptual_weights) if p.perceptual_weights else None,
                perceptual_weight=p.perceptual_weight,
                disc_weight=p.disc_weight,
                disc_start=p.disc_start,
                disc_channels=p.disc_channels,
                disc_layers=p.disc_layers,
                logvar_init=logvar_init,
            )

    def _decode(self, y: Tensor) -> Tensor:
        return self.decoder(self.post_quant_conv(y))

    def _objective(self) -> AutoencoderLoss:
        self._check_trainable()
        if self.loss is None:
            raise DisdiffError(f"this {type(self).__name__} was built without its training loss")
        return self.loss

    def _with_adversarial(
        self,
        terms: dict[str, Tensor],
        loss: Tensor,
        adv: AdversarialTerms | None,
    ) -> dict[str, Tensor]:
        """Add the adversarial terms (if any) to ``loss`` and the logs; ``"loss"`` first."""
        if adv is not None:
            loss = loss + adv.generator + adv.discriminator
            terms |= {
                "g_loss": adv.g_loss,
                "d_weight": adv.d_weight,
                "d_loss": adv.discriminator.detach(),
            }
        return {"loss": loss, **terms}


class VQAutoencoder(ConvAutoencoder):
    """VQ autoencoder: the latent is the encoder output BEFORE quantisation (what DisDiff and
    LDM's ``VQModelInterface`` diffuse); the decoder snaps it to the codebook unless told not to.

    Training loss (taming's VQLPIPSWithDiscriminator, codebook terms as in VQ-VAE):
    mean rec + codebook_weight·(codebook + commitment) [+ d_weight·g_loss + hinge D loss].
    """

    def __init__(self, params: VQParams, *, trainable: bool = True) -> None:
        super().__init__(params, moments=1, trainable=trainable)
        self.quantize = VectorQuantizer(params.n_embed, params.embed_dim, params.beta)
        self.codebook_weight = params.codebook_weight

    def encode(self, x: Tensor) -> Tensor:
        """Image (B, C, H, W) → pre-quantisation latent (B, embed_dim, H/f, W/f)."""
        return self.quant_conv(self.encoder(x))

    def decode(self, y: Tensor, *, quantize: bool = True) -> Tensor:
        """Latent (B, embed_dim, h, w) → image; ``quantize=False`` skips the codebook (the
        decoder is then an ordinary differentiable function of y)."""
        if quantize:
            y = self.quantize(y).z_q
        return self._decode(y)

    def training_losses(self, x: Tensor, *, step: int = 0) -> dict[str, Tensor]:
        objective = self._objective()
        q = self.quantize(self.encode(x))
        xrec = self._decode(q.z_q)
        rec, terms = objective.reconstruction(x, xrec)
        nll = rec.mean()
        loss = nll + self.codebook_weight * (q.codebook_loss + q.commitment_loss)
        terms |= {
            "codebook": q.codebook_loss.detach(),
            "commitment": q.commitment_loss.detach(),
            "perplexity": self.quantize.perplexity(q.indices),
        }
        adv = objective.adversarial(x, xrec, nll, self.decoder.conv_out.weight, step)
        return self._with_adversarial(terms, loss, adv)


class KLAutoencoder(ConvAutoencoder):
    """KL autoencoder: q(y|x) a diagonal Gaussian; the latent is its mean (or a sample when
    ``sample_posterior``).

    Training loss (LDM's LPIPSWithDiscriminator, sums over elements divided by the batch):
    Σ(rec/exp(logvar) + logvar)/B + kl_weight·Σ KL(q ‖ N(0, I))/B [+ adversarial], with a
    learned scalar ``logvar`` (the likelihood's log-variance).
    """

    def __init__(self, params: KLParams, *, trainable: bool = True) -> None:
        super().__init__(params, moments=2, trainable=trainable, logvar_init=params.logvar_init)
        self.kl_weight = params.kl_weight
        self.sample_posterior = params.sample_posterior

    def posterior(self, x: Tensor) -> DiagonalGaussian:
        """q(y|x) for images (B, C, H, W): mean and log-variance (B, embed_dim, H/f, W/f)."""
        return DiagonalGaussian(self.quant_conv(self.encoder(x)))

    def encode(self, x: Tensor) -> Tensor:
        """Image → posterior mean (default) or a posterior sample, (B, embed_dim, H/f, W/f)."""
        posterior = self.posterior(x)
        return posterior.sample() if self.sample_posterior else posterior.mean

    def decode(self, y: Tensor, *, quantize: bool = True) -> Tensor:
        """Latent (B, embed_dim, h, w) → image (``quantize`` is ignored: no codebook)."""
        return self._decode(y)

    def training_losses(self, x: Tensor, *, step: int = 0) -> dict[str, Tensor]:
        objective = self._objective()
        assert objective.logvar is not None
        posterior = self.posterior(x)
        xrec = self._decode(posterior.sample())
        rec, terms = objective.reconstruction(x, xrec)
        batch = x.shape[0]
        nll = (rec / objective.logvar.exp() + objective.logvar).sum() / batch
        kl = posterior.kl().sum() / batch
        loss = nll + self.kl_weight * kl
        terms |= {"nll": nll.detach(), "kl": kl.detach(), "logvar": objective.logvar.detach()}
        adv = objective.adversarial(x, xrec, nll, self.decoder.conv_out.weight, step)
        return self._with_adversarial(terms, loss, adv)


_Model = TypeVar("_Model", bound=FirstStage)


def load_frozen(model: _Model, path: str | Path) -> _Model:
    """Load a safetensors state dict into ``model`` and freeze it.

    Entries of the training loss (``loss.*``: discriminator, LPIPS, learned logvar) are not
    needed by a frozen first stage and are skipped; a missing ``scale_factor`` (e.g. a converted
    LDM checkpoint, where s lives with the diffusion model) leaves s = 1, to be measured.
    Anything else missing, unexpected or mis-shaped is a DisdiffError naming the file.
    """
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise DisdiffError(f"first-stage checkpoint {path} does not exist")
    try:
        state = load_file(str(path))
    except Exception as err:
        raise DisdiffError(f"cannot read first-stage checkpoint {path}: {err}") from err
    state = {k: v for k, v in state.items() if not k.startswith("loss.")}
    expected = {k for k in model.state_dict() if not k.startswith("loss.")}
    missing = sorted(expected - set(state) - {"scale_factor"})
    unexpected = sorted(set(state) - expected)
    if missing or unexpected:
        raise DisdiffError(
            f"first-stage checkpoint {path} does not fit this {type(model).__name__} "
            f"(check its params): missing {missing[:4]}{'…' if len(missing) > 4 else ''}, "
            f"unexpected {unexpected[:4]}{'…' if len(unexpected) > 4 else ''}"
        )
    try:
        model.load_state_dict(state, strict=False)
    except RuntimeError as err:
        raise DisdiffError(f"first-stage checkpoint {path} does not fit: {err}") from err
    return model.freeze()


def build_vq(params: VQParams) -> VQAutoencoder:
    """Factory of the ``vq`` plugin: a trainable model, or a frozen one from ``checkpoint``."""
    if params.checkpoint is None:
        return VQAutoencoder(params)
    return load_frozen(VQAutoencoder(params, trainable=False), params.checkpoint)


def build_kl(params: KLParams) -> KLAutoencoder:
    """Factory of the ``kl`` plugin: a trainable model, or a frozen one from ``checkpoint``."""
    if params.checkpoint is None:
        return KLAutoencoder(params)
    return load_frozen(KLAutoencoder(params, trainable=False), params.checkpoint)
