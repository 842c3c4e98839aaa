"""``disdiff quickstart`` end to end on a reduced budget: every output file and the summary."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image
from stages_cli import disdiff

from disdiff_core.data.store import open_store
from disdiff_core.runs import Run

#: A budget of seconds instead of minutes: the pipeline's plumbing, not its results.
REDUCED = ["--autoencoder-steps", "4", "--backbone-steps", "10", "--disdiff-steps", "6",
           "--seeds", "2", "--sample-steps", "3", "--fast-eval"]


def test_quickstart_writes_the_whole_pipeline(tmp_path: Path) -> None:
    out = tmp_path / "qs"
    # The quickstart keeps a store that is already there: 864 toy shapes at 32 px stand in for
    # the 480 000-image grid it renders (synth-shapes3d has its own tests).
    disdiff(tmp_path, "data", "prepare", "toy-shapes", "--set", "size=32",
            "--out", "qs/data/synth-shapes3d-32")
    result = disdiff(tmp_path, "quickstart", "--out", "qs", *REDUCED)
    summary = json.loads((out / "summary.json").read_text())

    store = open_store(out / summary["data"])
    assert summary["data"] == "data/synth-shapes3d-32" and store.num_images == 864
    assert summary["runs"] == {"autoencoder": "runs/autoencoder", "backbone": "runs/backbone",
                               "disdiff": "runs/disdiff"}
    for stage, steps in (("autoencoder", 4), ("backbone", 10), ("disdiff", 6)):
        run = Run.open(out / summary["runs"][stage])
        assert run.status == "finished" and run.step == steps
    assert (out / "runs/disdiff/weights/encoder.safetensors").is_file()

    evaluation = summary["evaluation"]
    assert set(evaluation["metrics"]) == {"factorvae", "dci", "mig"}
    assert evaluation["seeds"] == [0, 1] and evaluation["reduction"] == "pca1"
    assert evaluation["modes"]["dci"] == "fast"
    assert 0.0 <= evaluation["metrics"]["factorvae"]["eval_accuracy"]["mean"] <= 1.0
    written = json.loads((out / evaluation["file"]).read_text())
    assert written["metrics"]["mig"]["discrete_mig"]["mean"] == \
        evaluation["metrics"]["mig"]["discrete_mig"]["mean"]

    instruments = summary["instruments"]  # the DisDiff run's last logged instruments
    for key in ("ce_variant", "ce_invariant", "w", "z_norm_0", "grad_z/share_dis"):
        assert key in instruments
    assert 0.0 <= instruments["acc_variant"] <= 1.0 and 0.0 <= instruments["acc_invariant"] <= 1.0
    assert set(summary["images"]) == {"swap", "traverse", "backbone_samples", "factor_x0"}
    for path in summary["images"].values():
        with Image.open(out / path) as image:
            assert image.format == "PNG" and image.width > 16 and image.height > 16
    report = (out / summary["report"]).read_text()
    assert "swap.png" in report and "traverse.png" in report
    assert (out / summary["report"]).parent.joinpath("loss.png").is_file()
    assert set(summary["seconds"]) == {"data", "autoencoder", "backbone", "disdiff", "eval",
                                       "figures", "report", "total"}
    assert "eval_accuracy" in result.stdout  # the closing summary table

    # a second run reuses every stage and the other commands work on the folder
    again = disdiff(tmp_path, "quickstart", "--out", "qs", *REDUCED)
    assert again.stderr.count(": reuse") == 3
    shown = disdiff(tmp_path, "runs", "show", "qs/runs/disdiff", "--json")
    assert json.loads(shown.stdout)["status"] == "finished"


def test_quickstart_runs_another_recipe_folder(tmp_path: Path) -> None:
    # toy16 has no first stage: its pixel-space backbone serves as its own first stage.
    disdiff(tmp_path, "quickstart", "--out", "qs", "--recipes", "toy16", "--backbone-steps", "4",
            "--disdiff-steps", "2", "--seeds", "1", "--sample-steps", "2", "--fast-eval")
    summary = json.loads((tmp_path / "qs/summary.json").read_text())
    assert summary["data"] == "data/toy-shapes-16"
    assert summary["runs"] == {"backbone": "runs/backbone", "disdiff": "runs/disdiff"}
    disdiff_run = Run.open(tmp_path / "qs/runs/disdiff")
    assert disdiff_run.step == 2
    assert disdiff_run.info["parents"]["backbone"].endswith("runs/backbone")

