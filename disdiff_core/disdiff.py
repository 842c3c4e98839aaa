"""The DisDiff model: a frozen backbone and first stage, a trainable encoder E and field G.

:class:`DisDiffModel` implements the training step of docs/method.md (:meth:`~DisDiffModel.
training_losses`), and what sampling, editing and evaluation need: the representation
(:meth:`~DisDiffModel.encode`), the conditional ε̃ for the samplers
(:meth:`~DisDiffModel.conditional_eps`), and per-factor x0 predictions for visual checks
(:meth:`~DisDiffModel.factor_x0`).

What the module holds. Its registered submodules are ``encoder`` and ``field`` (and an
averaged Ē, below), so its parameters, ``state_dict`` and the engine's EMA and checkpoints cover
exactly what trains and what training accumulates. The
frozen backbone and first stage are held outside the module tree (``model.backbone``,
``model.first_stage``): they never change, are frozen (eval mode, no gradient) on entry, and
follow ``model.to(...)``.

The frozen encoder Ē of the disentangling loss (:mod:`disdiff_core.frozen_encoder`): by
default a copy of E re-synced in place before each use (the reference's Ē = E, without its
per-step deep copy), held outside the module tree; with a loss term's
``frozen_encoder_decay`` > 0, a slow moving average of E, registered as the submodule
``averaged_encoder`` so that its weights are checkpointed.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import Tensor, nn

from disdiff_core.diffusion.schedule import NoiseSchedule
from disdiff_core.errors import DisdiffError
from disdiff_core.frozen_encoder import AveragedEncoder, FrozenEncoderCopy
from disdiff_core.interfaces.backbone import Backbone, BackboneFeatures
from disdiff_core.interfaces.encoder import RepresentationEncoder
from disdiff_core.interfaces.field import FactorIds, GradientField
from disdiff_core.interfaces.first_stage import FirstStage
from disdiff_core.interfaces.loss import DisDiffStep, LossTerm
from disdiff_core.interfaces.sampler import EpsFn


@dataclass
class _FrozenParts:
    """Modules a DisDiffModel uses but does not train (kept out of its module tree)."""

    backbone: Backbone
    first_stage: FirstStage
    encoder_copy: FrozenEncoderCopy | None  # None when Ē is an average (a submodule)

    def modules(self) -> Iterator[nn.Module]:
        yield from (self.backbone, self.first_stage)
        if self.encoder_copy is not None:
            yield self.encoder_copy.module


def _uniform_ints(
    high: int, batch: int, generator: torch.Generator | None, device: torch.device
) -> Tensor:
    """(batch,) long uniform in [0, high), drawn on the generator's device."""
    source = generator.device if generator is not None else device
    return torch.randint(high, (batch,), generator=generator, device=source).to(device)


def _code_norms(z: Tensor) -> dict[str, Tensor]:
    """‖z_k‖ per factor, batch means (``z_norm_0`` …): an instrument of the codes' scale."""
    norms = torch.linalg.vector_norm(z.detach().float(), dim=-1).mean(dim=0)
    return {f"z_norm_{k}": norm for k, norm in enumerate(norms)}


def _normal(shape: torch.Size, generator: torch.Generator | None, like: Tensor) -> Tensor:
    """N(0, I) of ``shape`` in ``like``'s dtype and device, drawn on the generator's device."""
    source = generator.device if generator is not None else like.device
    noise = torch.randn(shape, generator=generator, device=source, dtype=like.dtype)
    return noise.to(like.device)


def _frozen_encoder_decay(losses: Sequence[LossTerm]) -> float:
    """The one Ē decay the terms that use Ē agree on (0: Ē is a copy of E)."""
    decays = {term.frozen_encoder_decay for term in losses if term.needs_sampled_factor}
    if len(decays) > 1:
        raise DisdiffError(f"the loss terms ask for different frozen-encoder decays "
                           f"{sorted(decays)}; Ē is shared, so they must agree")
    return decays.pop() if decays else 0.0


class DisDiffModel(nn.Module):
    """DisDiff over a frozen backbone ε_θ and first stage (ℰ, 𝒟, s).

    Args:
        backbone: the pre-trained diffusion model (frozen here).
        first_stage: its autoencoder (the identity in pixel space; frozen here).
        encoder: E_φ, image → (B, N, D) (trained).
        field: G_ψ for the same N and D (trained).
        losses: the objective's terms; L is the sum of their ``loss`` entries.
    """

    def __init__(
        self,
        backbone: Backbone,
        first_stage: FirstStage,
        encoder: RepresentationEncoder,
        field: GradientField,
        losses: Sequence[LossTerm],
    ) -> None:
        super().__init__()
        if (encoder.num_factors, encoder.factor_dim) != (field.num_factors, field.factor_dim):
            raise DisdiffError(
                f"the encoder makes {encoder.num_factors} codes of {encoder.factor_dim} dims but "
                f"the field takes {field.num_factors} of {field.factor_dim}"
            )
        if not losses:
            raise DisdiffError("DisDiff needs at least one loss term (e.g. mean-shift)")
        num_timesteps = backbone.schedule.num_timesteps
        for term in losses:
            if term.timestep_band is not None and term.timestep_band[1] > num_timesteps:
                raise DisdiffError(f"{term.describe()}: its timestep band ends at "
                                   f"{term.timestep_band[1]}, past the backbone's T = "
                                   f"{num_timesteps}")
        self.encoder = encoder
        self.field = field
        self.losses = tuple(losses)
        decay = _frozen_encoder_decay(self.losses)
        self.averaged_encoder: AveragedEncoder | None = (
            AveragedEncoder(encoder, decay) if decay > 0 else None)
        self._frozen = _FrozenParts(backbone.freeze(), first_stage.freeze(),
                                    FrozenEncoderCopy(encoder) if decay == 0 else None)

    # -- parts --------------------------------------------------------------------------------
    @property
    def backbone(self) -> Backbone:
        return self._frozen.backbone

    @property
    def first_stage(self) -> FirstStage:
        return self._frozen.first_stage

    @property
    def schedule(self) -> NoiseSchedule:
        return self.backbone.schedule

    @property
    def num_factors(self) -> int:
        return self.field.num_factors

    def frozen_encoder(self, x: Tensor) -> Tensor:
        """Ē(x) with the weights of the last :meth:`sync_frozen_encoder`."""
        if self.averaged_encoder is not None:
            return self.averaged_encoder(x)
        assert self._frozen.encoder_copy is not None
        return self._frozen.encoder_copy(x)

    def sync_frozen_encoder(self, step: int | None = None) -> None:
        """Bring Ē up to the live encoder: copy its current weights and BatchNorm statistics
        or, for an averaged Ē, move the average once per optimiser ``step``."""
        if self.averaged_encoder is not None:
            self.averaged_encoder.follow(self.encoder, step)
        else:
            assert self._frozen.encoder_copy is not None
            self._frozen.encoder_copy.sync(self.encoder)

    def _apply(self, fn: Any, recurse: bool = True) -> DisDiffModel:
        # ``.to(device)`` / ``.half()`` reach the frozen parts too, though they are not
        # submodules (see the module docstring).
        super()._apply(fn, recurse)
        for module in self._frozen.modules():
            module._apply(fn, recurse)
        return self

    # -- training -----------------------------------------------------------------------------
    def training_losses(
        self,
        x0: Tensor,
        *,
        t: Tensor | None = None,
        noise: Tensor | None = None,
        factor: Tensor | None = None,
        generator: torch.Generator | None = None,
        step: int | None = None,
        trace: dict[str, Tensor] | None = None,
    ) -> dict[str, Tensor]:
        """One DisDiff training step on pixel images x0 (B, 3, H, W) in [-1, 1].

        1. y0 = s·ℰ(x0) (no gradient); z = E(x0) from the PIXELS (the encoder in its current
           mode: in training, BatchNorm normalises with batch statistics and updates its running
           ones, and Ē is synced AFTER that update, as the reference does).
        2. t ~ U{0..T−1}, ε ~ N(0, I) per example; y_t = √ᾱ_t·y0 + √(1−ᾱ_t)·ε.
        3. c ~ U{0..N−1} per example.
        4. ε_θ(y_t, t) and the encoder-half features (no gradient); G_k for every k in ONE
           field pass on the live z. G_c is the sampled factor's field from that same pass, so
           the disentangling term reaches the encoder through z_c (the reference's gradient
           path; docs/method.md). A term may ask for G_c on a detached z_c instead
           (:attr:`LossTerm.detached_factor_code`, an ablation), which costs B more field rows.
        5.–7. each loss term; L = Σ terms. A term with a timestep band
           (:attr:`LossTerm.timestep_band`, e.g. the ``t_range`` option) gets its own draws:
           t in the band and a new ε for the same images, codes and factors, with ε_θ and G_c
           of those rows (one more backbone pass, B more field rows).

        ``t``, ``noise`` and ``factor`` are used as given when passed (tests, debugging, parity
        with the reference, the accuracy probe; a given t is not redrawn for a band); otherwise
        they are drawn from ``generator`` (on its own device).
        ``step`` is the optimiser step (for schedules such as a λ warm-up). ``trace``, when a
        dict is passed, receives every intermediate of the step (detached; names in
        :class:`~disdiff_core.interfaces.loss.DisDiffStep`). Returns ``loss`` (to minimise) and
        every term's named numbers (detached batch means).
        """
        state = self._step_state(x0, t=t, noise=noise, factor=factor, generator=generator,
                                 step=step, trace=trace)
        total: Tensor | None = None
        numbers: dict[str, Tensor] = {}
        for _, values in self._term_values(state, generator, draw_bands=t is None):
            total = values["loss"] if total is None else total + values["loss"]
            for name, value in values.items():
                if name == "loss":
                    continue
                if name in numbers:
                    raise DisdiffError(f"two loss terms both report {name!r}")
                numbers[name] = value.detach()
        assert total is not None
        return {"loss": total, **numbers, **_code_norms(state.z)}

    def code_gradient_norms(
        self, x0: Tensor, *, generator: torch.Generator | None = None, step: int | None = None
    ) -> dict[str, float]:
        """‖∂L_term/∂z‖ for each loss term on one batch (keyed by the term's first number,
        e.g. ``rec``, ``dis``) at optimiser step ``step`` (a λ warm-up needs it): how much of
        the encoder's learning signal each term carries (E learns only through z). An
        instrument: parameter gradients and the encoder's BatchNorm statistics are left as they
        were."""
        buffers = {name: value.clone() for name, value in self.encoder.named_buffers()}
        try:
            with torch.enable_grad():
                state = self._step_state(x0, generator=generator, step=step,
                                         follow_encoder=False)
                norms = {}
                for label, values in self._term_values(state, generator):
                    grad = None
                    if values["loss"].requires_grad:
                        (grad,) = torch.autograd.grad(values["loss"], state.z,
                                                      retain_graph=True, allow_unused=True)
                    norms[label] = 0.0 if grad is None else float(grad.norm())
        finally:
            with torch.no_grad():
                for name, value in self.encoder.named_buffers():
                    value.copy_(buffers[name])
        return norms

    def _step_state(
        self,
        x0: Tensor,
        *,
        t: Tensor | None = None,
        noise: Tensor | None = None,
        factor: Tensor | None = None,
        generator: torch.Generator | None = None,
        step: int | None = None,
        trace: dict[str, Tensor] | None = None,
        follow_encoder: bool = True,
    ) -> DisDiffStep:
        """Steps 1–4 of :meth:`training_losses`: everything the loss terms share (with
        ``follow_encoder`` False, Ē is left where it is: an instrument re-running a step)."""
        batch, device = x0.shape[0], x0.device
        schedule = self.schedule
        with torch.no_grad():
            y0 = self.first_stage.encode_scaled(x0)
        self._check_latent(y0)
        z = self.encoder(x0)
        t = _uniform_ints(schedule.num_timesteps, batch, generator, device) if t is None else t
        noise = _normal(y0.shape, generator, y0) if noise is None else noise
        if factor is None:
            factor = _uniform_ints(self.num_factors, batch, generator, device)
        y_t = schedule.q_sample(y0, t, noise)
        with torch.no_grad():
            eps_theta, features = self.backbone.forward_with_features(y_t, t)
        fields, field_c = self._training_fields(features, t, z, factor)
        if follow_encoder and any(term.needs_sampled_factor for term in self.losses):
            self.sync_frozen_encoder(step)
        state = DisDiffStep(
            schedule=schedule, x0=x0, y0=y0, y_t=y_t, t=t, noise=noise, eps_theta=eps_theta, z=z,
            fields=fields, factor=factor, field_c=field_c, first_stage=self.first_stage,
            frozen_encoder=self.frozen_encoder, step=step, trace=trace,
        )
        state.record(y0=y0, z=z, y_t=y_t, eps_theta=eps_theta, fields=fields, field_c=field_c)
        return state

    def _term_values(
        self, state: DisDiffStep, generator: torch.Generator | None, *, draw_bands: bool = True
    ) -> Iterator[tuple[str, dict[str, Tensor]]]:
        """Each loss term's numbers, labelled by its first reported number (``rec``, ``dis``);
        a term with a timestep band gets its own draws in it (when ``draw_bands``)."""
        for term in self.losses:
            band = term.timestep_band if draw_bands else None
            values = term(state if band is None else self._band_state(state, term, generator))
            yield next((name for name in values if name != "loss"), "loss"), values

    def _band_state(
        self, state: DisDiffStep, term: LossTerm, generator: torch.Generator | None
    ) -> DisDiffStep:
        """The step redrawn for a term with a timestep band: the same images, codes and sampled
        factors; t ~ U{low..high−1} and a new ε; ε_θ of the new y_t and G_c on those rows only
        (on z_c, or on stopgrad(z_c) when the term asks for the detached code)."""
        assert term.timestep_band is not None
        low, high = term.timestep_band
        batch, device = state.z.shape[0], state.z.device
        t = low + _uniform_ints(high - low, batch, generator, device)
        noise = _normal(state.y0.shape, generator, state.y0)
        y_t = self.schedule.q_sample(state.y0, t, noise)
        with torch.no_grad():
            eps_theta, features = self.backbone.forward_with_features(y_t, t)
        code = state.z[torch.arange(batch, device=device), state.factor][:, None]
        if term.detached_factor_code:
            code = code.detach()
        field_c = self.field.forward_codes(features, t, code, state.factor[:, None])[:, 0]
        return replace(state, y_t=y_t, t=t, noise=noise, eps_theta=eps_theta, fields=None,
                       field_c=field_c)

    def _training_fields(
        self, features: BackboneFeatures, t: Tensor, z: Tensor, factor: Tensor
    ) -> tuple[Tensor, Tensor]:
        """All N fields on the live z, and G_c: the sampled factor's field of the same pass, or
        (when a term asks for it) G_c on stopgrad(z_c), computed as one more code slot."""
        batch, n = z.shape[0], self.num_factors
        rows = torch.arange(batch, device=z.device)
        ids = torch.arange(n, device=z.device).expand(batch, n)
        if not any(term.detached_factor_code and term.timestep_band is None
                   for term in self.losses):
            fields = self.field.forward_codes(features, t, z, ids)
            return fields, fields[rows, factor]
        codes = torch.cat([z, z.detach()[rows, factor][:, None]], dim=1)
        ids = torch.cat([ids, factor[:, None]], dim=1)
        out = self.field.forward_codes(features, t, codes, ids)
        return out[:, :n], out[:, n]

    def _check_latent(self, y0: Tensor) -> None:
        if tuple(y0.shape[1:]) != tuple(self.backbone.sample_shape):
            raise DisdiffError(
                f"the first stage maps these images to latents of shape {tuple(y0.shape[1:])}, "
                f"but the backbone works on {tuple(self.backbone.sample_shape)}"
            )

    # -- inference ----------------------------------------------------------------------------
    @torch.no_grad()
    def encode(self, x: Tensor) -> Tensor:
        """z = E(x) (B, N, D) with the encoder in eval mode (its mode is restored)."""
        was_training = self.encoder.training
        self.encoder.eval()
        try:
            return self.encoder(x)
        finally:
            self.encoder.train(was_training)

    def conditional_eps(self, z: Tensor, factors: FactorIds = None) -> EpsFn:
        """ε̃(y_t, t) = ε_θ(y_t, t) − b_t·Σ_{k∈S} G_k(y_t, t, z_k) for the samplers.

        ``z`` (B, N, D) must have the batch of the y_t it will see (a swap edit passes a z
        assembled from two images); ``factors`` is S (default: all N; a subset gives DisDiff's
        "partial" sampling). Use the model in eval mode; the samplers run it without gradient.
        """
        codes, ids = self.field.select_codes(z, factors)

        def eps_fn(y_t: Tensor, t: Tensor) -> Tensor:
            eps_theta, features = self.backbone.forward_with_features(y_t, t)
            shift = self.field.forward_codes(features, t, codes, ids).sum(dim=1)
            return eps_theta - self.schedule.b(t, y_t) * shift

        return eps_fn

    @torch.no_grad()
    def factor_x0(
        self,
        x0: Tensor,
        timesteps: Sequence[int],
        *,
        z: Tensor | None = None,
        factors: FactorIds = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """What each factor's field does to the clean-image prediction, for visual checks.

        For each t in ``timesteps``, y_t is made from x0 with one shared noise draw and
        ŷ0 = (y_t − b_t·ε)/√ᾱ_t is decoded to pixels for K + 2 choices of ε: the backbone's
        ε_θ alone, ε_θ − b_t·Σ_k G_k (all requested factors), then ε_θ − b_t·G_k for each
        requested factor k (default: all N, with z = E(x0)).

        Returns (B, len(timesteps), K + 2, C, H, W) images (decoded with quantisation, as
        rendered samples are). Use the model in eval mode.
        """
        z = self.encode(x0) if z is None else z
        schedule = self.schedule
        codes, ids = self.field.select_codes(z, factors)
        y0 = self.first_stage.encode_scaled(x0)
        noise = _normal(y0.shape, generator, y0)
        rows = []
        for value in timesteps:
            t = torch.full((x0.shape[0],), int(value), device=x0.device, dtype=torch.long)
            y_t = schedule.q_sample(y0, t, noise)
            eps_theta, features = self.backbone.forward_with_features(y_t, t)
            shifts = schedule.b(t, y_t)[:, None] * self.field.forward_codes(features, t, codes, ids)
            eps = torch.cat(
                [eps_theta[:, None], (eps_theta - shifts.sum(dim=1))[:, None],
                 eps_theta[:, None] - shifts],
                dim=1,
            )
            columns = eps.shape[1]
            x0_hat = schedule.predict_x0(
                y_t.repeat_interleave(columns, dim=0), t.repeat_interleave(columns),
                eps.flatten(0, 1),
            )
            rows.append(self.first_stage.decode_scaled(x0_hat).unflatten(0, (-1, columns)))
        return torch.stack(rows, dim=1)
