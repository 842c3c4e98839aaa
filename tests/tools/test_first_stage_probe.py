"""experiments/first_stage_probe.py: the probes read a factor the features carry and not one
they do not; the first stage's feature sets are what the backbone diffuses (pre-quantisation
latent), its codebook snap and its decoding; the script writes one JSON per probe run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from disdiff_core import registry
from disdiff_core.loading import to_model_input
from disdiff_core.recipes.yaml_io import dump_yaml
from disdiff_core.stages.components import export_weights

SCRIPT = Path(__file__).resolve().parents[2] / "experiments" / "first_stage_probe.py"
sys.path.insert(0, str(SCRIPT.parent))
import first_stage_probe as probe_script  # a script beside the others, not a package

VQ = {"in_channels": 3, "ch": 8, "ch_mult": [1, 2], "num_res_blocks": 1, "norm_groups": 4,
      "z_channels": 3, "embed_dim": 3, "n_embed": 16, "disc_weight": 0.0}


def vq_run(root: Path, store: Path) -> tuple[Path, torch.nn.Module]:
    """A first-stage run folder holding a randomly initialised VQ autoencoder."""
    run = root / "first-stage"
    run.mkdir()
    recipe = {"name": "fs", "stage": "first_stage", "data": {"store": str(store)},
              "first_stage": {"plugin": "vq", "params": VQ}, "train": {"steps": 1}}
    (run / "recipe.yaml").write_text(dump_yaml(recipe))
    model = registry.build("first_stage", "vq", VQ)
    export_weights(model, run, "first_stage")
    return run, model.eval()


def test_probes_read_an_encoded_factor_and_not_a_random_one() -> None:
    rng = np.random.RandomState(0)
    factors = np.stack([rng.randint(0, 4, 500), rng.randint(0, 4, 500)], axis=1)
    features = np.concatenate([np.eye(4)[factors[:, 0]] * 3, rng.randn(500, 6)], axis=1)
    scores = probe_script.probe_accuracies(features.astype(np.float32), factors,
                                            ["carried", "absent"], seed=0)
    assert scores["carried"]["logistic"] > 0.95 and scores["carried"]["mlp"] > 0.9
    assert scores["absent"]["logistic"] < 0.45 and scores["absent"]["mlp"] < 0.45


def test_first_stage_features_are_the_latent_its_codebook_snap_and_its_decoding(
        tmp_path: Path, toy_store: Path) -> None:
    run, model = vq_run(tmp_path, toy_store)
    images = np.random.RandomState(1).randint(0, 256, (5, 16, 16, 3), dtype=np.uint8)
    features = probe_script.first_stage_features(run, images)
    assert set(features) == {"latent", "quantised latent", "reconstruction"}
    x = to_model_input(images, torch.device("cpu"))
    with torch.no_grad():
        latent = model.encode(x)
        np.testing.assert_allclose(features["latent"], latent.flatten(1).numpy(), atol=1e-5)
        np.testing.assert_allclose(features["reconstruction"],
                                   model.decode(latent).flatten(1).numpy(), atol=1e-5)
    snapped = features["quantised latent"].reshape(5, 3, -1).transpose(0, 2, 1).reshape(-1, 3)
    codebook = model.quantize.embedding.weight.detach().numpy()
    nearest = np.abs(snapped[:, None, :] - codebook[None]).sum(-1).min(1)
    assert nearest.max() < 1e-5  # every latent vector is snapped to a codebook entry


def test_the_script_probes_latent_and_codes_and_writes_its_json(
        tmp_path: Path, toy_store: Path, disdiff_run: Path) -> None:
    run, _ = vq_run(tmp_path, toy_store)
    out = tmp_path / "probe.json"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), str(run), "--data", str(toy_store), "--images", "32",
         "--disdiff", str(disdiff_run), "--skip", "image", "reconstruction", "--json", str(out)],
        check=False, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    results = json.loads(out.read_text())
    assert set(results["probes"]) == {"latent", "quantised latent", "codes of disdiff"}
    assert results["probes"]["codes of disdiff"]["dims"] == 3 * 4  # N·D of the fixture run
    assert set(results["chance"]) == set(results["probes"]["latent"]["accuracy"])
    assert results["probes"]["latent"]["dims"] == 3 * 8 * 8  # ch_mult [1, 2]: 16 px → 8×8
    assert "latent (192)" in done.stdout
