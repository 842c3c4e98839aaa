"""The loop: learning, warm-up rates, accumulation, NaN guard, hooks, progress, precision."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import torch
from engine_toys import RegressionBatches, make_model, make_run, make_step_fn

from disdiff_core.engine.config import TrainConfig
from disdiff_core.engine.trainer import Hook, NonFiniteLossError, Trainer
from disdiff_core.errors import RunError
from disdiff_core.runs import Run


def config(**overrides: object) -> TrainConfig:
    settings = {"steps": 20, "batch_size": 16, "lr": 1e-2, "warmup_steps": 0, "log_every": 5,
                "checkpoint_every": None, "ema_decay": None}
    settings.update(overrides)
    return TrainConfig(**settings)


def fit(tmp_path: Path, cfg: TrainConfig, model: torch.nn.Module | None = None,
        data: RegressionBatches | None = None, **kwargs: object) -> Trainer:
    model = model or make_model()
    data = data or RegressionBatches(cfg.micro_batch_size() * cfg.grad_accum,
                                     parts=cfg.grad_accum,
                                     my_parts=range(cfg.grad_accum))
    trainer = Trainer(model, make_step_fn(model), data, cfg, make_run(tmp_path / "run"),
                      stream=io.StringIO(), **kwargs)
    trainer.fit()
    return trainer


def test_loss_falls_and_terms_are_logged(tmp_path: Path) -> None:
    trainer = fit(tmp_path, config(steps=150, log_every=10))
    records = Run.open(trainer.run.path).read_metrics()
    assert [r["step"] for r in records] == list(range(10, 151, 10))
    assert {"loss", "mae", "scale", "lr", "steps_per_s"} <= set(records[0])
    assert records[-1]["loss"] < 0.05 * records[0]["loss"]
    assert Run.open(trainer.run.path).status == "finished"


def test_warmup_rates_are_applied_step_by_step(tmp_path: Path) -> None:
    trainer = fit(tmp_path, config(steps=6, lr=0.4, warmup_steps=4, log_every=1))
    logged = [r["lr"] for r in trainer.run.read_metrics()]
    assert logged == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.4, 0.4])


def test_lr_scale_sets_a_learning_rate_per_part(tmp_path: Path) -> None:
    # Sequential children are "0" … "3": the first Linear frozen by a factor 0, the last halved
    model = make_model()
    first = model[0].weight.detach().clone()
    last = model[3].weight.detach().clone()
    trainer = fit(tmp_path, config(steps=4, lr=0.1, lr_scale={"0": 0.0, "3": 0.5}), model=model)
    assert torch.equal(model[0].weight, first) and not torch.equal(model[3].weight, last)
    assert sorted(g["lr"] for g in trainer.optimizer.param_groups) == pytest.approx([0.0, 0.05])
    assert [r["lr"] for r in trainer.run.read_metrics()] == pytest.approx([0.1])  # the base lr


def test_lr_scale_of_an_unknown_part_lists_the_parts(tmp_path: Path) -> None:
    with pytest.raises(RunError, match="names encoder, which .* its parts are 0, 1, 2, 3"):
        fit(tmp_path, config(steps=1, lr_scale={"encoder": 0.1}))


def test_gradient_accumulation_equals_the_big_batch(tmp_path: Path) -> None:
    big = fit(tmp_path / "big", config(steps=5, batch_size=16),
              data=RegressionBatches(16))
    accumulated = fit(tmp_path / "acc", config(steps=5, batch_size=16, grad_accum=2),
                      data=RegressionBatches(16, parts=2, my_parts=(0, 1)))
    for a, b in zip(big.module.parameters(), accumulated.module.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def nan_at(steps: set[int], model: torch.nn.Module):
    """A step function whose loss is NaN on the given (1-based) calls."""
    inner = make_step_fn(model)
    calls = {"n": 0}

    def step_fn(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        calls["n"] += 1
        out = inner(batch)
        if calls["n"] in steps:
            out["loss"] = out["loss"] * float("nan")
        return out

    return step_fn


def test_nan_guard_skips_the_step_and_counts_it(tmp_path: Path) -> None:
    model = make_model()
    cfg = config(steps=4, log_every=4, nan_guard=3)
    trainer = Trainer(model, nan_at({2, 3}, model), RegressionBatches(16), cfg,
                      make_run(tmp_path / "run"), stream=io.StringIO())
    trainer.fit()
    assert (trainer.step, trainer.skipped) == (4, 2)
    assert all(torch.isfinite(p).all() for p in model.parameters())
    record = trainer.run.read_metrics()[-1]
    assert record["skipped"] == 2 and record["loss"] == record["loss"]  # mean of finite steps


def test_nan_guard_aborts_after_consecutive_failures(tmp_path: Path) -> None:
    model = make_model()
    trainer = Trainer(model, nan_at(set(range(3, 100)), model), RegressionBatches(16),
                      config(steps=10, nan_guard=3, grad_clip=1.0), make_run(tmp_path / "run"),
                      stream=io.StringIO())
    with pytest.raises(NonFiniteLossError, match="step 2: .*not finite for 3 consecutive steps"):
        trainer.fit()
    assert issubclass(NonFiniteLossError, RunError)
    assert Run.open(trainer.run.path).status == "failed"


def test_hooks_run_every_n_steps_and_at_the_end_without_touching_training(tmp_path: Path) -> None:
    calls: list[tuple[int, bool]] = []

    def sample(trainer: Trainer) -> dict[str, float]:
        trainer.module.eval()
        torch.randn(100)  # consumes the global RNG: must not change the trajectory
        with trainer.ema_module() as model:
            calls.append((trainer.step, torch.is_grad_enabled()))
            return {"norm": float(sum(p.norm() for p in model.parameters()))}

    cfg = config(steps=7, ema_decay=0.9)
    with_hook = fit(tmp_path / "a", cfg, hooks=[Hook("sample", every=3, fn=sample)])
    without = fit(tmp_path / "b", cfg)
    assert calls == [(3, False), (6, False), (7, False)]
    assert with_hook.module.training
    logged = [r for r in with_hook.run.read_metrics() if "sample/norm" in r]
    assert [r["step"] for r in logged] == [3, 6, 7]
    for a, b in zip(with_hook.module.parameters(), without.module.parameters(), strict=True):
        assert torch.equal(a, b)


def test_plain_progress_lines_when_not_a_terminal(tmp_path: Path) -> None:
    model = make_model()
    stream = io.StringIO()
    Trainer(model, make_step_fn(model), RegressionBatches(16), config(steps=10, log_every=5),
            make_run(tmp_path / "run"), stream=stream).fit()
    lines = stream.getvalue().splitlines()
    assert [line.split()[:2] for line in lines] == [["step", "5/10"], ["step", "10/10"]]
    assert "loss" in lines[0] and "lr" in lines[0] and "steps_per_s" in lines[0]


def test_bf16_autocast_trains_on_cpu(tmp_path: Path) -> None:
    trainer = fit(tmp_path, config(steps=60, precision="bf16", log_every=20))
    records = trainer.run.read_metrics()
    assert records[-1]["loss"] < 0.2 * records[0]["loss"]
    assert all(p.dtype == torch.float32 for p in trainer.module.parameters())


def test_finite_data_iterator_is_a_clear_error(tmp_path: Path) -> None:
    model = make_model()
    data = iter([next(RegressionBatches(16))])
    trainer = Trainer(model, make_step_fn(model), data, config(steps=3),
                      make_run(tmp_path / "run"), stream=io.StringIO())
    with pytest.raises(RunError, match="data iterator ended at step 1"):
        trainer.fit()


def test_nothing_to_train_is_a_clear_error(tmp_path: Path) -> None:
    model = make_model().requires_grad_(False)
    with pytest.raises(RunError, match="nothing to train"):
        Trainer(model, make_step_fn(model), RegressionBatches(16), config(),
                make_run(tmp_path / "run"))


@pytest.mark.slow
def test_compiled_step_matches_eager(tmp_path: Path) -> None:
    eager = fit(tmp_path / "eager", config(steps=5))
    compiled = fit(tmp_path / "compiled", config(steps=5, compile=True))
    for a, b in zip(eager.module.parameters(), compiled.module.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_live_progress_on_a_terminal(tmp_path: Path) -> None:
    model = make_model()
    stream = Terminal()
    trainer = Trainer(model, make_step_fn(model), RegressionBatches(16),
                      config(steps=10, log_every=5), make_run(tmp_path / "run"), stream=stream)
    trainer.fit()
    assert "10/10" in stream.getvalue() and "loss" in stream.getvalue()


def test_time_limit_ends_the_run_like_its_last_step(tmp_path: Path) -> None:
    hook_calls: list[int] = []
    hook = Hook("end", None, lambda trainer: hook_calls.append(trainer.step))
    trainer = fit(tmp_path, config(steps=50, log_every=10, time_limit_s=1e-9), hooks=[hook])
    run = Run.open(trainer.run.path)
    assert run.status == "finished" and run.step == 1
    assert run.info["time_limit_reached"] == 1
    assert [r["step"] for r in run.read_metrics()] == [1]  # the final log line
    assert hook_calls == [1] and (run.checkpoints_dir / "step-0000001").is_dir()


def test_without_a_time_limit_the_run_records_none(tmp_path: Path) -> None:
    trainer = fit(tmp_path, config(steps=3))
    assert Run.open(trainer.run.path).info["time_limit_reached"] is None
