"""The loss contract: one term of DisDiff's objective over the tensors of one training step.

:class:`~disdiff_core.disdiff.DisDiffModel` computes everything the terms share once per step
(y_t, ε_θ and the backbone features without gradient, z, all N sub-gradient fields in one
batched pass) and hands it to every term as a :class:`DisDiffStep`. A term returns a dict of
0-dim tensors: ``"loss"`` is what it adds to the objective; every other entry is a named,
detached number for the metrics log (``rec``, ``dis``, ``ce_variant``, ``w`` …). Names must not
collide between the terms of one recipe.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

from torch import Tensor

from disdiff_core.diffusion.schedule import NoiseSchedule
from disdiff_core.interfaces.first_stage import FirstStage


@dataclass(frozen=True)
class DisDiffStep:
    """What one DisDiff training step computed (docs/method.md, "One training step").

    Attributes:
        schedule: the backbone's noise schedule (a_t, b_t, ᾱ_t …).
        x0: pixel images (B, 3, H, W) in [-1, 1].
        y0: their diffusion-space latents s·ℰ(x0), without gradient.
        y_t: noised diffusion-space samples (B, C, h, w).
        t: (B,) long timesteps.
        noise: the ε that made y_t from y0.
        eps_theta: the frozen backbone's ε_θ(y_t, t), without gradient.
        z: the encoder's representation (B, N, D), with gradient into the encoder.
        fields: all sub-gradients G_k(y_t, t, z_k) (B, N, C, h, w), with gradient into the
            field and (through z) the encoder; None in the draws made for a term with its own
            timestep band (:attr:`LossTerm.timestep_band`), where only G_c is computed.
        factor: (B,) long: the sampled factor c of each example.
        field_c: G_c (B, C, h, w): the sampled factor's field, ``fields[b, c_b]`` of the same
            pass (gradient into the field AND, through z_c, the encoder: the reference's
            path), or G_c(y_t, t, stopgrad(z_c)) when a term asks for the detached code
            (:attr:`LossTerm.detached_factor_code`, an ablation).
        first_stage: the frozen autoencoder (decode with ``decode_scaled(y, quantize=False)``).
        frozen_encoder: Ē: image → (B, N, D), the current encoder's weights (or their moving
            average, :attr:`LossTerm.frozen_encoder_decay`) in eval mode with no gradient into
            them (gradient still flows through its operations).
        step: the global optimiser step (schedules such as a λ warm-up), None outside training.
        trace: when not None, a dict that receives the step's intermediates (detached) under
            their names (``y0``, ``z``, ``fields``, ``rec_per_example``, ``dis_z_hat`` …): for
            tests, debugging and parity checks against a reference implementation.
    """

    schedule: NoiseSchedule
    x0: Tensor
    y0: Tensor
    y_t: Tensor
    t: Tensor
    noise: Tensor
    eps_theta: Tensor
    z: Tensor
    fields: Tensor | None
    factor: Tensor
    field_c: Tensor
    first_stage: FirstStage
    frozen_encoder: Callable[[Tensor], Tensor]
    step: int | None = None
    trace: dict[str, Tensor] | None = None

    def record(self, **tensors: Tensor) -> None:
        """Keep detached copies of intermediates in :attr:`trace` (nothing when it is None)."""
        if self.trace is not None:
            self.trace.update({name: value.detach() for name, value in tensors.items()})


class LossTerm(ABC):
    """One term of the objective (built by a ``loss`` plugin from its parameters)."""

    #: Whether the term uses the frozen encoder Ē (the model then syncs it before the term).
    needs_sampled_factor: bool = False
    #: For a term that uses Ē: 0 keeps Ē a copy of E at every step (the reference); d in (0, 1)
    #: makes Ē a moving average of E, Ē ← d·Ē + (1 − d)·E once per optimiser step.
    frozen_encoder_decay: float = 0.0
    #: Whether the term wants G_c on stopgrad(z_c) (costs B more rows in the field pass).
    detached_factor_code: bool = False
    #: [low, high): in training, the term gets its own examples with t drawn in this band (the
    #: same images, codes and sampled factors, new t and ε; one more backbone pass and a B-row
    #: field pass for G_c) instead of the step's shared draws. None: the shared draws. A t
    #: passed to the step explicitly (probes, tests) is used as given.
    timestep_band: tuple[int, int] | None = None

    @abstractmethod
    def __call__(self, step: DisDiffStep) -> dict[str, Tensor]:
        """``{"loss": term to add, name: detached scalar, ...}`` (all 0-dim tensors)."""

    def describe(self) -> str:
        """One line naming the term and its settings (what a run log records)."""
        return type(self).__name__
