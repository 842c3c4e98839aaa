"""End to end through the CLI: a tiny pixel-space backbone learns (its loss falls), exports
EMA weights and a sample grid; a tiny DisDiff run on top of it logs its terms and exports the
encoder and field."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from safetensors.torch import load_file
from stages_cli import disdiff, sets

from disdiff_core.runs import Run

#: Shrinks the shipped tiny recipes to a few-second CPU run on 16×16 toy shapes.
BACKBONE_OVERRIDES = [
    "backbone.params.base_channels=16", "train.steps=100", "train.batch_size=16",
    "train.lr=2e-3", "train.log_every=10", "train.checkpoint_every=50",
    "sample.num_images=4", "sample.sampler.params.steps=10",
]


@pytest.fixture(scope="module")
def backbone_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float]:
    """Train the tiny backbone in a fresh folder; returns (that folder, wall seconds)."""
    root = tmp_path_factory.mktemp("stages")
    store = root / "store"
    start = time.monotonic()
    disdiff(root, "train", "tiny/backbone", "--out", "runs/tiny-backbone",
            *sets([*BACKBONE_OVERRIDES, f"data.store={store}"]))
    return root, time.monotonic() - start


def test_backbone_learns_and_exports(backbone_run: tuple[Path, float]) -> None:
    root, wall = backbone_run
    run = Run.open(root / "runs/tiny-backbone")
    assert run.status == "finished" and run.step == 100
    losses = [record["loss"] for record in run.read_metrics() if "loss" in record]
    assert len(losses) == 10
    assert losses[-1] < 0.6 * losses[0], losses
    assert sorted(p.name for p in run.checkpoints_dir.glob("step-*")) == [
        "step-0000050", "step-0000100"]
    exported = load_file(str(run.path / "weights/backbone.safetensors"))
    ema = load_file(str(run.checkpoints_dir / "step-0000100/ema.safetensors"))
    shared = [key for key in ema if key in exported]
    assert shared and all((exported[key] == ema[key]).all() for key in shared)
    assert (run.path / "weights/first_stage.safetensors").is_file()
    assert (run.images_dir / "samples-step100.png").is_file()
    assert run.info["losses"] == ["denoise ε-prediction (l1)"]
    # what it trained on: a seed fixes the weights only on the same device and thread count
    assert run.info["environment"]["device"] == "cpu"
    assert run.info["environment"]["processes"] == 1
    assert run.info["environment"]["cpu_threads"] == 1  # the helper sets OMP_NUM_THREADS=1
    print(f"backbone: loss {losses[0]:.3f} -> {losses[-1]:.3f} in {wall:.1f} s")


def test_disdiff_trains_on_the_backbone_run(backbone_run: tuple[Path, float]) -> None:
    root, _ = backbone_run
    store = root / "store"
    disdiff(root, "train", "tiny/disdiff", "--out", "runs/tiny-disdiff",
            *sets([f"data.store={store}", "train.steps=6", "train.batch_size=8",
                   "train.log_every=3", "field.params.cond_dim=32", "train.eval_every=4",
                   "eval.metrics=[{plugin: mig}, {plugin: dci}]"]))
    run = Run.open(root / "runs/tiny-disdiff")
    assert run.status == "finished" and run.step == 6
    assert json.loads((run.path / "run.json").read_text())["parents"]["backbone"] == \
        "runs/tiny-backbone"
    records = run.read_metrics()
    assert {"loss", "rec", "dis", "w"} <= set(next(r for r in records[::-1] if "loss" in r))
    # periodic evaluation (fast settings) at step 4 and after the last step
    evaluations = {r["step"]: r for r in records if "eval/mig/discrete_mig" in r}
    assert sorted(evaluations) == [4, 6]
    assert 0.0 <= evaluations[6]["eval/dci/disentanglement"] <= 1.0
    assert len(run.info["losses"]) == 2
    for key in ("encoder", "field"):
        assert (run.path / f"weights/{key}.safetensors").is_file()

    # the trained run serves the user tools: codes in canonical order, then every sample mode
    disdiff(root, "encode", "runs/tiny-disdiff", "--data", str(store), "--out", "codes.npy")
    codes = np.load(root / "codes.npy")
    from disdiff_core.data.store import open_store

    assert codes.shape == (open_store(store).num_images, 5, 8)
    for mode in ("generate", "reconstruct", "swap", "traverse"):
        disdiff(root, "sample", "runs/tiny-disdiff", "--mode", mode, "--data", str(store),
                "--steps", "4", "--num", "2", "--out", f"{mode}.png")
        with Image.open(root / f"{mode}.png") as image:
            assert image.width > 16 and image.height > 16


def test_resume_continues_from_the_checkpoint(backbone_run: tuple[Path, float]) -> None:
    root, _ = backbone_run
    store = root / "store"
    disdiff(root, "train", "tiny/backbone", "--out", "runs/tiny-backbone", "--resume",
            *sets([*BACKBONE_OVERRIDES, "train.steps=110", f"data.store={store}"]))
    run = Run.open(root / "runs/tiny-backbone")
    assert run.status == "finished" and run.step == 110
    assert run.read_metrics()[-1]["step"] == 110


def test_ddim_inversion_reconstructs_with_the_trained_backbone(backbone_run: tuple[Path, float]) -> None:
    """Deterministic DDIM inversion then η=0 sampling recovers the tiny trained backbone's inputs
    far better than sampling from fresh noise (a PSNR margin)."""
    import torch

    from disdiff_core import registry
    from disdiff_core.data.store import open_store
    from disdiff_core.recipes.model import Component
    from disdiff_core.stages.components import build_component

    root, _ = backbone_run
    run_dir = str(root / "runs/tiny-backbone")
    backbone = build_component("backbone", "backbone", Component(from_run=run_dir), frozen=True)
    store = open_store(root / "store")
    images = torch.from_numpy(store.read(0, 8)).permute(0, 3, 1, 2).float() / 127.5 - 1
    sampler = registry.build("sampler", "ddim", {"steps": 50, "eta": 0.0})

    def eps_fn(y_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return backbone(y_t, t)

    def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
        return float(10 * torch.log10(4 / ((a - b) ** 2).mean()))

    with torch.no_grad():
        y_T = sampler.invert(eps_fn, backbone.schedule, images)
        recon = sampler.sample(eps_fn, backbone.schedule, y_T, deterministic=True)
        noise = torch.randn(images.shape, generator=torch.Generator().manual_seed(0))
        fresh = sampler.sample(eps_fn, backbone.schedule, noise, deterministic=True)
    inverted, from_noise = psnr(recon, images), psnr(fresh, images)
    print(f"DDIM inversion PSNR {inverted:.1f} dB vs fresh noise {from_noise:.1f} dB")
    assert inverted > from_noise + 6
