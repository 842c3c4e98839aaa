"""Fixtures of the tools tests: a tiny finished DisDiff run built by hand (random weights) and a tiny toy-shapes store.

The backbone run holds a randomly initialised 16-px U-Net over the identity first stage; the
DisDiff run's backbone and first stage point at it with ``from_run`` and it holds random
encoder and field weights, so the tools are exercised exactly as on a trained run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from typer.testing import CliRunner

from disdiff_core import registry
from disdiff_core.recipes.yaml_io import dump_yaml
from disdiff_core.stages.components import export_weights

IMAGE = 16
NUM_FACTORS, FACTOR_DIM = 3, 4
SAMPLER_STEPS = 5
UNET = {"image_size": IMAGE, "base_channels": 16, "channel_mult": [1, 2], "num_res_blocks": 1,
        "attention_resolutions": [IMAGE // 2], "num_heads": 2, "norm_groups": 4,
        "schedule": {"num_timesteps": 100}}
ENCODER = {"num_factors": NUM_FACTORS, "factor_dim": FACTOR_DIM, "image_size": IMAGE,
           "channels": 16}


def _randomise(module: torch.nn.Module, seed: int, scale: float = 0.05) -> torch.nn.Module:
    """Every parameter N(0, scale²): zero-initialised output layers would hide the field."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in module.parameters():
            param.copy_(torch.randn(param.shape, generator=gen) * scale)
    return module


def _recipe(stage: str, store: Path, **parts: Any) -> dict[str, Any]:
    return {"name": stage, "stage": stage, "data": {"store": str(store)}, **parts,
            "train": {"steps": 1}}


def build_toy_store(out: Path) -> Path:
    """32 toy-shapes images of 16×16 (shape 2 × hue 2 × scale 2 × x 2 × y 2), made with
    `disdiff data prepare`."""
    from disdiff_cli.app import app

    args = ["data", "prepare", "toy-shapes", "--out", str(out), "--set", f"size={IMAGE}",
            "--set", "num_positions=2", "--set", "num_hues=2",
            "--set", 'shapes=["square", "circle"]']
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return out


def build_disdiff_run(root: Path, toy_store: Path) -> Path:
    """A finished DisDiff run directory (returned) over a finished backbone run directory,
    both under ``root``."""
    backbone_dir, run_dir = root / "backbone", root / "disdiff"
    backbone_dir.mkdir()
    run_dir.mkdir()
    backbone_recipe = _recipe("backbone", toy_store, first_stage={"plugin": "identity"},
                              backbone={"plugin": "unet", "params": UNET})
    (backbone_dir / "recipe.yaml").write_text(dump_yaml(backbone_recipe))
    backbone = _randomise(registry.build("backbone", "unet", UNET), seed=0)
    export_weights(backbone, backbone_dir, "backbone")

    run_recipe = _recipe(
        "disdiff", toy_store,
        first_stage={"from_run": str(backbone_dir)}, backbone={"from_run": str(backbone_dir)},
        encoder={"plugin": "conv4", "params": ENCODER}, field={"plugin": "shift-unet"},
        losses=[{"plugin": "mean-shift"}, {"plugin": "disentangle"}],
        sample={"sampler": {"plugin": "ddim", "params": {"steps": SAMPLER_STEPS}}},
    )
    (run_dir / "recipe.yaml").write_text(dump_yaml(run_recipe))
    encoder = registry.build("encoder", "conv4", ENCODER)
    field = _randomise(registry.build("field", "shift-unet", {}, backbone=backbone,
                                      num_factors=NUM_FACTORS, factor_dim=FACTOR_DIM), seed=1)
    export_weights(encoder, run_dir, "encoder")
    export_weights(field, run_dir, "field")
    return run_dir


@pytest.fixture(scope="session")
def toy_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_toy_store(tmp_path_factory.mktemp("data") / "toy.zarr")


@pytest.fixture(scope="session")
def disdiff_run(tmp_path_factory: pytest.TempPathFactory, toy_store: Path) -> Path:
    return build_disdiff_run(tmp_path_factory.mktemp("runs"), toy_store)


@pytest.fixture()
def cli() -> CliRunner:
    return CliRunner()
