"""``disdiff runs report``: one page (Markdown or HTML) with the run's state, recipe summary,
loss and evaluation curves, latest evaluation and image grids, in a self-contained folder."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from PIL import Image
from test_cli_startup import imported_heavy_modules
from typer.testing import CliRunner

from disdiff_cli.app import app
from disdiff_core.runs import Run

runner = CliRunner()

RECIPE = """\
name: shapes-disdiff
description: DisDiff over the shapes backbone
stage: disdiff
data:
  store: data/shapes3d
  prepare: {plugin: shapes3d, params: {source_format: h5}}
backbone: {from_run: runs/backbone, plugin: unet}
encoder:
  plugin: conv4
  params: {num_factors: 6, factor_dim: 32, image_size: 64}
field: {plugin: shift-unet, params: {orthogonal_factors: true}}
losses:
  - {plugin: mean-shift, params: {loss_type: l1}}
  - {plugin: disentangle, params: {weight: 0.05}}
train: {steps: 300, batch_size: 128, lr: 2.56e-4, warmup_steps: 100, ema_decay: 0.9999}
eval:
  metrics: [{plugin: factorvae}, {plugin: dci}]
  reduce: pca1
  seeds: 3
"""


def eval_result(accuracy: float, step: int) -> dict:
    return {
        "metrics": {
            "factorvae": {"eval_accuracy": {"mean": accuracy, "std": 0.0125,
                                            "values": [accuracy - 0.0125, accuracy + 0.0125]}},
            "dci": {"disentanglement": {"mean": 0.6543, "std": 0.01, "values": [0.6443, 0.6643]}},
        },
        "modes": {"factorvae": "exact", "dci": "exact"},
        "codes_used": {"factorvae": "pca1", "dci": "pca1"},
        "codes": {"shape": [10, 6, 32], "reduction": "pca1", "num_codes": 6},
        "seeds": [0, 1],
        "dataset": {"name": "shapes3d", "variant": "full", "path": "data/shapes3d",
                    "num_images": 480000},
        "versions": {"python": "3.11", "numpy": "2.4", "scikit-learn": "1.9.1"},
        "run": {"path": "runs/disdiff", "step": step},
    }


def save_grid(path: Path, size: int = 36) -> None:
    pixels = np.random.default_rng(0).integers(0, 256, (size, size, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)


def make_run(path: Path, *, name: str | None = None) -> Run:
    run = Run.create(path, stage="disdiff", recipe_yaml=RECIPE, name=name,
                     parents={"backbone": "runs/backbone"})
    for step in (100, 200, 300):
        run.log_metrics(step, {"loss": 1.0 / step, "rec": 0.5 / step, "dis": 0.2 / step,
                               "w": 0.05, "lr": 2.56e-4, "steps_per_s": 4.0})
    for step, score in ((150, 0.41), (300, 0.77)):
        run.log_metrics(step, {"eval/factorvae/eval_accuracy": score,
                               "eval/dci/disentanglement": score / 2})
    run.update(status="finished", step=300,
               environment={"torch": "2.14.1", "python": "3.11.9", "device": "cuda:0 (H200)",
                            "processes": 8, "cpu_threads": 16})
    save_grid(run.images_dir / "samples-step300.png")
    save_grid(run.images_dir / "swap-grid.png")
    return run


def report(*args: str):
    result = runner.invoke(app, ["runs", "report", *args])
    assert result.exit_code == 0, result.output
    return result


def test_markdown_report_gathers_state_recipe_curves_evaluation_images(tmp_path: Path) -> None:
    run = make_run(tmp_path / "disdiff")
    (run.eval_dir / "eval-step0000200.json").write_text(json.dumps(eval_result(0.5, 200)))
    os.utime(run.eval_dir / "eval-step0000200.json", (1e9, 1e9))  # older than the next
    (run.eval_dir / "eval-step0000300.json").write_text(json.dumps(eval_result(0.9123, 300)))

    result = report(str(run.path))
    page = run.path / "report" / "report.md"
    assert str(page) in result.stdout
    text = page.read_text()
    # state and recipe summary
    for expected in ("# Run report: disdiff", "DisDiff over the shapes backbone",
                     "| status | finished |", "300 of 300", "| uses backbone | `runs/backbone` |",
                     ("| trained on | cuda:0 (H200), 8 process(es), 16 CPU thread(s), "
                     "torch 2.14.1, python 3.11.9 |"),
                     "`conv4`", "num_factors=6, factor_dim=32", "`shift-unet`",
                     "| `backbone` | `unet` | run `runs/backbone` | see that run |",
                     "`mean-shift`", "weight=0.05", "`shapes3d`", "`train.batch_size` | `128`",
                     "`train.lr` | `0.000256`", "`train.ema_decay` | `0.9999`",
                     "`eval.seeds` | `3`", "[recipe.yaml](recipe.yaml)"):
        assert expected in text, expected
    # training numbers and curves
    assert "| `loss` | 0.01 | 0.003333 | 0.003333 (step 300) |" in text
    assert "](loss.png)" in text and "](eval.png)" in text
    # the newest disdiff eval result, not the older one nor the training-time numbers
    assert "eval-step0000300.json" in text and "0.9123 ± 0.0125" in text
    assert "0.6543 ± 0.0100" in text and "0.5000 ±" not in text
    assert "| seeds | 0, 1 |" in text and "factorvae: exact" in text and "shapes3d full" in text
    # images, in the report folder
    for name in ("samples-step300.png", "swap-grid.png"):
        assert f"](images/{name})" in text
        copied = run.path / "report" / "images" / name
        assert copied.read_bytes() == (run.images_dir / name).read_bytes()
    assert (run.path / "report" / "recipe.yaml").read_text() == RECIPE
    for plot in ("loss.png", "eval.png"):
        with Image.open(run.path / "report" / plot) as image:
            assert image.format == "PNG" and image.width >= 400 and image.height >= 200


def test_html_report_is_escaped_and_goes_where_asked(tmp_path: Path) -> None:
    run = make_run(tmp_path / "disdiff", name="a<b>&c")
    out = tmp_path / "shared" / "report"
    result = report(str(run.path), "--out", str(out), "--format", "html")
    assert str(out / "report.html") in result.stdout
    text = (out / "report.html").read_text()
    assert text.startswith("<!DOCTYPE html>") and "<style>" in text
    assert "a&lt;b&gt;&amp;c" in text and "a<b>" not in text
    assert '<img src="loss.png"' in text and '<img src="images/swap-grid.png"' in text
    assert "<td><code>conv4</code></td>" in text
    # no `disdiff eval` result: the fast training-time numbers, labelled as such
    assert "Fast training-time evaluation logged at step 300" in text
    assert "<td><code>factorvae</code></td><td>eval_accuracy</td><td>0.77</td>" in text
    assert (out / "images" / "samples-step300.png").is_file() and (out / "eval.png").is_file()
    assert not (run.path / "report").exists()


def test_report_without_metrics_or_with_one_record(tmp_path: Path) -> None:
    run = Run.create(tmp_path / "fresh", stage="backbone", recipe_yaml="stage: backbone\n")
    text = (Path(report(str(run.path)).stdout.split("report written to ")[1].strip())).read_text()
    assert "No metrics logged yet" in text and "No evaluation yet" in text
    assert "No images in images/ yet" in text
    assert not (run.path / "report" / "loss.png").exists()
    assert not (run.path / "report" / "eval.png").exists()

    run.log_metrics(10, {"loss": 0.5, "lr": 1e-4})
    (run.eval_dir / "broken.json").write_text("{not json")
    report(str(run.path))
    text = (run.path / "report" / "report.md").read_text()
    assert "1 logged record at step 10" in text and "Skipped an unreadable result" in text
    with Image.open(run.path / "report" / "loss.png") as image:
        assert image.format == "PNG"


def test_report_of_a_non_run_folder_is_one_clear_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["runs", "report", str(tmp_path)])
    assert result.exit_code == 1 and "not a run directory" in result.stderr
    assert "Traceback" not in result.output


def test_runs_show_points_to_the_report(tmp_path: Path) -> None:
    run = make_run(tmp_path / "disdiff")
    shown = runner.invoke(app, ["runs", "show", str(run.path)])
    assert shown.exit_code == 0 and f"disdiff runs report {run.path}" in shown.stdout


def test_report_imports_no_torch(tmp_path: Path) -> None:
    run = make_run(tmp_path / "disdiff")
    assert imported_heavy_modules(["runs", "report", str(run.path)]) == []
    assert (run.path / "report" / "report.md").is_file()
