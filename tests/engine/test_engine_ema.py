"""EMA against a hand computation: warm-up decay, start step, buffers, swap in and out."""

from __future__ import annotations

import torch
from torch import nn

from disdiff_core.engine.ema import EMA


class Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.tensor([0.0, 10.0]))
        self.frozen = nn.Parameter(torch.tensor([7.0]), requires_grad=False)
        self.register_buffer("running", torch.tensor([1.0]))
        self.register_buffer("count", torch.tensor(0))


def set_live(module: Tiny, value: float) -> None:
    with torch.no_grad():
        module.weight.fill_(value)
        module.running.fill_(2 * value)
        module.count += 1


def test_ema_matches_the_hand_recurrence_with_reference_warmup() -> None:
    module = Tiny()
    ema = EMA(module, 0.9, warmup=True)
    assert set(ema.names) == {"weight", "running", "count"}  # frozen parameters are not tracked
    expected_weight = torch.tensor([0.0, 10.0], dtype=torch.float64)
    expected_running = 1.0
    for step, value in enumerate([1.0, 2.0, 3.0, 4.0, 5.0], start=1):
        set_live(module, value)
        ema.update(step)
        decay = min(0.9, (1 + step) / (10 + step))  # LitEma: n-th update uses (1+n)/(10+n)
        expected_weight = decay * expected_weight + (1 - decay) * value
        expected_running = decay * expected_running + (1 - decay) * 2 * value
        torch.testing.assert_close(ema.shadow["weight"], expected_weight.float())
        torch.testing.assert_close(ema.shadow["running"], torch.tensor([expected_running]))
        assert int(ema.shadow["count"]) == step  # integer buffers are copied
    assert ema.num_updates == 5


def test_ema_copies_until_start_then_uses_the_constant_decay() -> None:
    module = Tiny()
    ema = EMA(module, 0.5, start=2, warmup=False)
    set_live(module, 4.0)
    ema.update(1)
    set_live(module, 6.0)
    ema.update(2)
    assert ema.shadow["weight"].tolist() == [6.0, 6.0] and ema.num_updates == 0
    set_live(module, 10.0)
    ema.update(3)
    assert ema.shadow["weight"].tolist() == [8.0, 8.0]  # 0.5·6 + 0.5·10


def test_swapped_in_uses_ema_values_and_restores_live_ones() -> None:
    module = Tiny()
    ema = EMA(module, 0.5, warmup=False)
    set_live(module, 2.0)
    ema.update(1)
    with ema.swapped_in() as swapped:
        assert swapped is module
        assert module.weight.tolist() == [1.0, 6.0]
    assert module.weight.tolist() == [2.0, 2.0]
    assert module.frozen.tolist() == [7.0]
