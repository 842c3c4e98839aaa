"""Ē, the frozen encoder the disentangling term measures its edits with.

The term encodes its two decoded predictions with Ē, a copy of the encoder E whose weights get
no gradient (gradient still flows through its operations into the field). Two ways to keep it:

- :class:`FrozenEncoderCopy` (the reference): Ē = E at every step. The reference deep-copies E
  at every step; here one copy is made once and overwritten in place (one fused
  ``_foreach_copy_``, no allocation). It holds no state of its own, so it stays out of the
  model's module tree and checkpoints.
- :class:`AveragedEncoder` (an option, ``frozen_encoder_decay`` of the ``disentangle`` loss):
  Ē follows E as an exponential moving average, ``Ē ← d·Ē + (1 − d)·E`` once per optimiser
  step. Why: at CPU scale a field trained on the term learns its ranking only while Ē stands
  still, and a copy moves as fast as E; an average keeps the codes live while the ruler moves
  slowly. Its weights are state, so it is a registered submodule and travels in checkpoints.

Both are always in eval mode (BatchNorm uses running statistics) with ``requires_grad=False``.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import Tensor, nn


def _state_tensors(module: nn.Module) -> list[Tensor]:
    """Parameters then buffers, in a fixed order (two copies of one module pair up)."""
    return [*module.parameters(), *module.buffers()]


class FrozenEncoderCopy:
    """Ē = E: a persistent eval-mode, gradient-free copy of an encoder, re-synced in place."""

    def __init__(self, encoder: nn.Module) -> None:
        self.module = copy.deepcopy(encoder).eval().requires_grad_(False)

    @torch.no_grad()
    def sync(self, encoder: nn.Module) -> None:
        """Copy the live encoder's parameters and buffers into the copy (same structure)."""
        torch._foreach_copy_(_state_tensors(self.module),
                             [tensor.detach() for tensor in _state_tensors(encoder)])

    def __call__(self, x: Tensor) -> Tensor:
        return self.module(x)


class AveragedEncoder(nn.Module):
    """Ē as an exponential moving average of E with decay ``decay`` per optimiser step.

    The first update copies E (so a warm-started encoder starts its own average); each later
    optimiser step moves floating-point entries (weights, BatchNorm statistics) by
    ``(1 − decay)`` towards E and copies integer ones. A step already followed is not followed
    again (gradient accumulation's micro-batches, instruments that re-run a step).
    ``updated_at`` (a buffer, so it is checkpointed) is the last step followed, −1 before the
    first; a model loaded for evaluation has −1 and so uses a plain copy of E.
    """

    def __init__(self, encoder: nn.Module, decay: float) -> None:
        super().__init__()
        if not 0.0 < decay < 1.0:
            raise ValueError(f"the decay of an averaged Ē must lie in (0, 1), not {decay}")
        self.decay = decay
        self.module = copy.deepcopy(encoder).requires_grad_(False)
        # Which state tensors are averaged and which copied (integer counters): fixed by the
        # encoder's structure, so sorted once (``.to`` may replace the tensors, not their kind).
        kinds = [tensor.is_floating_point() for tensor in _state_tensors(self.module)]
        self._averaged = [i for i, is_float in enumerate(kinds) if is_float]
        self._copied = [i for i, is_float in enumerate(kinds) if not is_float]
        self.register_buffer("updated_at", torch.tensor(-1, dtype=torch.long))
        self._updated_at = -1  # a host-side mirror of the buffer: no device sync per step
        self.train(False)

    def train(self, mode: bool = True) -> AveragedEncoder:
        """Ē stays in eval mode whatever the model around it is switched to."""
        return super().train(False)

    @torch.no_grad()
    def follow(self, encoder: nn.Module, step: int | None) -> None:
        """Take E's weights (first call, or no step known yet) or move towards them (a new
        optimiser ``step``)."""
        live = [tensor.detach() for tensor in _state_tensors(encoder)]
        mine = _state_tensors(self.module)
        if self._updated_at < 0:
            torch._foreach_copy_(mine, live)
            if step is not None:
                self._set_updated_at(step)
            return
        if step is None or step <= self._updated_at:
            return
        torch._foreach_lerp_([mine[i] for i in self._averaged],
                             [live[i] for i in self._averaged], 1.0 - self.decay)
        if self._copied:
            torch._foreach_copy_([mine[i] for i in self._copied],
                                 [live[i] for i in self._copied])
        self._set_updated_at(step)

    def _set_updated_at(self, step: int) -> None:
        self._updated_at = step
        self.updated_at.fill_(step)

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str,
                              *args: Any, **kwargs: Any) -> None:
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        self._updated_at = int(self.updated_at)

    def forward(self, x: Tensor) -> Tensor:
        return self.module(x)
