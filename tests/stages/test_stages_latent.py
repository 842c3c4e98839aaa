"""The latent path through the CLI: a tiny VQ first stage trains and exports its weights; a
backbone on top of it measures the scale factor s = 1/std(ℰ(x)) once and exports the first
stage with s, which a resumed run reloads instead of measuring again."""

from __future__ import annotations

from pathlib import Path

from safetensors.torch import load_file
from stages_cli import disdiff, sets

from disdiff_core.runs import Run


def test_autoencoder_then_latent_backbone(tmp_path: Path) -> None:
    store = tmp_path / "store"
    disdiff(tmp_path, "train", "tiny/autoencoder", "--out", "runs/ae",
            *sets([f"data.store={store}", "train.steps=4", "train.batch_size=8",
                   "train.log_every=2", "first_stage.params.disc_start=2"]))
    ae = Run.open(tmp_path / "runs/ae")
    assert ae.status == "finished"
    last = ae.read_metrics()[-1]
    assert {"loss", "rec", "codebook", "g_loss", "d_loss"} <= set(last)
    assert float(load_file(str(ae.path / "weights/first_stage.safetensors"))["scale_factor"]) == 1

    backbone_args = [
        "train", "tiny/backbone", "--out", "runs/bb",
        *sets([f"data.store={store}", "first_stage={from_run: runs/ae}",
               "backbone.params.image_size=8", "backbone.params.attention_resolutions=[4]",
               "backbone.params.base_channels=16", "train.steps=2", "train.batch_size=8",
               "train.checkpoint_every=1", "sample.num_images=2", "sample.sampler.params.steps=3"]),
    ]
    first = disdiff(tmp_path, *backbone_args)
    assert "scale factor" in first.stderr
    bb = Run.open(tmp_path / "runs/bb")
    scale = float(load_file(str(bb.path / "weights/first_stage.safetensors"))["scale_factor"])
    assert scale != 1.0 and scale > 0
    assert bb.info["parents"] == {"first_stage": "runs/ae"}

    resumed = disdiff(tmp_path, *backbone_args[:-2], "--resume", "--set", "train.steps=3",
                      *backbone_args[-2:])
    assert "scale factor" not in resumed.stderr
    assert Run.open(bb.path).step == 3
