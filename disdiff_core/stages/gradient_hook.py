"""An instrument of DisDiff training: how much of the encoder's learning signal each loss term
carries. Every ``train.log_every`` steps (and after the last), the hook takes the step's batch
again and measures ‖∂L_term/∂z‖ for each term (:meth:`DisDiffModel.code_gradient_norms`): the
encoder learns only through its codes z, so this is the split between the reconstruction
(``rec``) and the disentangling term (``dis``). Logged as ``grad_z/<term>`` and
``grad_z/share_<term>`` (the term's share of the sum). It runs one more forward and, per term,
one backward to z, so it costs about a training step each time it runs.
"""

from __future__ import annotations

import torch
from torch import Tensor

from disdiff_core.disdiff import DisDiffModel
from disdiff_core.engine.trainer import Hook, Trainer

#: The metrics-log prefix of the hook's numbers.
HOOK_NAME = "grad_z"


class LastBatch:
    """Keeps the latest training batch for the hook (a reference, not a copy)."""

    def __init__(self) -> None:
        self.x0: Tensor | None = None

    def keep(self, x0: Tensor) -> Tensor:
        self.x0 = x0
        return x0


def gradient_hook(model: DisDiffModel, batch: LastBatch, every: int) -> Hook:
    """The hook (see the module docstring), run with a fixed draw of t, ε and c."""

    def measure(trainer: Trainer) -> dict[str, float] | None:
        if batch.x0 is None:
            return None
        generator = torch.Generator(device=batch.x0.device).manual_seed(trainer.step)
        norms = model.code_gradient_norms(batch.x0, generator=generator, step=trainer.step)
        total = sum(norms.values())
        shares = {f"share_{k}": v / total for k, v in norms.items()} if total > 0 else {}
        return {**norms, **shares}

    return Hook(name=HOOK_NAME, every=every, fn=measure)
