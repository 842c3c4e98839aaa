"""Exponential moving average of a module's trained weights, kept as a shadow copy.

Tracked entries: every parameter that requires a gradient and every buffer (BatchNorm running
statistics). Floating-point entries are averaged, ``ema ← ema + (1 − d)·(live − ema)``; integer
buffers (``num_batches_tracked``) are copied. Frozen parameters are not tracked: they never
change, and copying a frozen backbone every step would double its memory for nothing.

Updates run under ``torch.no_grad`` with one ``torch._foreach_lerp_`` per step (a few fused
kernels instead of one per tensor); ``bench/bench_engine.py`` measures the gain.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn


def tracked_entries(module: nn.Module) -> dict[str, torch.Tensor]:
    """The live tensors the EMA follows, by ``state_dict`` name."""
    entries = {name: p for name, p in module.named_parameters() if p.requires_grad}
    entries.update(dict(module.named_buffers()))
    return entries


class EMA:
    """The shadow copy and its update rule.

    Create it once the module sits on its device: ``module.to`` replaces buffer tensors, and the
    EMA keeps references to the live tensors (parameters and buffers are updated in place by the
    optimiser and by BatchNorm, so the references stay valid while training).

    Args:
        module: the trained module (unwrapped from DDP/compile).
        decay: the target decay d (e.g. 0.9999).
        start: the shadow copies the weights until ``start`` steps are done, then averages.
        warmup: use ``min(decay, (1 + n)/(10 + n))`` at the n-th averaging update (n = 1, 2, …),
            as the reference LitEma does, so early weights are forgotten quickly.
    """

    def __init__(self, module: nn.Module, decay: float, *, start: int = 0, warmup: bool = True):
        self.decay = decay
        self.start = start
        self.warmup = warmup
        self.num_updates = 0
        self._module = module
        live = tracked_entries(module)
        self.names = list(live)
        self.shadow = {name: tensor.detach().clone() for name, tensor in live.items()}
        averaged = [name for name in self.names if live[name].is_floating_point()]
        copied = [name for name in self.names if not live[name].is_floating_point()]
        # Tensor lists built once: a step then costs two foreach calls, no module walk.
        self._live_averaged = [live[name] for name in averaged]
        self._shadow_averaged = [self.shadow[name] for name in averaged]
        self._live_copied = [live[name] for name in copied]
        self._shadow_copied = [self.shadow[name] for name in copied]

    def current_decay(self) -> float:
        """The decay the next averaging update will use."""
        if not self.warmup:
            return self.decay
        n = self.num_updates + 1
        return min(self.decay, (1 + n) / (10 + n))

    @torch.no_grad()
    def update(self, step: int) -> None:
        """Follow the live weights after the optimiser step that finished ``step`` steps."""
        if step <= self.start:
            self._copy_live()
            return
        weight = 1.0 - self.current_decay()
        self.num_updates += 1
        torch._foreach_lerp_(self._shadow_averaged, self._live_averaged, weight)
        if self._live_copied:
            torch._foreach_copy_(self._shadow_copied, self._live_copied)

    @torch.no_grad()
    def reset(self) -> None:
        """Start over from the live weights (e.g. after loading weights saved without EMA)."""
        self._copy_live()
        self.num_updates = 0

    def _copy_live(self) -> None:
        torch._foreach_copy_(self._shadow_averaged, self._live_averaged)
        if self._live_copied:
            torch._foreach_copy_(self._shadow_copied, self._live_copied)

    @torch.no_grad()
    def copy_to(self, module: nn.Module) -> None:
        """Write the EMA values into ``module`` (same structure as the tracked one)."""
        live = tracked_entries(module)
        torch._foreach_copy_([live[name] for name in self.names],
                             [self.shadow[name] for name in self.names])

    @contextlib.contextmanager
    def swapped_in(self) -> Iterator[nn.Module]:
        """Temporarily put the EMA values into the tracked module (restored on exit), so hooks
        can sample or evaluate with EMA weights without a second copy of the model."""
        live = list(tracked_entries(self._module).values())
        with torch.no_grad():
            backup = [tensor.detach().clone() for tensor in live]
            self.copy_to(self._module)
        try:
            yield self._module
        finally:
            with torch.no_grad():
                torch._foreach_copy_(live, backup)

    # -- checkpointing ----------------------------------------------------------------------
    def state_tensors(self) -> dict[str, torch.Tensor]:
        """The shadow tensors by name (what ``ema.safetensors`` holds)."""
        return self.shadow

    def load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        """Restore the shadow; names must match exactly (raises ``KeyError`` listing the
        differences otherwise)."""
        missing = sorted(set(self.names) - set(tensors))
        unexpected = sorted(set(tensors) - set(self.names))
        if missing or unexpected:
            raise KeyError(f"missing {missing[:5]}, unexpected {unexpected[:5]}")
        with torch.no_grad():
            for name in self.names:
                self.shadow[name].copy_(tensors[name])
