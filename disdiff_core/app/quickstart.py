"""The whole pipeline on the built-in default, on a CPU (``disdiff quickstart``).

By default (``recipes/quickstart/``, a shorter budget of the CPU demonstration
``recipes/shapes3d-cpu/``) it renders the procedural Shapes3D grid (synth-shapes3d at 32×32:
480 000 images, six factors), trains a VQ autoencoder, a latent backbone and DisDiff over them,
evaluates the DisDiff run (exact metrics, several seeds), draws a swap and a traversal grid,
writes the run report, and ends with a summary. Another recipe folder (``shapes3d-cpu``,
``toy16``, one of your own) runs through the same phases; one without a first stage trains a
pixel-space backbone. Everything lands in one folder that every other command works on
afterwards::

    OUT/data/synth-shapes3d-32/  the dataset store (a store already there is kept)
    OUT/runs/autoencoder/        first-stage run (weights, metrics log)
    OUT/runs/backbone/           backbone run (weights, sample grid, metrics log)
    OUT/runs/disdiff/            DisDiff run (weights, eval/, images/swap.png, traverse.png,
                                 report/)
    OUT/summary.json             the evaluation results and where every file is

Running it again reuses the finished stages (see :func:`~disdiff_core.app.training.pipeline`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from disdiff_core.app.evaluation import evaluate_run
from disdiff_core.app.figures import draw_figure
from disdiff_core.app.results import EvalResult, FigureMode, Progress, silent
from disdiff_core.data.store import open_store
from disdiff_core.engine.distributed import distributed_session
from disdiff_core.errors import RecipeError
from disdiff_core.io import write_json_atomic
from disdiff_core.recipes import load_recipe
from disdiff_core.recipes.model import DataSection
from disdiff_core.report import natural_key, write_report
from disdiff_core.runs import Run
from disdiff_core.stages.data import ensure_store
from disdiff_core.stages.pipeline import PipelineStep, run_pipeline, stage_recipes

#: The shipped recipe folder the quickstart runs by default.
DEFAULT_RECIPES = "quickstart"
#: Run folder (under OUT/runs) of each training stage.
RUN_NAMES = {"first_stage": "autoencoder", "backbone": "backbone", "disdiff": "disdiff"}
#: Columns of the swap grid (target images) and of the traversal grid (steps).
FIGURE_COLUMNS = {FigureMode.swap: 6, FigureMode.traverse: 7}
SUMMARY_FILE = "summary.json"
#: Families of the DisDiff run's logged instruments the summary repeats (last values): the two
#: cross-entropies and the top-1 accuracy and spread of their logits, w (and its timestep
#: slices), the code norms and the gradient reaching the codes by term (docs/method.md).
INSTRUMENT_PREFIXES = ("ce_", "acc_", "spread_", "w", "z_norm_", "grad_z/")
#: Told (phase number, phases in all, what the phase does) as each phase starts.
PhaseFn = Callable[[int, int, str], None]
#: What the phases after training do.
CLOSING_PHASES = {
    "eval": "evaluation: FactorVAE, DCI, MIG on the EMA encoder",
    "figures": "figures: factor swaps and traversals",
    "report": "report: recipe, loss curves, evaluation, grids",
}


@dataclass(frozen=True)
class StagePlan:
    """One training stage of the quickstart: its recipe, the overrides that place it in OUT
    (store, parent runs, steps) and its run folder."""

    name: str
    recipe: Path
    description: str
    overrides: tuple[str, ...]
    run: Path


@dataclass(frozen=True)
class QuickstartResult:
    """Where the quickstart put everything, its evaluation and the seconds of each phase."""

    out: Path
    store: Path
    runs: dict[str, Path]
    evaluation: EvalResult
    images: dict[str, Path]
    report: Path
    seconds: dict[str, float]
    instruments: dict[str, float]

    def summary(self) -> dict[str, Any]:
        """The JSON document of ``summary.json`` (paths relative to ``out``)."""
        evaluation = self.evaluation
        assert evaluation.file is not None
        return {
            "out": str(self.out),
            "paths_relative_to": "out",
            "data": self.relative(self.store),
            "runs": {key: self.relative(path) for key, path in self.runs.items()},
            "evaluation": {
                "file": self.relative(evaluation.file),
                "metrics": {name: {key: {"mean": v.mean, "std": v.std}
                                   for key, v in numbers.items()}
                            for name, numbers in evaluation.metrics.items()},
                "seeds": list(evaluation.seeds),
                "modes": evaluation.modes,
                "reduction": evaluation.reduction,
            },
            "instruments": self.instruments,
            "images": {key: self.relative(path) for key, path in self.images.items()},
            "report": self.relative(self.report),
            "seconds": self.seconds,
        }

    def relative(self, path: Path) -> str:
        return str(Path(path).resolve().relative_to(self.out))


class _Phases:
    """Announces each phase (``what`` it does) and records its wall time under ``name``."""

    def __init__(self, announce: PhaseFn, total: int) -> None:
        self.announce = announce
        self.total = total
        self.number = 0
        self.seconds: dict[str, float] = {}

    @contextmanager
    def phase(self, name: str, what: str) -> Iterator[None]:
        self.number += 1
        self.announce(self.number, self.total, what)
        start = time.monotonic()
        yield
        self.seconds[name] = round(time.monotonic() - start, 1)


def last_instruments(run: Run) -> dict[str, float]:
    """The last logged value of each instrument of a DisDiff run (:data:`INSTRUMENT_PREFIXES`)."""
    latest: dict[str, float] = {}
    for record in run.read_metrics():
        latest.update({key: value for key, value in record.items()
                       if key.startswith(INSTRUMENT_PREFIXES) and isinstance(value, float)})
    return latest


def plan_stages(recipes: str | Path, out_dir: Path,
                steps: dict[str, int | None]) -> tuple[DataSection, list[StagePlan]]:
    """The data and the training stages of a recipe folder, in order, placed in ``out_dir``:
    every stage reads the first recipe's store, moved to OUT/data; the backbone trains over
    OUT/runs/autoencoder when the folder has a first stage (else it is pixel-space and serves
    as its own identity first stage), and DisDiff over OUT/runs/backbone. ``steps`` overrides
    ``train.steps`` by run name; steps for a stage the folder lacks are an error, not ignored."""
    runs = {stage: out_dir / "runs" / name for stage, name in RUN_NAMES.items()}
    found = {}
    for path in stage_recipes(recipes):
        recipe = load_recipe(path).recipe
        found[recipe.stage] = (path, recipe)
    if "backbone" not in found or "disdiff" not in found:
        raise RecipeError(f"recipe folder {recipes!r} needs a backbone and a disdiff recipe "
                          f"for the quickstart; it has {', '.join(found)}")
    unused = [name for stage, name in RUN_NAMES.items()
              if steps.get(name) is not None and stage not in found]
    if unused:
        raise RecipeError(f"recipe folder {recipes!r} has no {' or '.join(unused)} stage, so "
                          f"its steps cannot be set; its stages: "
                          f"{', '.join(RUN_NAMES[stage] for stage in found)}")
    first = next(iter(found.values()))[1].data
    store = out_dir / "data" / Path(first.store).name
    parents = {"first_stage": [],
               "backbone": ([f"first_stage.from_run={runs['first_stage']}"]
                            if "first_stage" in found else []),
               "disdiff": [f"backbone.from_run={runs['backbone']}",
                           f"first_stage.from_run={runs['backbone']}"]}
    plans = []
    for stage, (path, recipe) in found.items():
        name = RUN_NAMES[stage]
        overrides = [f"data.store={store}", *parents[stage]]
        if steps.get(name) is not None:
            overrides.append(f"train.steps={steps[name]}")
        plans.append(StagePlan(name, path, recipe.description, tuple(overrides), runs[stage]))
    return first.model_copy(update={"store": str(store)}), plans


def _prepare_store(data: DataSection, progress: Progress) -> Path:
    """Write the store ``data`` names (kept when it is already there); returns its path."""
    with distributed_session() as context:
        store = ensure_store(data, context, progress)
    opened = open_store(store)
    sizes = " × ".join(f"{name} {size}" for name, size in
                       zip(opened.factor_names, opened.factor_sizes, strict=True))
    progress(f"{store}: {opened.num_images} images {opened.image_shape}, factors {sizes}")
    return store


def quickstart(
    out: str | Path = "quickstart",
    *,
    recipes: str | Path = DEFAULT_RECIPES,
    autoencoder_steps: int | None = None,
    backbone_steps: int | None = None,
    disdiff_steps: int | None = None,
    seeds: int | None = None,
    sample_steps: int = 25,
    fast_eval: bool = False,
    progress: Progress = silent,
    on_phase: PhaseFn | None = None,
) -> QuickstartResult:
    """Run the whole pipeline of the recipe folder ``recipes`` (a shipped name or a path) into
    ``out`` and write ``summary.json`` there (see the module docstring); ``progress`` takes
    every line of the stages, ``on_phase`` each phase's start."""
    out_dir = Path(out).resolve()
    data, stages = plan_stages(recipes, out_dir, {"autoencoder": autoencoder_steps,
                                                  "backbone": backbone_steps,
                                                  "disdiff": disdiff_steps})
    runs = {plan.name: plan.run for plan in stages}
    disdiff_dir = runs["disdiff"]
    phases = _Phases(on_phase or (lambda number, total, what: progress(what)),
                     total=1 + len(stages) + len(CLOSING_PHASES))
    started = time.monotonic()

    prepare = data.prepare.plugin if data.prepare else "existing store"
    with phases.phase("data", f"dataset: {prepare} → {Path(data.store).name}"):
        store = _prepare_store(data, progress)
    for plan in stages:
        with phases.phase(plan.name, f"{plan.name}: {plan.description}"):
            run_pipeline([PipelineStep(plan.recipe, plan.overrides, plan.run)],
                         echo=progress)
    with phases.phase("eval", CLOSING_PHASES["eval"]):
        evaluation = evaluate_run(disdiff_dir, seeds=seeds, fast=fast_eval, progress=progress)
    with phases.phase("figures", CLOSING_PHASES["figures"]):
        images: dict[str, Path] = {}
        for mode, num in FIGURE_COLUMNS.items():
            images[mode.value] = disdiff_dir / "images" / f"{mode.value}.png"
            draw_figure(disdiff_dir, mode, data=store, num=num, steps=sample_steps,
                        out=images[mode.value], progress=progress)
    with phases.phase("report", CLOSING_PHASES["report"]):
        report = write_report(Run.open(disdiff_dir))
    phases.seconds["total"] = round(time.monotonic() - started, 1)

    backbone_grids = sorted((runs["backbone"] / "images").glob("samples-step*.png"),
                            key=lambda path: natural_key(path.name))  # step 1000 after 400
    if backbone_grids:
        images["backbone_samples"] = backbone_grids[-1]
    if (effects := disdiff_dir / "images" / "factor_x0.png").is_file():
        images["factor_x0"] = effects
    result = QuickstartResult(
        out=out_dir, store=store, runs=runs,
        evaluation=evaluation, images=images, report=report, seconds=phases.seconds,
        instruments=last_instruments(Run.open(disdiff_dir)))
    write_json_atomic(out_dir / SUMMARY_FILE, result.summary())
    return result
