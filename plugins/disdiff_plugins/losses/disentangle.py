"""The ``disentangle`` loss: DisDiff's variant and invariant cross-entropies (METHOD.md step 6).

For the sampled factor c of each example (b_t = √(1−ᾱ_t), the DDIM coefficient)::

    ŷ0   = (y_t − b_t·ε_θ)/√ᾱ_t                    (no gradient)
    ŷ0^c = (y_t − b_t·(ε_θ − b_t·G_c))/√ᾱ_t         (gradient into G_c)
    ẑ = Ē(𝒟(ŷ0)),  ẑ^c = Ē(𝒟(ŷ0^c))                (𝒟 without quantisation; Ē frozen, eval)
    d_org_k = ‖ẑ_k − z_k‖ (no gradient), d_new_k = ‖ẑ^c_k − z_k‖, d_shift_k = ‖ẑ_k − ẑ^c_k‖
    CE_variant = CE(d_org − d_new, c),  CE_invariant = CE(d_shift, c)   (raw logits over k)
    w = mean((ŷ0 − ŷ0^c)²) over the latent (or over 𝒟's pixels), detached
    L_dis = mean_b( w_b · λ · (CE_variant,b + CE_invariant,b) )

z is detached (the encoder learns through the reconstruction only) and G_c is evaluated on a
detached z_c by the model (:attr:`DisDiffStep.field_c`).

Stabilisers (options, all off by default = the reference): a linear λ warm-up, the batch-mean
normalisation of w, a cap on w. The ``w`` metric is always the raw batch mean of w, so its
growth stays visible whichever stabiliser runs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from disdiff_core.interfaces.loss import DisDiffStep, LossTerm
from disdiff_plugins.losses.specs import DisentangleParams


class DisentangleLoss(LossTerm):
    """Returns ``loss``, ``dis`` (= loss), ``ce_variant``, ``ce_invariant`` (batch means),
    ``w`` (raw batch mean) and ``dis_lambda`` (λ after the warm-up)."""

    needs_sampled_factor = True

    def __init__(self, params: DisentangleParams) -> None:
        self.params = params

    def current_lambda(self, step: int | None) -> float:
        """λ at a given optimiser step (the warm-up needs the step)."""
        warmup = self.params.warmup_steps
        if warmup == 0:
            return self.params.weight
        if step is None:
            raise ValueError("the disentangle loss has a λ warm-up: pass the training step")
        return self.params.weight * min(1.0, step / warmup)

    def __call__(self, step: DisDiffStep) -> dict[str, Tensor]:
        if step.field_c is None:
            raise ValueError("the disentangle loss needs the sampled factor's field (field_c)")
        schedule, y_t, t, c = step.schedule, step.y_t, step.t, step.factor
        b = schedule.b(t, y_t)
        sqrt_alpha_bar = schedule.gather(schedule.sqrt_alphas_cumprod, t, y_t)
        with torch.no_grad():
            y0_hat = (y_t - b * step.eps_theta) / sqrt_alpha_bar
            x_hat = step.first_stage.decode_scaled(y0_hat, quantize=False)
            z_hat = step.frozen_encoder(x_hat)
        y0_hat_c = (y_t - b * (step.eps_theta - b * step.field_c)) / sqrt_alpha_bar
        x_hat_c = step.first_stage.decode_scaled(y0_hat_c, quantize=False)
        z_hat_c = step.frozen_encoder(x_hat_c)

        target = step.z.detach()
        with torch.no_grad():
            d_org = torch.linalg.vector_norm(z_hat - target, dim=-1)
        d_new = torch.linalg.vector_norm(z_hat_c - target, dim=-1)
        d_shift = torch.linalg.vector_norm(z_hat - z_hat_c, dim=-1)
        ce_variant = F.cross_entropy((d_org - d_new).float(), c, reduction="none")
        ce_invariant = F.cross_entropy(d_shift.float(), c, reduction="none")

        with torch.no_grad():
            pair = (y0_hat, y0_hat_c) if self.params.weight_mode == "latent" else (x_hat, x_hat_c)
            w_raw = (pair[0] - pair[1]).float().square().flatten(1).mean(dim=1)
            w = self._stabilise(w_raw)
        lam = self.current_lambda(step.step)
        loss = (w * lam * (ce_variant + ce_invariant)).mean()
        return {
            "loss": loss,
            "dis": loss.detach(),
            "ce_variant": ce_variant.detach().mean(),
            "ce_invariant": ce_invariant.detach().mean(),
            "w": w_raw.mean(),
            "dis_lambda": torch.tensor(lam, device=loss.device),
        }

    def _stabilise(self, w: Tensor) -> Tensor:
        if self.params.w_normalize:
            w = w / w.mean().clamp_min(torch.finfo(w.dtype).tiny)
        if self.params.w_max is not None:
            w = w.clamp(max=self.params.w_max)
        return w

    def describe(self) -> str:
        p = self.params
        stabilisers = [
            name
            for name, on in (
                (f"λ warm-up over {p.warmup_steps} steps", p.warmup_steps > 0),
                ("w normalised by its batch mean", p.w_normalize),
                (f"w capped at {p.w_max}", p.w_max is not None),
            )
            if on
        ]
        return (
            f"disentangle (λ = {p.weight}, w over the {p.weight_mode}; stabilisers: "
            f"{', '.join(stabilisers) or 'none'})"
        )
