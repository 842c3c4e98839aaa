"""The whole pipeline on the built-in default, on a CPU (``disdiff quickstart``).

Renders the procedural Shapes3D grid (synth-shapes3d at 32×32: 480 000 images, six factors),
trains the quickstart's VQ autoencoder, latent backbone and DisDiff over them
(``recipes/quickstart/``, a shorter budget of the CPU demonstration ``recipes/shapes3d-cpu/``),
evaluates the DisDiff run (exact metrics, several seeds), draws a swap and a traversal grid,
writes the run report, and ends with a summary. Everything lands in one folder that every other
command works on afterwards::

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
from disdiff_core.io import write_json_atomic
from disdiff_core.recipes import load_recipe
from disdiff_core.report import natural_key, write_report
from disdiff_core.runs import Run
from disdiff_core.stages.data import ensure_store
from disdiff_core.stages.pipeline import PipelineStep, run_pipeline

#: The shipped recipes the quickstart runs, by stage, in order.
RECIPES = {"autoencoder": "quickstart/autoencoder", "backbone": "quickstart/backbone",
           "disdiff": "quickstart/disdiff"}
#: The store's folder under OUT/data.
STORE_NAME = "synth-shapes3d-32"
#: Columns of the swap grid (target images) and of the traversal grid (steps).
FIGURE_COLUMNS = {FigureMode.swap: 6, FigureMode.traverse: 7}
SUMMARY_FILE = "summary.json"
#: Families of the DisDiff run's logged instruments the summary repeats (last values): the two
#: cross-entropies and the top-1 accuracy and spread of their logits, w (and its timestep
#: slices), the code norms and the gradient reaching the codes by term (docs/method.md).
INSTRUMENT_PREFIXES = ("ce_", "acc_", "spread_", "w", "z_norm_", "grad_z/")
#: Told (phase number, phases in all, what the phase does) as each phase starts.
PhaseFn = Callable[[int, int, str], None]
PHASES = {
    "data": "dataset: synth-shapes3d, the Shapes3D grid at 32×32 (six factors)",
    "autoencoder": "first stage: VQ autoencoder, 32×32 images → 8×8×3 latents",
    "backbone": "backbone: latent UNet, ε-prediction",
    "disdiff": "DisDiff: encoder + sub-gradient fields over the frozen backbone",
    "eval": "evaluation: FactorVAE, DCI, MIG on the EMA encoder",
    "figures": "figures: factor swaps and traversals",
    "report": "report: recipe, loss curves, evaluation, grids",
}


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
    """Announces each phase and records its wall time."""

    def __init__(self, announce: PhaseFn) -> None:
        self.announce = announce
        self.number = 0
        self.seconds: dict[str, float] = {}

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        self.number += 1
        self.announce(self.number, len(PHASES), PHASES[name])
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


def _steps(steps: int | None) -> list[str]:
    return [f"train.steps={steps}"] if steps is not None else []


def _prepare_store(store: Path, progress: Progress) -> None:
    """Render the store the recipes name into ``store`` (kept when it is already there)."""
    data = load_recipe(RECIPES["autoencoder"], [f"data.store={store}"]).recipe.data
    with distributed_session() as context:
        store = ensure_store(data, context, progress)
    opened = open_store(store)
    sizes = " × ".join(f"{name} {size}" for name, size in
                       zip(opened.factor_names, opened.factor_sizes, strict=True))
    progress(f"{store}: {opened.num_images} images {opened.image_shape}, factors {sizes}")


def quickstart(
    out: str | Path = "quickstart",
    *,
    autoencoder_steps: int | None = None,
    backbone_steps: int | None = None,
    disdiff_steps: int | None = None,
    seeds: int | None = None,
    sample_steps: int = 25,
    fast_eval: bool = False,
    progress: Progress = silent,
    on_phase: PhaseFn | None = None,
) -> QuickstartResult:
    """Run the whole pipeline into ``out`` and write ``summary.json`` there (see the module
    docstring); ``progress`` takes every line of the stages, ``on_phase`` each phase's start."""
    out_dir = Path(out).resolve()
    store = out_dir / "data" / STORE_NAME
    runs = {stage: out_dir / "runs" / stage for stage in RECIPES}
    data_sets = [f"data.store={store}"]
    sets = {
        "autoencoder": [*data_sets, *_steps(autoencoder_steps)],
        "backbone": [*data_sets, *_steps(backbone_steps),
                     f"first_stage.from_run={runs['autoencoder']}"],
        "disdiff": [*data_sets, *_steps(disdiff_steps), f"backbone.from_run={runs['backbone']}",
                    f"first_stage.from_run={runs['backbone']}"],
    }
    disdiff_dir = runs["disdiff"]
    phases = _Phases(on_phase or (lambda number, total, what: progress(what)))
    started = time.monotonic()

    with phases.phase("data"):
        _prepare_store(store, progress)
    for stage, recipe in RECIPES.items():
        with phases.phase(stage):
            run_pipeline([PipelineStep(recipe, tuple(sets[stage]), runs[stage])], echo=progress)
    with phases.phase("eval"):
        evaluation = evaluate_run(disdiff_dir, seeds=seeds, fast=fast_eval, progress=progress)
    with phases.phase("figures"):
        images: dict[str, Path] = {}
        for mode, num in FIGURE_COLUMNS.items():
            images[mode.value] = disdiff_dir / "images" / f"{mode.value}.png"
            draw_figure(disdiff_dir, mode, data=store, num=num, steps=sample_steps,
                        out=images[mode.value], progress=progress)
    with phases.phase("report"):
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
