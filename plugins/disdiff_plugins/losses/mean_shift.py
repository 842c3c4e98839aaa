"""The ``mean-shift`` loss: PDAE's reconstruction objective with the SUM of DisDiff's fields.

    ε̂ = ε_θ − a_t·Σ_k G_k,   L_rec = mean_b( λ_t · mean_{chw} |ε − ε̂|^p ),   p = 1 (l1) or 2 (l2)

with a_t = √α_t·(1−ᾱ_{t−1})/√(1−ᾱ_t) (so a_0 = 0) and λ_t = 1, or PDAE's SNR^0.1/(1 + SNR) when
``snr_weighting`` is on. The encoder learns through this term (z feeds every G_k) and, through
z_c, through the disentangling term.
"""

from __future__ import annotations

from torch import Tensor

from disdiff_core.interfaces.loss import DisDiffStep, LossTerm
from disdiff_plugins.losses.specs import MeanShiftParams


class MeanShiftLoss(LossTerm):
    """Returns ``loss`` and ``rec`` (the same value, detached for logging)."""

    def __init__(self, params: MeanShiftParams) -> None:
        self.params = params

    def __call__(self, step: DisDiffStep) -> dict[str, Tensor]:
        schedule = step.schedule
        eps_hat = step.eps_theta - schedule.a(step.t, step.y_t) * step.fields.sum(dim=1)
        error = step.noise - eps_hat
        error = error.abs() if self.params.loss_type == "l1" else error.square()
        per_example = error.flatten(1).mean(dim=1)
        if self.params.snr_weighting:
            snr = schedule.snr(step.t, per_example)
            per_example = per_example * snr**0.1 / (1 + snr)
        loss = per_example.mean()
        step.record(rec_eps_hat=eps_hat, rec_per_example=per_example)
        return {"loss": loss, "rec": loss.detach()}

    def describe(self) -> str:
        weighting = ", SNR^0.1/(1+SNR) weighting" if self.params.snr_weighting else ""
        return f"mean-shift reconstruction ({self.params.loss_type}{weighting})"
