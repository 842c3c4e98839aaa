"""The demonstration script (experiments/toy_disentanglement.py) end to end on a minimal budget:
it trains (a chain of warm starts: λ = 0, the field first with the encoder frozen, then the
encoder with Ē a moving average; a 10 × condition continuing its 5 × twin), scores every condition with the accuracy probe, and writes
its tables and curves (slow: exact metrics for 2 conditions)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "experiments" / "toy_disentanglement.py"


def run_study(tmp_path: Path, *arguments: str) -> str:
    """Run the study script on seed 0 with a minimal budget into ``tmp_path/work``; returns the
    Markdown it wrote."""
    doc = tmp_path / "doc.md"
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--work", str(tmp_path / "work"), "--seeds", "0",
         "--backbone-steps", "2", "--steps", "2", "--doc", str(doc), *arguments],
        check=False, capture_output=True, text=True, timeout=1200,
        env={**os.environ, "OMP_NUM_THREADS": "1"}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    return doc.read_text()


@pytest.mark.slow
def test_study_writes_its_table(tmp_path: Path) -> None:
    text = run_study(tmp_path, "--conditions", "fieldfirst-band-mid-emaenc", "untrained",
                     "lambda0-x10")
    for label in ("after the field-first run", "untrained encoder", "t in fifth 4"):
        assert label in text
    assert (tmp_path / "doc-curves.png").read_bytes()[:4] == b"\x89PNG"
    results = json.loads((tmp_path / "work" / "results.json").read_text())
    assert set(results["results"]) == {"fieldfirst-band-mid-emaenc", "untrained", "lambda0-x10"}
    warm = results["results"]["fieldfirst-band-mid-emaenc"]["0"]
    assert 0.0 <= warm["dci/disentanglement"] <= 1.0 and 0.0 <= warm["probe/acc_invariant"] <= 1.0
    # the chain trained the runs it starts from first
    for source in ("lambda0-seed0", "disdiff-warm-band-mid-l1-frozenenc-seed0"):
        assert (tmp_path / "work" / "runs" / source / "weights").is_dir()
    # the 20-step condition continued its 10-step twin's run instead of starting over
    runs = tmp_path / "work" / "runs"
    longer = json.loads((runs / "lambda0-x10-seed0" / "run.json").read_text())
    assert longer["step"] == 20
    assert longer["continued_from"] == str(runs / "lambda0-x5-seed0" / "checkpoints" / "step-0000010")


@pytest.mark.slow
def test_latent_setting_trains_first_stage_backbone_and_conditions(tmp_path: Path) -> None:
    """The latent32 setting: a VQ first stage on 32×32 images, a latent backbone on it, and
    DisDiff over both (here under the reference optimiser regime), scored like the pixel one."""
    text = run_study(tmp_path, "--setting", "latent32", "--first-stage-steps", "2",
                     "--conditions", "disdiff-refopt")
    assert "VQ first stage" in text
    runs = tmp_path / "work" / "runs"
    backbone = json.loads((runs / "backbone" / "run.json").read_text())
    assert backbone["parents"] == {"first_stage": str(runs / "first-stage")}
    recipe = (runs / "disdiff-refopt-seed0" / "recipe.yaml").read_text()
    assert "image_size: 32" in recipe and "batch_size: 64" in recipe


@pytest.mark.slow
def test_shapes3d_setting_trains_over_the_shapes3d_grid(tmp_path: Path) -> None:
    """The shapes3d32 setting renders synth-shapes3d at 32×32 (the whole Shapes3D grid),
    trains DisDiff with N = 6 over the latent models, and scores its codes and probe."""
    text = run_study(tmp_path, "--setting", "shapes3d32", "--first-stage-steps", "2",
                     "--conditions", "disdiff")
    assert "synth-shapes3d 32×32" in text and "chance 1/N = 0.167" in text
    recipe = (tmp_path / "work" / "runs" / "disdiff-seed0" / "recipe.yaml").read_text()
    assert "num_factors: 6" in recipe and "image_size: 32" in recipe
    scores = json.loads((tmp_path / "work" / "results.json").read_text())["results"]["disdiff"]["0"]
    assert 0.0 <= scores["probe/acc_invariant"] <= 1.0


@pytest.mark.slow
def test_dsprites_setting_trains_over_the_restricted_grid(tmp_path: Path) -> None:
    """The dsprites32 setting renders the restricted synth-dsprites grid (grey, 11 520 images),
    trains the first stage on one channel and DisDiff with a one-channel encoder, N = 5."""
    text = run_study(tmp_path, "--setting", "dsprites32", "--first-stage-steps", "2",
                     "--conditions", "lambda0")
    assert "restricted grid" in text and "chance 1/N = 0.2" in text
    work = tmp_path / "work"
    store = json.loads((work / "data" / "synth-dsprites-32" / "zarr.json").read_text())
    assert store["attributes"]["factor_sizes"] == [3, 6, 10, 8, 8]
    assert "in_channels: 1" in (work / "runs" / "first-stage" / "recipe.yaml").read_text()
    recipe = (work / "runs" / "lambda0-seed0" / "recipe.yaml").read_text()
    assert "in_channels: 1" in recipe and "num_factors: 5" in recipe


@pytest.mark.slow
def test_runs_trained_side_by_side_equal_runs_trained_alone(tmp_path: Path) -> None:
    """``--jobs``: a chain (the 10 × run continues its 5 × twin) and a second condition train
    and are scored in worker processes, one thread each; retrained and scored alone on one
    thread, a run ends at the same weights, bit for bit, and the same scores."""
    cores = str(os.cpu_count() or 1)  # as many jobs as cores: one thread a job
    run_study(tmp_path, "--conditions", "lambda0-x10", "disdiff", "--jobs", cores)
    work = tmp_path / "work"
    runs = work / "runs"
    assert json.loads((runs / "lambda0-x10-seed0" / "run.json").read_text())["step"] == 20
    side_by_side = runs / "disdiff-seed0"
    side_by_side.rename(runs / "side-by-side")
    scored_side_by_side = json.loads((work / "scores.json").read_text())
    assert set(scored_side_by_side) == {"lambda0-x10", "disdiff"}
    (work / "scores.json").unlink()
    run_study(tmp_path, "--conditions", "disdiff")
    for weights in ("encoder.safetensors", "field.safetensors"):
        assert ((runs / "side-by-side" / "weights" / weights).read_bytes()
                == (side_by_side / "weights" / weights).read_bytes())
    alone = json.loads((work / "scores.json").read_text())
    assert alone["disdiff"] == scored_side_by_side["disdiff"]
