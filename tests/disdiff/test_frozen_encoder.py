"""Ē as a moving average of E (``frozen_encoder_decay``): the update rule, when it moves, and
that its weights survive a checkpoint and resume."""

from __future__ import annotations

import io
import itertools
from pathlib import Path

import pytest
import torch
from disdiff_toys import default_losses, images, tiny_encoder, tiny_model

from disdiff_core.disdiff import DisDiffModel
from disdiff_core.engine.config import TrainConfig
from disdiff_core.engine.trainer import Trainer
from disdiff_core.errors import DisdiffError
from disdiff_core.frozen_encoder import AveragedEncoder
from disdiff_core.runs import Run

DECAY = 0.9


def _shift(module: torch.nn.Module, amount: float) -> None:
    with torch.no_grad():
        for p in module.parameters():
            p.add_(amount)


def _weights(module: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


def test_the_average_copies_first_then_moves_once_per_step() -> None:
    encoder = tiny_encoder()
    average = AveragedEncoder(encoder, DECAY)
    _shift(encoder, 1.0)
    average.follow(encoder, step=0)  # the first update copies
    for mine, live in zip(average.module.parameters(), encoder.parameters(), strict=True):
        torch.testing.assert_close(mine, live)
    before = _weights(average.module)
    _shift(encoder, 1.0)
    average.follow(encoder, step=1)
    for old, mine, live in zip(before, average.module.parameters(), encoder.parameters(),
                               strict=True):
        torch.testing.assert_close(mine, DECAY * old + (1 - DECAY) * live)
    moved = _weights(average.module)
    average.follow(encoder, step=1)  # the same step again (accumulation, an instrument)
    average.follow(encoder, step=None)  # no step known: the average stays
    for old, mine in zip(moved, average.module.parameters(), strict=True):
        assert torch.equal(old, mine)
    assert int(average.updated_at) == 1


def test_the_average_stays_in_eval_mode_without_gradient() -> None:
    average = AveragedEncoder(tiny_encoder(), DECAY)
    average.train()
    assert not average.training and not average.module.training
    assert not any(p.requires_grad for p in average.parameters())
    with pytest.raises(ValueError, match=r"\(0, 1\)"):
        AveragedEncoder(tiny_encoder(), 1.0)


def test_the_model_measures_with_the_average_and_checkpoints_it() -> None:
    model = tiny_model(losses=default_losses(weight=1.0, frozen_encoder_decay=DECAY))
    assert model.averaged_encoder is not None and model._frozen.encoder_copy is None
    assert any(key.startswith("averaged_encoder.") for key in model.state_dict())
    x0 = images()
    model.training_losses(x0, step=0)
    _shift(model.encoder, 1.0)
    trace: dict[str, torch.Tensor] = {}
    model.training_losses(x0, step=1, trace=trace)
    # Ē is now 0.9·E_old + 0.1·E_new: not the live encoder, and it measured the step's ẑ.
    live = model.encoder.eval()(x0)
    averaged = model.averaged_encoder(x0)
    assert not torch.allclose(averaged, live)
    with torch.no_grad():
        torch.testing.assert_close(trace["dis_z_hat"], model.averaged_encoder(trace["dis_x_hat"]))
        # the variant distances aim at Ē(x0), read with the same ruler, not at the live z
        target = model.averaged_encoder(x0)
        torch.testing.assert_close(trace["dis_d_org"],
                                   torch.linalg.vector_norm(trace["dis_z_hat"] - target, dim=-1))


def test_an_instrument_re_running_a_step_leaves_the_average_alone() -> None:
    model = tiny_model(losses=default_losses(weight=1.0, frozen_encoder_decay=DECAY))
    x0 = images()
    model.training_losses(x0, step=0)
    _shift(model.encoder, 1.0)
    assert model.averaged_encoder is not None
    before = _weights(model.averaged_encoder)
    model.code_gradient_norms(x0, step=5)
    for old, mine in zip(before, model.averaged_encoder.parameters(), strict=True):
        assert torch.equal(old, mine)


def test_terms_asking_for_different_decays_are_refused() -> None:
    losses = [*default_losses(weight=1.0, frozen_encoder_decay=0.5)[1:],
              *default_losses(weight=1.0, frozen_encoder_decay=0.9)]
    with pytest.raises(DisdiffError, match="different frozen-encoder decays"):
        tiny_model(losses=losses)


def _trainer(run_dir: Path, steps: int) -> tuple[Trainer, DisDiffModel]:
    torch.manual_seed(0)
    model = tiny_model(losses=default_losses(weight=1.0, frozen_encoder_decay=DECAY))
    config = TrainConfig(steps=steps, batch_size=4, lr=1e-2, log_every=2, checkpoint_every=2,
                         seed=3)
    run = Run.create(run_dir, stage="disdiff", recipe_yaml="stage: disdiff\n", exist_ok=True)
    trainer = Trainer(model, lambda x0, step: model.training_losses(x0, step=step),
                      itertools.repeat(images()), config, run, pass_step=True,
                      find_unused_parameters=True, stream=io.StringIO())
    return trainer, model


def test_a_resumed_run_continues_the_same_average(tmp_path: Path) -> None:
    straight, straight_model = _trainer(tmp_path / "straight", steps=4)
    straight.fit()
    _trainer(tmp_path / "resumed", steps=2)[0].fit()
    resumed, resumed_model = _trainer(tmp_path / "resumed", steps=4)
    resumed.fit(resume=True)
    assert straight_model.averaged_encoder is not None
    assert resumed_model.averaged_encoder is not None
    assert int(resumed_model.averaged_encoder.updated_at) == 3
    for a, b in zip(straight_model.averaged_encoder.state_dict().values(),
                    resumed_model.averaged_encoder.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    # …and it is an average, not a copy of the trained encoder.
    assert not all(torch.equal(a, b) for a, b in zip(
        straight_model.averaged_encoder.module.parameters(),
        straight_model.encoder.parameters(), strict=True))
