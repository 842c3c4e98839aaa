"""``disdiff quickstart [--out DIR]``: the whole pipeline on the built-in default, on a CPU.

Prepares the procedural toy-shapes store (16×16, five factors), trains the quickstart backbone
and DisDiff over it (``recipes/quickstart/``), evaluates the DisDiff run (exact metrics, several
seeds), draws a swap and a traversal grid, writes the run report, and ends with a summary.
Everything lands in one folder that every other command works on afterwards::

    DIR/data/toy-shapes-16/      the dataset store
    DIR/runs/backbone/           backbone run (weights, sample grid, metrics log)
    DIR/runs/disdiff/            DisDiff run (weights, eval/, images/swap.png, traverse.png,
                                 report/)
    DIR/summary.json             the evaluation results and where every file is

Running it again reuses the finished stages (see ``disdiff pipeline``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from disdiff_cli.console import err, out

#: The shipped recipes the quickstart runs.
BACKBONE_RECIPE = "quickstart/backbone"
DISDIFF_RECIPE = "quickstart/disdiff"
#: Columns of the swap grid (target images) and of the traversal grid (steps).
SWAP_TARGETS = 6
TRAVERSE_STEPS = 7
SUMMARY_FILE = "summary.json"


class Phases:
    """Announces each phase with a rule and records its wall time."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.number = 0
        self.seconds: dict[str, float] = {}

    @contextmanager
    def phase(self, name: str, what: str) -> Iterator[None]:
        self.number += 1
        err.rule(f"[bold][{self.number}/{self.total}] {what}[/]")
        start = time.monotonic()
        yield
        self.seconds[name] = round(time.monotonic() - start, 1)


def quickstart(
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="folder for data, runs and "
                                          "summary.json")] = Path("quickstart"),
    backbone_steps: Annotated[int | None, typer.Option(
        "--backbone-steps", min=1, help="backbone optimiser steps (default: the recipe's)")] = None,
    disdiff_steps: Annotated[int | None, typer.Option(
        "--disdiff-steps", min=1, help="DisDiff optimiser steps (default: the recipe's)")] = None,
    seeds: Annotated[int | None, typer.Option(
        "--seeds", min=1, help="evaluation seeds (default: the recipe's eval.seeds)")] = None,
    sample_steps: Annotated[int, typer.Option(
        "--sample-steps", min=1, help="DDIM steps of the swap and traversal grids")] = 25,
    fast_eval: Annotated[bool, typer.Option(
        "--fast-eval", help="fast metric modes (DCI: NOT disentanglement_lib's numbers)")] = False,
) -> None:
    """Run the whole pipeline on the built-in toy dataset (about 5 minutes on 2 CPU cores)."""
    from disdiff_core.io import write_json_atomic
    from disdiff_core.report import natural_key
    from disdiff_core.stages.pipeline import PipelineStep, run_pipeline

    out_dir = out_dir.resolve()
    store = out_dir / "data" / "toy-shapes-16"
    backbone_dir, disdiff_dir = out_dir / "runs" / "backbone", out_dir / "runs" / "disdiff"
    data_sets = [f"data.store={store}"]
    backbone_sets = [*data_sets, *_steps(backbone_steps)]
    disdiff_sets = [*data_sets, *_steps(disdiff_steps), f"backbone.from_run={backbone_dir}",
                    f"first_stage.from_run={backbone_dir}"]
    phases = Phases(total=6)
    started = time.monotonic()

    def echo(line: str) -> None:
        err.print(line)

    with phases.phase("data", "dataset: procedural toy shapes, 16×16, five factors"):
        _prepare_store(backbone_sets, echo)
    with phases.phase("backbone", "backbone: pixel-space UNet, ε-prediction"):
        run_pipeline([PipelineStep(BACKBONE_RECIPE, tuple(backbone_sets), backbone_dir)],
                     echo=echo)
    with phases.phase("disdiff", "DisDiff: encoder + sub-gradient fields over the frozen "
                      "backbone"):
        run_pipeline([PipelineStep(DISDIFF_RECIPE, tuple(disdiff_sets), disdiff_dir)], echo=echo)
    with phases.phase("eval", "evaluation: FactorVAE, DCI, MIG on the EMA encoder"):
        evaluation = _evaluate(disdiff_dir, seeds, fast_eval)
    with phases.phase("figures", "figures: factor swaps and traversals"):
        images = _figures(disdiff_dir, store, sample_steps)
    with phases.phase("report", "report: recipe, loss curves, evaluation, grids"):
        report = _report(disdiff_dir)
    phases.seconds["total"] = round(time.monotonic() - started, 1)

    backbone_grids = sorted((backbone_dir / "images").glob("samples-step*.png"),
                            key=lambda path: natural_key(path.name))  # step 1000 after 400
    if backbone_grids:
        images["backbone_samples"] = backbone_grids[-1]
    summary = {
        "out": str(out_dir),
        "paths_relative_to": "out",
        "data": _relative(store, out_dir),
        "runs": {"backbone": _relative(backbone_dir, out_dir),
                 "disdiff": _relative(disdiff_dir, out_dir)},
        "evaluation": {**evaluation, "file": _relative(evaluation["file"], out_dir)},
        "images": {key: _relative(path, out_dir) for key, path in images.items()},
        "report": _relative(report, out_dir),
        "seconds": phases.seconds,
    }
    write_json_atomic(out_dir / SUMMARY_FILE, summary)
    _print_summary(summary, out_dir)


def _steps(steps: int | None) -> list[str]:
    return [f"train.steps={steps}"] if steps is not None else []


def _prepare_store(backbone_sets: list[str], echo: Callable[[str], None]) -> None:
    """Write the toy store the recipes name (kept when it is already there)."""
    from disdiff_core.data.store import open_store
    from disdiff_core.engine.distributed import distributed_session
    from disdiff_core.recipes import load_recipe
    from disdiff_core.stages.data import ensure_store

    data = load_recipe(BACKBONE_RECIPE, backbone_sets).recipe.data
    with distributed_session() as context:
        store = ensure_store(data, context, echo)
    opened = open_store(store)
    sizes = " × ".join(f"{name} {size}" for name, size in
                       zip(opened.factor_names, opened.factor_sizes, strict=True))
    echo(f"{store}: {opened.num_images} images {opened.image_shape}, factors {sizes}")


def _evaluate(run: Path, seeds: int | None, fast: bool) -> dict[str, Any]:
    """``disdiff eval RUN``: the result's numbers and the file it was written to."""
    from disdiff_cli.eval_cmd import evaluate_run

    result, written = evaluate_run(run, seeds=seeds, fast=fast)
    return {
        "file": written,
        "metrics": {name: {key: {"mean": v["mean"], "std": v["std"]} for key, v in numbers.items()}
                    for name, numbers in result["metrics"].items()},
        "seeds": result["seeds"],
        "modes": result["modes"],
        "reduction": result["codes"]["reduction"],
    }


def _figures(run: Path, store: Path, steps: int) -> dict[str, Path]:
    """A swap grid and a traversal grid (``disdiff sample``) in the run's images/."""
    from disdiff_cli.sample_cmd import Mode, sample

    images = {}
    for mode, num in ((Mode.swap, SWAP_TARGETS), (Mode.traverse, TRAVERSE_STEPS)):
        path = run / "images" / f"{mode.value}.png"
        sample(run, mode=mode, out_path=path, data=store, num=num, steps=steps, seed=0,
               source=None, to=None, pool=256, span=2.0, batch_size=64, device=None)
        images[mode.value] = path
    return images


def _report(run: Path) -> Path:
    """The run report (``disdiff runs report``)."""
    from disdiff_core.report import write_report
    from disdiff_core.runs import Run

    return write_report(Run.open(run))


def _relative(path: Path | str, root: Path) -> str:
    return str(Path(path).resolve().relative_to(root))


def _print_summary(summary: dict[str, Any], out_dir: Path) -> None:
    evaluation = summary["evaluation"]
    table = Table("metric", "number", "mean ± std", title=(
        f"DisDiff on toy shapes: {len(evaluation['seeds'])} seed(s), "
        f"{evaluation['reduction']} codes"))
    for name, numbers in evaluation["metrics"].items():
        for key, value in numbers.items():
            table.add_row(f"{name} ({evaluation['modes'][name]})", key,
                          f"{value['mean']:.3f} ± {value['std']:.3f}")
    out.print(table)
    files = Table("what", "where", title=f"files (under {out_dir})")
    files.add_row("dataset store", summary["data"])
    for key, path in summary["runs"].items():
        files.add_row(f"{key} run", path)
    files.add_row("evaluation", evaluation["file"])
    for key, path in summary["images"].items():
        files.add_row(f"{key} grid", path)
    files.add_row("report", summary["report"])
    files.add_row("summary", SUMMARY_FILE)
    out.print(files)
    seconds = summary["seconds"]
    out.print("wall time: " + ", ".join(f"{k} {v:.0f} s" for k, v in seconds.items()))
    out.print(f"next: disdiff runs show {out_dir / summary['runs']['disdiff']}")
