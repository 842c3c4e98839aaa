"""Learning-rate schedule: linear warm-up from 0, then constant (the reference LDM/DisDiff one).

The rate is a pure function of the step, so a checkpoint needs no scheduler state and a resumed
run computes exactly the rates a straight run would.
"""

from __future__ import annotations


def warmup_lr(step: int, base_lr: float, warmup_steps: int) -> float:
    """Learning rate of the update that turns ``step`` finished steps into ``step + 1``.

    ``base_lr · min(1, (step + 1) / warmup_steps)``: it rises linearly from ``base_lr/warmup``
    (rather than exactly 0, which would waste the first step) to ``base_lr`` at the last warm-up
    step, then stays there. ``warmup_steps = 0`` gives a constant rate.
    """
    if warmup_steps <= 0:
        return base_lr
    return base_lr * min(1.0, (step + 1) / warmup_steps)
