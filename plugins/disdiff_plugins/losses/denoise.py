"""The ``denoise`` loss: the backbone stage's ε-prediction objective.

    L = mean_{b,c,h,w} |ε − ε_θ(y_t, t)|^p,   p = 1 (l1, the DisDiff reference backbone) or 2

It is not a DisDiff term (it reads no :class:`~disdiff_core.interfaces.loss.DisDiffStep`): the
backbone stage calls it with the noise drawn and the network's prediction.
"""

from __future__ import annotations

from torch import Tensor

from disdiff_plugins.losses.specs import DenoiseParams


class DenoiseLoss:
    """Returns ``loss`` and ``l1`` or ``l2`` (the same value, detached for logging)."""

    def __init__(self, params: DenoiseParams) -> None:
        self.params = params

    def __call__(self, noise: Tensor, eps_pred: Tensor) -> dict[str, Tensor]:
        """``noise``, ``eps_pred``: (B, C, H, W) → 0-dim tensors."""
        error = (noise - eps_pred.float()).abs()
        if self.params.loss_type == "l2":
            error = error.square()
        loss = error.mean()
        return {"loss": loss, self.params.loss_type: loss.detach()}

    def describe(self) -> str:
        return f"denoise ε-prediction ({self.params.loss_type})"
