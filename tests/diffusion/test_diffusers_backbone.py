"""The ``diffusers`` backbone plugin against the diffusers model it wraps."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

from disdiff_core import registry
from disdiff_core.diffusion.schedule import NoiseSchedule
from disdiff_core.errors import DisdiffError
from disdiff_plugins.backbones.diffusers_backbone import schedule_from_scheduler_config
from disdiff_plugins.nn import BlockOptions, UNetDecoder

diffusers = pytest.importorskip("diffusers")


def tiny_unet2d(seed: int = 0) -> diffusers.UNet2DModel:
    torch.manual_seed(seed)
    return diffusers.UNet2DModel(
        sample_size=16,
        in_channels=3,
        out_channels=3,
        block_out_channels=(16, 32),
        layers_per_block=2,
        down_block_types=("DownBlock2D", "AttnDownBlock2D"),
        up_block_types=("AttnUpBlock2D", "UpBlock2D"),
        norm_num_groups=8,
        attention_head_dim=8,
        resnet_time_scale_shift="scale_shift",
    ).eval()


@pytest.fixture
def pipeline_dir(tmp_path: Path) -> Path:
    """A pipeline-style folder: unet/ and a sibling scheduler/."""
    tiny_unet2d().save_pretrained(tmp_path / "unet")
    diffusers.DDPMScheduler(
        beta_schedule="scaled_linear", beta_start=0.0015, beta_end=0.0155
    ).save_pretrained(tmp_path / "scheduler")
    return tmp_path


def test_same_eps_as_the_diffusers_model(pipeline_dir: Path) -> None:
    backbone = registry.build("backbone", "diffusers", {}, checkpoint=pipeline_dir / "unet")
    reference = diffusers.UNet2DModel.from_pretrained(pipeline_dir / "unet").eval()
    y_t = torch.randn(3, 3, 16, 16)
    t = torch.tensor([0, 321, 999])
    with torch.no_grad():
        expected = reference(y_t, t).sample
        eps, features = backbone.forward_with_features(y_t, t)
    torch.testing.assert_close(eps, expected)
    torch.testing.assert_close(backbone(y_t, t), expected)
    assert backbone.frozen and not any(p.requires_grad for p in backbone.parameters())
    assert backbone.sample_shape == (3, 16, 16)
    layout = backbone.feature_layout
    assert layout.level_channels == (16, 32) and layout.num_res_blocks == 2
    assert layout.attention_levels == (1,) and layout.time_embed_dim == 64
    layout.check(features)
    # A field can mirror the diffusers encoder half from the layout alone.
    decoder = UNetDecoder(
        layout, options=BlockOptions(num_heads=2, norm_groups=8), cond_channels=(8,)
    )
    out = decoder(features.skips, features.emb, [torch.randn(3, 8)])
    assert out.shape == y_t.shape


def test_schedule_comes_from_the_scheduler_config(pipeline_dir: Path) -> None:
    backbone = registry.build("backbone", "diffusers", {"path": str(pipeline_dir)})
    assert backbone.schedule.to_dict() == NoiseSchedule().to_dict()  # the DisDiff schedule
    scheduler = diffusers.DDPMScheduler.from_pretrained(pipeline_dir / "scheduler")
    torch.testing.assert_close(backbone.schedule.betas, scheduler.betas, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize(
    "config",
    [
        {"beta_schedule": "linear"},
        {"beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012},
        {"beta_schedule": "squaredcos_cap_v2"},
        {"beta_schedule": "sigmoid", "num_train_timesteps": 500},
        {"beta_schedule": "linear", "rescale_betas_zero_snr": True},
        {"trained_betas": [0.1, 0.2, 0.3], "num_train_timesteps": 3},
    ],
)
def test_schedule_mapping_matches_diffusers(config: dict) -> None:
    scheduler = diffusers.DDPMScheduler(**config)
    schedule = NoiseSchedule(schedule_from_scheduler_config(dict(scheduler.config)))
    torch.testing.assert_close(
        schedule.betas, scheduler.betas.clamp(max=1 - 1e-7), rtol=2e-5, atol=1e-7
    )


def test_folder_layouts_and_errors(tmp_path: Path, pipeline_dir: Path) -> None:
    # Scheduler config inside the model folder.
    flat = tmp_path / "flat"
    tiny_unet2d().save_pretrained(flat)
    diffusers.DDPMScheduler(beta_schedule="linear").save_pretrained(flat)
    assert (
        registry.build("backbone", "diffusers", {"path": str(flat)}).schedule.config.kind
        == "linear"
    )

    lonely = tmp_path / "elsewhere" / "lonely"  # no scheduler/ beside it
    tiny_unet2d().save_pretrained(lonely)
    with pytest.raises(DisdiffError, match="no scheduler config"):
        registry.build("backbone", "diffusers", {"path": str(lonely)})
    explicit = {"path": str(lonely), "scheduler_config": str(pipeline_dir / "scheduler")}
    assert registry.build("backbone", "diffusers", explicit).schedule.config.kind == "linear_sqrt"

    with pytest.raises(DisdiffError, match="needs a model folder"):
        registry.build("backbone", "diffusers", {})
    with pytest.raises(DisdiffError, match="does not exist"):
        registry.build("backbone", "diffusers", {"path": str(tmp_path / "nowhere")})
    with pytest.raises(DisdiffError, match="no diffusers model"):
        registry.build("backbone", "diffusers", {"path": str(pipeline_dir / "scheduler")})

    v_pred = tmp_path / "v"
    tiny_unet2d().save_pretrained(v_pred)
    diffusers.DDPMScheduler(prediction_type="v_prediction").save_pretrained(v_pred)
    with pytest.raises(DisdiffError, match="prediction_type"):
        registry.build("backbone", "diffusers", {"path": str(v_pred)})

    config = json.loads((flat / "config.json").read_text())
    (flat / "config.json").write_text(json.dumps({**config, "_class_name": "UNet2DConditionModel"}))
    with pytest.raises(DisdiffError, match="UNet2DConditionModel"):
        registry.build("backbone", "diffusers", {"path": str(flat)})


def test_missing_diffusers_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, pipeline_dir: Path
) -> None:
    monkeypatch.setitem(sys.modules, "diffusers", None)  # `import diffusers` raises ImportError
    with pytest.raises(DisdiffError, match="pip install"):
        registry.build("backbone", "diffusers", {"path": str(pipeline_dir)})
