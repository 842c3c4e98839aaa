"""TrainConfig (the recipe's ``train:`` section) and the warm-up schedule."""

from __future__ import annotations

import subprocess
import sys

import pytest
from pydantic import ValidationError

from disdiff_core.engine.config import TrainConfig
from disdiff_core.engine.schedule import warmup_lr
from disdiff_core.errors import RecipeError


def test_reference_defaults_and_required_steps() -> None:
    config = TrainConfig(steps=10)
    assert (config.batch_size, config.lr, config.warmup_steps) == (128, 2.56e-4, 10_000)
    assert (config.weight_decay, config.betas, config.ema_decay) == (0.01, (0.9, 0.999), 0.9999)
    with pytest.raises(ValidationError, match="steps"):
        TrainConfig()
    assert TrainConfig(steps=None).steps is None  # explicit "no limit"
    with pytest.raises(ValidationError):
        TrainConfig(steps=0)


def test_unknown_keys_and_bad_values_are_errors() -> None:
    with pytest.raises(ValidationError, match="Extra inputs"):
        TrainConfig(steps=1, learning_rate=1e-4)
    with pytest.raises(ValidationError, match="precision"):
        TrainConfig(steps=1, precision="fp16")
    with pytest.raises(ValidationError, match="not divisible by grad_accum"):
        TrainConfig(steps=1, batch_size=6, grad_accum=4)


def test_micro_batch_size_splits_over_ranks_and_accumulation() -> None:
    config = TrainConfig(steps=1, batch_size=128, grad_accum=2)
    assert config.micro_batch_size() == 64
    assert config.micro_batch_size(world_size=4) == 16
    with pytest.raises(RecipeError, match="world_size 3"):
        config.micro_batch_size(world_size=3)


def test_config_hash_is_stable_and_sensitive() -> None:
    assert TrainConfig(steps=5).config_hash() == TrainConfig(steps=5).config_hash()
    assert TrainConfig(steps=5).config_hash() != TrainConfig(steps=5, lr=1e-3).config_hash()


def test_config_module_does_not_import_torch() -> None:
    code = ("import sys, disdiff_core.engine.config; "
            "sys.exit(1 if 'torch' in sys.modules else 0)")
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_warmup_is_linear_from_zero_then_constant() -> None:
    rates = [warmup_lr(step, 1.0, 4) for step in range(6)]
    assert rates == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    assert warmup_lr(0, 3e-4, 0) == 3e-4
