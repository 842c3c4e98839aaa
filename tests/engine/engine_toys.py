"""A tiny regression problem for the engine tests and the DDP worker: y = x·W* + b* + noise.

Batches are a pure function of (seed, batch index), so a batch can be split across ranks or
accumulation micro-steps and the data iterator's position is one integer (the data-state
protocol: ``state_dict()`` / ``load_state_dict()``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from disdiff_core.runs import Run

IN_FEATURES = 8
OUT_FEATURES = 3


class RegressionBatches:
    """Infinite batches; global batch ``g`` is drawn from a generator seeded with (seed, g).

    Every global batch is cut into ``parts`` equal slices and this iterator yields the slices
    ``my_parts`` of each one in turn: ``parts=2, my_parts=(0, 1)`` gives two accumulation
    micro-batches per global batch, ``parts=2, my_parts=(rank,)`` one rank's share.
    """

    def __init__(self, batch_size: int, *, seed: int = 0, parts: int = 1,
                 my_parts: Sequence[int] = (0,)):
        self.batch_size, self.seed = batch_size, seed
        self.parts, self.my_parts = parts, tuple(my_parts)
        self.index = 0
        generator = torch.Generator().manual_seed(12345)
        self.true_weight = torch.randn(IN_FEATURES, OUT_FEATURES, generator=generator)
        self.true_bias = torch.randn(OUT_FEATURES, generator=generator)

    def __iter__(self) -> RegressionBatches:
        return self

    def global_batch(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + index)
        x = torch.randn(self.batch_size, IN_FEATURES, generator=generator)
        noise = 0.01 * torch.randn(self.batch_size, OUT_FEATURES, generator=generator)
        return x, x @ self.true_weight + self.true_bias + noise

    def __next__(self) -> dict[str, torch.Tensor]:
        global_index, slot = divmod(self.index, len(self.my_parts))
        part = self.my_parts[slot]
        self.index += 1
        x, y = self.global_batch(global_index)
        share = self.batch_size // self.parts
        rows = slice(part * share, (part + 1) * share)
        return {"x": x[rows], "y": y[rows]}

    def state_dict(self) -> dict[str, Any]:
        return {"index": self.index}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.index = int(state["index"])


def make_model(*, batch_norm: bool = False, dropout: float = 0.0, seed: int = 0) -> nn.Module:
    """A small MLP; optional BatchNorm (buffers for the EMA) and dropout (uses the RNG)."""
    torch.manual_seed(seed)
    layers: list[nn.Module] = [nn.Linear(IN_FEATURES, 32)]
    if batch_norm:
        layers.append(nn.BatchNorm1d(32))
    layers += [nn.SiLU(), nn.Dropout(dropout), nn.Linear(32, OUT_FEATURES)]
    return nn.Sequential(*layers)


def make_step_fn(model: nn.Module, *, input_noise: float = 0.0
                 ) -> Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]]:
    """MSE loss plus two logged terms; ``input_noise`` draws from the global torch RNG."""

    def step_fn(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        x = batch["x"]
        if input_noise:
            x = x + input_noise * torch.randn_like(x)
        error = model(x) - batch["y"]
        mse = error.pow(2).mean()
        return {"loss": mse, "mae": error.abs().mean().detach(), "scale": x.std().detach()}

    return step_fn


def make_run(path: Path) -> Run:
    return Run.create(path, stage="backbone", recipe_yaml="stage: backbone\n", exist_ok=True)
