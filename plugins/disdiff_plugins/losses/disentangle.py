"""The ``disentangle`` loss: DisDiff's variant and invariant cross-entropies (docs/method.md).

For the sampled factor c of each example (b_t = √(1−ᾱ_t), the DDIM coefficient)::

    ŷ0   = (y_t − b_t·ε_θ)/√ᾱ_t                    (no gradient)
    ŷ0^c = (y_t − b_t·(ε_θ − b_t·G_c))/√ᾱ_t         (gradient into G_c)
    ẑ = Ē(𝒟(ŷ0)),  ẑ^c = Ē(𝒟(ŷ0^c))                (𝒟 without quantisation; Ē frozen, eval)
    d_org_k = ‖ẑ_k − z_k‖ (no gradient), d_new_k = ‖ẑ^c_k − z_k‖, d_shift_k = ‖ẑ_k − ẑ^c_k‖
    CE_variant = CE(d_org − d_new, c),  CE_invariant = CE(d_shift, c)   (raw logits over k)
    w = mean((ŷ0 − ŷ0^c)²) over the latent (or over 𝒟's pixels; or 1: ``uniform``), detached
    L_dis = mean_b( w_b · λ · (CE_variant,b + CE_invariant,b) )

The target z is detached inside the distances, but G_c is the model's field on the LIVE z_c,
so the term trains the encoder too (the reference's path; ``code_gradient: detached`` is the
ablation that stops it). Ē, the decoded predictions, the distances and the cross-entropies run
in float32 even under bf16 autocast: early in training ẑ^c − ẑ is tiny, and a bf16 difference of
two nearly equal codes is rounding noise.

Stabilisers (options, all off by default = the reference): a linear λ warm-up, the batch-mean
normalisation of w, a cap on w. Also an option: ``t_range``, the term on a band of timesteps
only. In training the model then draws the term's own examples with t in the band (the same
images, codes and factors; see :attr:`LossTerm.timestep_band`), so every example of the batch
counts; an example whose given t lies outside the band (a probe, a test) weighs 0. And
``frozen_encoder_decay``: Ē a slow moving average of E instead of a copy
(:mod:`disdiff_core.frozen_encoder`); the variant distances then aim at Ē(x0) instead of z, so
that every distance is read with the same ruler. The ``w``
metric is always the raw batch mean of w, so its growth stays visible whichever option runs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from disdiff_core.interfaces.loss import DisDiffStep, LossTerm
from disdiff_plugins.losses.specs import DisentangleParams


def _at_least_fp32(tensor: Tensor) -> Tensor:
    """float32 for half-precision tensors; float32 and float64 stay as they are."""
    return tensor.float() if tensor.element_size() < 4 else tensor


def _code_distance(a: Tensor, b: Tensor) -> Tensor:
    """Per-factor L2 distance over the code dims: (B, N, D) × 2 → (B, N)."""
    return torch.linalg.vector_norm(a - b, dim=-1)


#: Timestep buckets of the ``w_t<k>`` instruments (equal slices of 0..T−1).
W_BUCKETS = 5


def _instruments(prefix: str, logits: Tensor, c: Tensor) -> dict[str, Tensor]:
    """Top-1 accuracy of a cross-entropy's logits (argmax = c; chance is 1/N, far more telling
    than the CE near ln N) and their spread (max − min), batch means."""
    return {
        f"acc_{prefix}": (logits.argmax(dim=-1) == c).float().mean(),
        f"spread_{prefix}": (logits.amax(dim=-1) - logits.amin(dim=-1)).mean(),
    }


def _w_by_timestep(w: Tensor, t: Tensor, num_timesteps: int) -> dict[str, Tensor]:
    """Where the term's weight comes from: Σ_b w_b·[t_b in bucket k] / B for each of
    :data:`W_BUCKETS` timestep slices (the buckets add up to the batch mean of w)."""
    bucket = (t * W_BUCKETS // num_timesteps).clamp(max=W_BUCKETS - 1)
    sums = torch.zeros(W_BUCKETS, dtype=w.dtype, device=w.device).index_add_(0, bucket, w)
    return {f"w_t{k}": sums[k] / w.shape[0] for k in range(W_BUCKETS)}


class DisentangleLoss(LossTerm):
    """Returns ``loss``, ``dis`` (= loss), ``ce_variant``, ``ce_invariant`` (batch means),
    ``w`` (raw batch mean of the latent or image w, also when ``uniform`` weights every
    example by 1), ``dis_lambda`` (λ after the warm-up) and instruments: ``acc_*`` and
    ``spread_*`` of both logits, ``w_t0`` … ``w_t4`` (w by timestep slice)."""

    needs_sampled_factor = True

    def __init__(self, params: DisentangleParams) -> None:
        self.params = params
        self.detached_factor_code = params.code_gradient == "detached"
        self.timestep_band = params.t_range
        self.frozen_encoder_decay = params.frozen_encoder_decay

    def current_lambda(self, step: int | None) -> float:
        """λ at a given optimiser step (the warm-up needs the step)."""
        warmup = self.params.warmup_steps
        if warmup == 0:
            return self.params.weight
        if step is None:
            raise ValueError("the disentangle loss has a λ warm-up: pass the training step")
        return self.params.weight * min(1.0, step / warmup)

    def __call__(self, step: DisDiffStep) -> dict[str, Tensor]:
        schedule, t, c = step.schedule, step.t, step.factor
        y_t, eps_theta, field_c = map(_at_least_fp32, (step.y_t, step.eps_theta, step.field_c))
        b = schedule.b(t, y_t)
        sqrt_alpha_bar = schedule.gather(schedule.sqrt_alphas_cumprod, t, y_t)
        with torch.autocast(y_t.device.type, enabled=False):
            with torch.no_grad():
                y0_hat = (y_t - b * eps_theta) / sqrt_alpha_bar
                x_hat = step.first_stage.decode_scaled(y0_hat, quantize=False)
                z_hat = step.frozen_encoder(x_hat)
            eps_c = eps_theta - b * field_c
            y0_hat_c = (y_t - b * eps_c) / sqrt_alpha_bar
            x_hat_c = step.first_stage.decode_scaled(y0_hat_c, quantize=False)
            z_hat_c = step.frozen_encoder(x_hat_c)

            target = self._variant_target(step)
            with torch.no_grad():
                d_org = _code_distance(z_hat, target)
            d_new = _code_distance(z_hat_c, target)
            d_shift = _code_distance(z_hat, z_hat_c)
            logits_variant, logits_invariant = d_org - d_new, d_shift
            ce_variant = F.cross_entropy(logits_variant, c, reduction="none")
            ce_invariant = F.cross_entropy(logits_invariant, c, reduction="none")

        with torch.no_grad():
            pair = (x_hat, x_hat_c) if self.params.weight_mode == "image" else (y0_hat, y0_hat_c)
            w_raw = (pair[0] - pair[1]).square().flatten(1).mean(dim=1)
            w = torch.ones_like(w_raw) if self.params.weight_mode == "uniform" else w_raw
            w = self._stabilise(w) * self._in_t_range(t).to(w.dtype)
        lam = self.current_lambda(step.step)
        per_example = w * lam * (ce_variant + ce_invariant)
        loss = per_example.mean()
        step.record(
            dis_y0_hat=y0_hat, dis_x_hat=x_hat, dis_z_hat=z_hat, dis_eps_c=eps_c,
            dis_y0_hat_c=y0_hat_c, dis_x_hat_c=x_hat_c, dis_z_hat_c=z_hat_c,
            dis_d_org=d_org, dis_d_new=d_new, dis_logits_variant=logits_variant,
            dis_logits_invariant=logits_invariant, dis_ce_variant=ce_variant,
            dis_ce_invariant=ce_invariant, dis_w=w_raw, dis_per_example=per_example,
        )
        return {
            "loss": loss,
            "dis": loss.detach(),
            "ce_variant": ce_variant.detach().mean(),
            "ce_invariant": ce_invariant.detach().mean(),
            "w": w_raw.mean(),
            "dis_lambda": torch.tensor(lam, device=loss.device),
            **_instruments("variant", logits_variant.detach(), c),
            **_instruments("invariant", logits_invariant.detach(), c),
            **_w_by_timestep(w_raw, t, schedule.num_timesteps),
        }

    def _variant_target(self, step: DisDiffStep) -> Tensor:
        """The codes the variant distances aim at: the live z, detached (the reference, where
        Ē is E); with an averaged Ē, Ē(x0), so that all three distances are read with one ruler
        (against z, an average lagging E made the variant logits rank the sampled factor LAST:
        top-1 accuracy 0.08 with chance at 0.20)."""
        if self.params.frozen_encoder_decay == 0:
            return _at_least_fp32(step.z.detach())
        with torch.no_grad():
            return step.frozen_encoder(_at_least_fp32(step.x0))

    def _in_t_range(self, t: Tensor) -> Tensor:
        """Which examples the term applies to: all, or those with t in ``t_range``."""
        if self.params.t_range is None:
            return torch.ones_like(t, dtype=torch.bool)
        low, high = self.params.t_range
        return (t >= low) & (t < high)

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
        options = "" if p.code_gradient == "live" else ", G_c on a detached z_c (ablation)"
        if p.t_range is not None:
            options += f", only t in [{p.t_range[0]}, {p.t_range[1]})"
        if p.frozen_encoder_decay > 0:
            options += f", Ē a moving average of E (decay {p.frozen_encoder_decay})"
        weighting = "w ≡ 1" if p.weight_mode == "uniform" else f"w over the {p.weight_mode}"
        return (
            f"disentangle (λ = {p.weight}, {weighting}{options}; stabilisers: "
            f"{', '.join(stabilisers) or 'none'})"
        )
