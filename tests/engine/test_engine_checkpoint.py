"""Checkpoints: exact resume, safetensors + JSON only, pruning, clear errors on damage."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import torch
from engine_toys import RegressionBatches, make_model, make_run, make_step_fn
from safetensors import safe_open

from disdiff_core.engine import checkpoint as ckpt
from disdiff_core.engine.config import TrainConfig
from disdiff_core.engine.trainer import Hook, Trainer
from disdiff_core.errors import RunError


def config(steps: int, **overrides: object) -> TrainConfig:
    # Everything that carries state across a resume is on: warm-up, accumulation, clipping,
    # EMA with its warm-up, BatchNorm buffers, dropout and input noise (global RNG), a hook.
    settings = {"steps": steps, "batch_size": 16, "lr": 5e-3, "warmup_steps": 5, "grad_accum": 2,
                "grad_clip": 0.5, "ema_decay": 0.99, "ema_start": 2, "log_every": 3,
                "checkpoint_every": 4, "keep_checkpoints": 2, "seed": 7}
    settings.update(overrides)
    return TrainConfig(**settings)


def make_trainer(run_dir: Path, cfg: TrainConfig) -> Trainer:
    model = make_model(batch_norm=True, dropout=0.2)
    data = RegressionBatches(16, parts=2, my_parts=(0, 1))
    hook = Hook("noise", every=3, fn=lambda trainer: {"draw": float(torch.randn(()))})
    return Trainer(model, make_step_fn(model, input_noise=0.05), data, cfg, make_run(run_dir),
                   hooks=[hook], stream=io.StringIO())


def test_resume_is_bit_identical_to_a_straight_run(tmp_path: Path) -> None:
    straight = make_trainer(tmp_path / "straight", config(steps=12))
    straight.fit()

    first = make_trainer(tmp_path / "resumed", config(steps=6))
    first.fit()
    resumed = make_trainer(tmp_path / "resumed", config(steps=12))
    assert not torch.equal(next(resumed.module.parameters()), next(first.module.parameters()))
    resumed.fit(resume=True)

    assert resumed.step == 12
    for (name, a), b in zip(straight.module.state_dict().items(),
                            resumed.module.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    for name, tensor in straight.ema.shadow.items():
        assert torch.equal(tensor, resumed.ema.shadow[name]), name
    assert straight.ema.num_updates == resumed.ema.num_updates
    assert straight.data.index == resumed.data.index


def test_checkpoints_are_safetensors_and_json_without_pickle(tmp_path: Path) -> None:
    trainer = make_trainer(tmp_path / "run", config(steps=12))
    trainer.fit()
    directory = trainer.run.checkpoints_dir
    assert [p.name for p in ckpt.list_checkpoints(directory)] == ["step-0000008", "step-0000012"]
    assert (directory / "latest").read_text().strip() == "step-0000012"
    folder = directory / "step-0000012"
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        ["model.safetensors", "ema.safetensors", "state.safetensors", "state.json"])
    for path in folder.iterdir():
        head = path.read_bytes()[:2]
        assert head not in (b"\x80\x02", b"\x80\x04", b"\x80\x05", b"PK")  # pickle / torch zip
        if path.suffix == ".safetensors":
            with safe_open(str(path), framework="pt") as handle:
                assert handle.metadata()["step"] == "12"
    state = json.loads((folder / "state.json").read_text())
    assert state["step"] == 12 and state["config_hash"] == trainer.config.config_hash()
    assert state["optimizer"]["param_groups"][0]["betas"] == [0.9, 0.999]
    assert state["ranks"][0]["data"] == {"index": 24}


def damaged(tmp_path: Path) -> tuple[Trainer, Path]:
    make_trainer(tmp_path / "run", config(steps=4)).fit()
    return make_trainer(tmp_path / "run", config(steps=8)), tmp_path / "run" / "checkpoints"


def test_truncated_weights_are_a_clear_error(tmp_path: Path) -> None:
    trainer, directory = damaged(tmp_path)
    model_file = directory / "step-0000004" / "model.safetensors"
    model_file.write_bytes(model_file.read_bytes()[:100])
    with pytest.raises(RunError, match="model.safetensors is corrupt"):
        trainer.fit(resume=True)


@pytest.mark.parametrize("name", ["state.json", "state.safetensors", "model.safetensors"])
def test_missing_file_is_a_clear_error(tmp_path: Path, name: str) -> None:
    trainer, directory = damaged(tmp_path)
    (directory / "step-0000004" / name).unlink()
    with pytest.raises(RunError, match=f"step-0000004/{name} is missing"):
        trainer.fit(resume=True)


def test_latest_naming_a_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    trainer, directory = damaged(tmp_path)
    (directory / "latest").write_text("step-0000099\n")
    with pytest.raises(RunError, match="latest names checkpoint 'step-0000099'"):
        trainer.fit(resume=True)


def test_weights_of_another_model_are_a_clear_error(tmp_path: Path) -> None:
    make_trainer(tmp_path / "run", config(steps=4)).fit()
    model = make_model()  # no BatchNorm: different keys
    other = Trainer(model, make_step_fn(model), RegressionBatches(8), config(steps=8),
                    make_run(tmp_path / "run"), stream=io.StringIO())
    with pytest.raises(RunError, match="model.safetensors does not fit"):
        other.fit(resume=True)


def test_resume_without_a_checkpoint_starts_from_zero(tmp_path: Path) -> None:
    trainer = make_trainer(tmp_path / "run", config(steps=2))
    trainer.fit(resume=True)
    assert trainer.step == 2
    assert "starting from step 0" in trainer._stream.getvalue()


def test_resume_with_ema_from_a_checkpoint_without_it(tmp_path: Path) -> None:
    make_trainer(tmp_path / "run", config(steps=4, ema_decay=None)).fit()
    trainer = make_trainer(tmp_path / "run", config(steps=4))
    trainer.load_checkpoint()
    for name, tensor in trainer.ema.shadow.items():
        assert torch.equal(tensor, trainer.module.state_dict()[name]), name


def test_optimizer_implementation_flags_follow_the_current_device() -> None:
    saved = {"state": {"0": {"step": torch.tensor(3.0)}},
             "param_groups": [{"params": [0], "betas": [0.9, 0.99], "fused": True, "lr": 0.1}]}
    current = [{"params": [torch.zeros(1)], "fused": None, "lr": 0.5}]
    restored = ckpt.optimizer_state_from_tree(saved, current)
    group = restored["param_groups"][0]
    assert group == {"params": [0], "betas": (0.9, 0.99), "fused": None, "lr": 0.1}
    assert list(restored["state"]) == [0]
