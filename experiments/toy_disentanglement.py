"""Does DisDiff disentangle? DisDiff (λ > 0) against the same recipe with λ = 0 (PDAE-style:
the fields are split but nothing pushes them apart) and against an untrained encoder, on the
procedural toy-shapes set (five known factors) or a Shapes3D-like grid, over several seeds.

    python experiments/toy_disentanglement.py [--setting pixel16] [--work experiments/work]
        [--seeds 0 1 2] [--backbone-steps 600] [--steps 800] [--lambda 0.05]
        [--conditions disdiff lambda0 ...] [--doc docs/results/toy-disentanglement.md]
        [--compare CONDITION CONTROL] [--jobs 1] [--score-only] [--import-scores FILE ...]

Four settings (``study_settings.py``): ``pixel16``, a small pixel-space backbone
(``recipes/toy16/backbone.yaml``) on 16×16 images; ``latent32``, the paper's shape in
miniature: a VQ first stage (``recipes/tiny/autoencoder.yaml``, 32 px → 8×8×3) and a latent
backbone (``recipes/tiny/backbone.yaml``) trained much longer, on 32×32 images;
``shapes3d32``, the same models on synth-shapes3d at 32×32 (the paper's Shapes3D grid); and
``dsprites32``, the same models on a restricted synth-dsprites grid at 32×32 (grey sprites,
every 4th rotation and position). The first stage and the backbone are trained once; per seed
s, the DisDiff recipe (``recipes/toy16/disdiff.yaml``) trains once per condition with
``train.seed = s`` (initial weights, data order and noise follow it). Conditions
(``study_conditions.py``), among others: as shipped (λ = 0.05, the reference value); with the
``w_normalize`` stabiliser (w divided by its batch mean, so the term is not scaled down by the
young field's small magnitude), also at λ = 1; with w over the decoded image; with G_c on a
detached code (the ablation of the gradient path); and with the disentangling weight set to 0
(identical computation, no effect). The untrained baseline is the same encoder architecture
with the initial weights of seed s.
Every representation is scored EXACTLY (disentanglement_lib settings, the ``pca1`` reduction)
with metric seed s: FactorVAE score, DCI disentanglement, MIG (plus DCI informativeness).
Finished runs are reused, so an interrupted study continues where it stopped. ``--jobs J``
trains and scores J runs at a time in worker processes (the frozen models first, alone).
``--score-only`` trains nothing: a study over more seeds than are trained (the seeds of
several stops, say) then stops, naming the runs it lacks, instead of training them.

Writes ``WORK/results.json``, a Markdown table (``--doc``) with the budget and the command, and
beside it ``DOC-scores.json``, the table's scores at full precision by condition and seed: kept
with the doc, they let ``--import-scores`` combine seeds whose work folder is gone.
"""

from __future__ import annotations

import argparse
import io
import json
import multiprocessing
import os
import platform
import sys
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, as_completed, wait
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
import torch
from effect_size import compare, comparison_table
from joblib.externals.loky import get_reusable_executor
from study_conditions import CONDITIONS, train_order
from study_settings import SETTINGS

from disdiff_core.api import encode_store, load_disdiff
from disdiff_core.data.store import open_store
from disdiff_core.disdiff import DisDiffModel
from disdiff_core.evaluation import evaluate_codes
from disdiff_core.io import write_bytes_atomic, write_json_atomic, write_text_atomic
from disdiff_core.loading import read_run_recipe, to_model_input
from disdiff_core.report.plots import plot_curves
from disdiff_core.report.series import Series
from disdiff_core.runs import RUN_FILE, Run
from disdiff_core.stages.components import build_component
from disdiff_core.stages.pipeline import PipelineStep, run_pipeline
from disdiff_core.term_probe import disentangle_accuracy

METRICS = ["factorvae", "dci", "mig"]
#: (label, metric, number) of the table's columns.
COLUMNS = [
    ("FactorVAE score", "factorvae", "eval_accuracy"),
    ("DCI disentanglement", "dci", "disentanglement"),
    ("MIG", "mig", "discrete_mig"),
    ("DCI informativeness (test)", "dci", "informativeness_test"),
    ("probe acc. invariant", "probe", "acc_invariant"),
    ("probe acc. variant", "probe", "acc_variant"),
]
UNTRAINED = "untrained encoder"
#: Instruments kept from the end of each run's log (see docs/method.md and the run report).
INSTRUMENTS = ("rec", "ce_variant", "ce_invariant", "acc_variant", "acc_invariant", "w",
               "grad_z/share_dis")
#: Logged curves drawn per condition (mean over seeds) in the study's figure.
CURVES = {
    "acc_invariant": "top-1 accuracy of the invariant logits (chance = 1/N), logged batches",
    "acc_variant": "top-1 accuracy of the variant logits (chance = 1/N), logged batches",
    "w": "dynamic weight w (latent, raw batch mean)",
    "grad_z/share_dis": "share of the codes' gradient from the disentangling term",
    "rec": "reconstruction loss",
}
#: Images (the first ones of the store) the accuracy probe uses per timestep slice.
PROBE_IMAGES = 320


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--setting", choices=SETTINGS, default="pixel16")
    parser.add_argument("--work", type=Path,
                        help="default: experiments/work (pixel16), experiments/work-SETTING")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--first-stage-steps", type=int,
                        help="first-stage steps (a latent setting; default: the setting's)")
    parser.add_argument("--backbone-steps", type=int, help="default: the setting's")
    parser.add_argument("--steps", type=int, default=800, help="DisDiff optimiser steps")
    parser.add_argument("--lambda", dest="lam", type=float, default=0.05)
    parser.add_argument("--conditions", nargs="+", choices=[*CONDITIONS, "untrained"],
                        default=["disdiff", "lambda0", "untrained"])
    parser.add_argument("--doc", type=Path, default=Path("docs/results/toy-disentanglement.md"))
    parser.add_argument("--compare", nargs=2, action="append", default=[],
                        metavar=("CONDITION", "CONTROL"),
                        help="also write how far CONDITION is ahead of CONTROL over the seeds "
                        "(pooled std, bootstrap interval, paired t); repeatable")
    parser.add_argument("--jobs", type=int, default=1,
                        help="runs trained and scored side by side, each in its own process "
                        "on an equal share of the CPU cores (default 1: one after another, in "
                        "this process)")
    parser.add_argument("--score-only", action="store_true",
                        help="train nothing: score the finished runs not scored yet and write "
                        "the table; stops, naming them, if a run is neither finished nor scored")
    parser.add_argument("--import-scores", type=Path, nargs="+", default=[], metavar="FILE",
                        help="scores an earlier study wrote beside its --doc (DOC-scores.json), "
                        "added to WORK/scores.json first: seeds whose runs are gone still count")
    args = parser.parse_args()
    if args.jobs < 1:
        parser.error(f"--jobs {args.jobs}: give 1 or more")
    if args.compare and len(args.seeds) < 2:
        parser.error("--compare needs two or more --seeds (its spread is over seeds)")
    for pair in args.compare:
        if missing := [name for name in pair if name not in args.conditions]:
            parser.error(f"--compare {' '.join(pair)}: {', '.join(missing)} not in --conditions")
    setting = SETTINGS[args.setting]
    if args.work is None:
        suffix = "" if args.setting == "pixel16" else f"-{args.setting}"
        args.work = Path(f"experiments/work{suffix}")
    args.backbone_steps = args.backbone_steps or setting.backbone_steps
    args.first_stage_steps = args.first_stage_steps or setting.first_stage_steps
    return args


def label(args: argparse.Namespace, condition: str) -> str:
    if condition == "untrained":
        return UNTRAINED
    return CONDITIONS[condition].label.format(lam=args.lam)


def train_frozen_models(args: argparse.Namespace, data: list[str]) -> Path:
    """The setting's first stage (if any) and backbone, trained once; returns the backbone
    run, which also carries the first stage the DisDiff runs use."""
    setting = SETTINGS[args.setting]
    runs = args.work.resolve() / "runs"
    backbone_sets = [*data, *setting.backbone_sets, f"train.steps={args.backbone_steps}"]
    steps = []
    if setting.first_stage:
        steps.append(PipelineStep(setting.first_stage,
                                  (*data, *setting.first_stage_sets,
                                   f"train.steps={args.first_stage_steps}"),
                                  runs / "first-stage"))
        backbone_sets.append(f"first_stage={{from_run: {runs / 'first-stage'}}}")
    steps.append(PipelineStep(setting.backbone, tuple(backbone_sets), runs / "backbone"))
    run_pipeline(steps)
    return runs / "backbone"


@dataclass(frozen=True)
class PlannedRun:
    """One (condition, seed) run of a study: its pipeline step, and the runs of the same seed
    it starts from (a warm start's source, a continued twin), which must finish first."""

    condition: str
    seed: int
    step: PipelineStep
    after: tuple[tuple[str, int], ...]


def run_dir(work: Path, condition: str, seed: int) -> Path:
    return work.resolve() / "runs" / f"{condition}-seed{seed}"


def plan_runs(args: argparse.Namespace, data: list[str], backbone: Path) -> list[PlannedRun]:
    """Every trained condition per seed, each after the runs it starts from."""
    setting = SETTINGS[args.setting]
    planned = []
    for seed in args.seeds:
        for name in train_order(args.conditions):
            condition = CONDITIONS[name]
            steps = args.steps * condition.steps_scale
            params = condition.disentangle.format(lam=args.lam, half=steps // 2)
            sets = [*data, f"backbone.from_run={backbone}", f"first_stage.from_run={backbone}",
                    f"train.steps={steps}", f"train.seed={seed}",
                    "train.eval_every=null",
                    losses_override(params), f"encoder.params.num_factors={setting.num_factors}",
                    *setting.disdiff_sets, *condition.sets]
            if condition.warm_from:
                source = run_dir(args.work, condition.warm_from, seed)
                sets += [f"encoder.from_run={source}", f"field.from_run={source}"]
            shorter = (run_dir(args.work, condition.continues, seed) if condition.continues
                       else None)
            step = PipelineStep("toy16/disdiff", tuple(sets), run_dir(args.work, name, seed),
                                shorter)
            after = tuple((source, seed) for source in (condition.warm_from, condition.continues)
                          if source)
            planned.append(PlannedRun(name, seed, step, after))
    return planned


def train_runs(args: argparse.Namespace, store: Path) -> dict[tuple[str, int], Path]:
    """The frozen models, then every trained condition per seed (``--jobs`` at a time);
    returns their run folders. With ``--score-only``, nothing is trained (see
    :func:`check_nothing_to_train`)."""
    setting = SETTINGS[args.setting]
    data = [f"data.store={store}", *setting.prepare]
    if args.score_only:
        planned = plan_runs(args, data, args.work.resolve() / "runs" / "backbone")
        check_nothing_to_train(planned, read_results(args.work))
        return {(run.condition, run.seed): run.step.out for run in planned}
    backbone = train_frozen_models(args, data)
    planned = plan_runs(args, data, backbone)
    if "untrained" in args.conditions and not planned:
        raise SystemExit("the untrained baseline takes its architecture from a trained condition")
    if args.jobs == 1:
        for run in planned:
            run_pipeline([run.step])
    else:
        train_side_by_side(planned, args.jobs)
    return {(run.condition, run.seed): run.step.out for run in planned}


def check_nothing_to_train(planned: list[PlannedRun], saved: dict[str, Any]) -> None:
    """Stop, naming them, if some planned runs are neither finished (to be scored) nor scored
    already (their entry in ``saved``, the scores so far): ``--score-only`` would have to train
    them."""
    lacking = [run for run in planned if not is_finished(run.step.out)
               and not is_scored(run.condition, saved.get(run.condition, {}).get(str(run.seed)))]
    if lacking:
        names = ", ".join(f"{run.condition} seed {run.seed} ({run.step.out})" for run in lacking)
        raise SystemExit(f"--score-only: {len(lacking)} run(s) neither finished nor scored: "
                         f"{names}. Train them (the same command without --score-only) or add "
                         "their scores with --import-scores.")


def is_finished(run: Path | None) -> bool:
    return run is not None and (run / RUN_FILE).is_file() and Run.open(run).status == "finished"


def worker_pool(jobs: int) -> ProcessPoolExecutor:
    """``jobs`` worker processes, each on an equal share of the CPU cores (one thread each with
    as many jobs as cores: the same sums, and so the same weights, as a run started alone with
    OMP_NUM_THREADS=1)."""
    threads = max(1, (os.cpu_count() or 1) // jobs)
    context = multiprocessing.get_context("spawn")  # a forked torch may hang in its thread pool
    return ProcessPoolExecutor(jobs, mp_context=context, initializer=torch.set_num_threads,
                               initargs=(threads,))


def train_side_by_side(planned: list[PlannedRun], jobs: int) -> None:
    """Train the planned runs in ``jobs`` worker processes (:func:`worker_pool`), a run
    starting once those it starts from are done. After a failure no run starts; those already
    training finish (they are kept, and a run not started is trained by the next call), then
    the first failure's error is raised."""
    waiting, done = list(planned), set()
    running: dict[Future[None], PlannedRun] = {}
    failure: BaseException | None = None
    with worker_pool(jobs) as pool:
        while running or waiting:
            for run in [run for run in waiting if set(run.after) <= done]:
                waiting.remove(run)
                running[pool.submit(train_one, run.step)] = run
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                run = running.pop(future)
                if future.cancelled():
                    continue
                if (error := future.exception()) is None:
                    done.add((run.condition, run.seed))
                    print(f"trained {run.condition} seed {run.seed} "
                          f"({len(done)} of {len(planned)} runs)", flush=True)
                elif failure is None:
                    failure = error
                    waiting.clear()
                    for other in running:
                        other.cancel()  # those not started yet
                    print(f"{run.condition} seed {run.seed} failed ({error}); no other run "
                          "starts, the ones training finish", flush=True)
    if failure is not None:
        raise failure


def train_one(step: PipelineStep) -> None:
    """One pipeline step in a worker process, every line it prints (set-up and progress)
    prefixed with its run folder's name."""
    assert step.out is not None
    lines = NamedLines(step.out.name, sys.stdout)
    run_pipeline([step], echo=lambda line: print(line, file=lines, flush=True), stream=lines)


class NamedLines(io.TextIOBase):
    """A text stream that writes each complete line to ``out`` as ``[name] line``: runs trained
    side by side print into one terminal, and without the name their step lines cannot be told
    apart. A line is held until its newline arrives (``print`` writes the text and the newline
    separately)."""

    def __init__(self, name: str, out: IO[str]) -> None:
        super().__init__()
        self.prefix, self.out, self.pending = f"[{name}] ", out, ""

    def write(self, text: str) -> int:
        *lines, self.pending = (self.pending + text).split("\n")
        for line in lines:
            self.out.write(f"{self.prefix}{line}\n")
        return len(text)

    def flush(self) -> None:
        self.out.flush()


def losses_override(disentangle_params: str) -> str:
    """``--set`` of the recipe's two losses, the disentangling one with these parameters."""
    return f"losses=[{{plugin: mean-shift}}, {{plugin: disentangle, params: {disentangle_params}}}]"


def codes_of(model: DisDiffModel, condition: str, seed: int, run: Path, store: Any) -> np.ndarray:
    """(images, N, D) codes of the trained EMA encoder, or (``untrained``) of a freshly
    initialised one put into ``model``."""
    if condition == "untrained":
        torch.manual_seed(seed)
        fresh = build_component("encoder", "encoder", read_run_recipe(run).encoder, frozen=False)
        model.encoder.load_state_dict(fresh.state_dict())
    return encode_store(model, store)


def probe(model: DisDiffModel, store: Any, seed: int, rows: str) -> dict[str, float]:
    """The disentangling term's top-1 accuracy by timestep slice on :data:`PROBE_IMAGES`
    images, the store's first or spread over it (``rows``, see :class:`Setting`)."""
    count = min(PROBE_IMAGES, store.num_images)
    images = (store.read(0, count) if rows == "first" else
              store.read_rows(np.linspace(0, store.num_images - 1, count).astype(np.int64)))
    return disentangle_accuracy(model, to_model_input(images, torch.device("cpu")), seed=seed)


def last_logged(run: Path) -> dict[str, float]:
    """The last logged value of every key of a run's metrics log."""
    latest: dict[str, float] = {}
    for record in Run.open(run).read_metrics():
        latest.update(record)
    return latest


def score(args: argparse.Namespace, runs: dict[tuple[str, int], Path], store_path: Path) -> dict:
    """Exact metrics, the accuracy probe and the last logged instruments of every run
    (``--jobs`` at a time). Scores are kept in ``WORK/scores.json`` by condition and seed, and
    reused (scoring a run takes a minute): a study can be scored a few seeds at a time, also by
    studies running side by side."""
    saved = read_results(args.work)
    results: dict[str, Any] = {condition: {int(seed): entry for seed, entry in
                                           saved.get(condition, {}).items()}
                               for condition in args.conditions}
    architecture = next(c for c in args.conditions if c != "untrained")
    todo = {(condition, seed): runs[(architecture if condition == "untrained" else condition,
                                     seed)]
            for seed in args.seeds for condition in args.conditions
            if not is_scored(condition, results[condition].get(seed))}
    probe_rows = SETTINGS[args.setting].probe_rows

    def keep(condition: str, seed: int, entry: dict[str, Any], seconds: float) -> None:
        results[condition][seed] = entry
        print(f"seed {seed} {condition:<9} " + "  ".join(
            f"{name} {entry[f'{m}/{n}']:.3f}" for name, m, n in COLUMNS
            if f"{m}/{n}" in entry) + f"  ({seconds:.0f} s)", flush=True)
        save_score(args.work, condition, seed, entry)

    if args.jobs == 1:
        for (condition, seed), run in todo.items():
            keep(condition, seed, *score_run(condition, seed, run, store_path, probe_rows))
    else:
        with worker_pool(args.jobs) as pool:
            scoring = {pool.submit(score_run, condition, seed, run, store_path, probe_rows):
                       (condition, seed) for (condition, seed), run in todo.items()}
            for future in as_completed(scoring):
                keep(*scoring[future], *future.result())
    return results


def is_scored(condition: str, entry: dict[str, Any] | None) -> bool:
    """Whether a saved entry holds every score (entries saved before the probe existed don't)."""
    return entry is not None and ("probe/acc_invariant" in entry or condition == "untrained")


def score_run(condition: str, seed: int, run: Path, store_path: Path,
              probe_rows: str) -> tuple[dict[str, Any], float]:
    """One run's scores (see :func:`score`; ``untrained``: an encoder of ``run``'s architecture
    with seed ``seed``'s initial weights) and the seconds they took."""
    start = time.monotonic()
    store = open_store(store_path)
    model = load_disdiff(run, "cpu")
    codes = codes_of(model, condition, seed, run, store)
    result = evaluate_codes(codes, METRICS, ground_truth=store.ground_truth(), seeds=[seed])
    entry = {f"{metric}/{number}": result["metrics"][metric][number]["mean"]
             for _, metric, number in COLUMNS if metric != "probe"}
    if condition != "untrained":
        accuracy = probe(model, store, seed, probe_rows)
        entry.update({f"probe/{k}": v for k, v in accuracy.items()})
        latest = last_logged(run)
        entry.update({f"final/{key}": latest.get(key) for key in INSTRUMENTS})
        # a seed fixes a run only at the same thread count (see the per-seed table)
        entry["train/cpu_threads"] = (Run.open(run).info.get("environment")
                                      or {}).get("cpu_threads")
    release_metric_processes()
    return entry, time.monotonic() - start


def release_metric_processes() -> None:
    """Stop the processes the exact DCI fits in (joblib's reusable loky pool). Left idle, they
    outlive a study's worker for loky's idle timeout, and the study waited 300 s at the end of
    its scoring for the worker to exit."""
    get_reusable_executor().shutdown(wait=True)


def save_score(work: Path, condition: str, seed: int, entry: dict[str, Any]) -> None:
    """Add one run's scores to ``WORK/scores.json``, re-read first: studies of other seeds
    running beside this one write there too."""
    saved = read_results(work)
    saved.setdefault(condition, {})[str(seed)] = entry
    write_json_atomic(work / "scores.json", saved)


def import_scores(work: Path, files: list[Path]) -> None:
    """Add the entries of earlier studies' ``DOC-scores.json`` files to ``WORK/scores.json``;
    an entry already there (the same run, scored here) is kept."""
    saved = read_results(work)
    for path in files:
        try:
            imported = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            raise SystemExit(f"--import-scores {path}: not a scores file ({error})") from error
        for condition, entries in imported.items():
            for seed, entry in entries.items():
                saved.setdefault(condition, {}).setdefault(seed, entry)
    write_json_atomic(work / "scores.json", saved)


def reported_scores(args: argparse.Namespace, results: dict[str, Any]) -> dict[str, Any]:
    """The entries the table is made of, by condition and seed (``DOC-scores.json``)."""
    return {condition: {str(seed): results[condition][seed] for seed in args.seeds}
            for condition in args.conditions}


def read_results(work: Path) -> dict[str, Any]:
    path = work / "scores.json"
    return json.loads(path.read_text()) if path.exists() else {}


def table(args: argparse.Namespace, results: dict[str, Any]) -> str:
    header = "| condition | " + " | ".join(name for name, _, _ in COLUMNS) + " |"
    lines = [header, "|" + "---|" * (len(COLUMNS) + 1)]
    for condition in args.conditions:
        cells = []
        for _, metric, number in COLUMNS:
            values = np.array([results[condition][s].get(f"{metric}/{number}", np.nan)
                               for s in args.seeds])
            cells.append("–" if np.isnan(values).all() else
                         f"{values.mean():.3f} ± {values.std():.3f}")
        lines.append(f"| {label(args, condition)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def per_seed(args: argparse.Namespace, results: dict[str, Any]) -> str:
    keys = ([f"{m}/{n}" for _, m, n in COLUMNS] + [f"final/{key}" for key in INSTRUMENTS]
            + ["train/cpu_threads"])
    lines = ["| condition | seed | " + " | ".join(keys) + " |", "|" + "---|" * (len(keys) + 2)]
    for condition in args.conditions:
        for seed in args.seeds:
            entry = results[condition][seed]
            cells = [f"{entry[k]:.4g}" if entry.get(k) is not None else "–" for k in keys]
            lines.append(f"| {condition} | {seed} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def probe_slices(args: argparse.Namespace, results: dict[str, Any]) -> str:
    """The probe's invariant accuracy per timestep fifth, mean over the seeds that have it
    (scores imported from an earlier table keep only the columns that table printed)."""
    keys = [f"probe/acc_invariant_t{k}" for k in range(5)]
    lines = ["| condition | seeds | " + " | ".join(f"t in fifth {k}" for k in range(5)) + " |",
             "|" + "---|" * 7]
    for condition in args.conditions:
        if condition == "untrained":
            continue
        seeds = [s for s in args.seeds if all(k in results[condition][s] for k in keys)]
        means = [f"{np.mean([results[condition][s][k] for s in seeds]):.3f}" if seeds else "–"
                 for k in keys]
        lines.append(f"| {label(args, condition)} | {', '.join(map(str, seeds)) or 'none'} | "
                     + " | ".join(means) + " |")
    return "\n".join(lines)


def comparisons(args: argparse.Namespace, results: dict[str, Any]) -> str:
    """One table per ``--compare`` pair: every score both conditions have, over the seeds."""
    tables = []
    for condition, control in args.compare:
        rows = []
        for name, metric, number in COLUMNS:
            key = f"{metric}/{number}"
            values = [np.array([results[c][s].get(key, np.nan) for s in args.seeds])
                      for c in (condition, control)]
            if not np.isnan(values).any():
                rows.append(compare(name, *values))
        tables.append(comparison_table(condition, control, rows))
    return "\n\n".join(tables)


def draw_curves(args: argparse.Namespace, runs: dict[tuple[str, int], Path],
                path: Path) -> list[int]:
    """One panel per instrument of :data:`CURVES`, one curve per condition (mean over seeds of
    the logged values at each step); returns the seeds drawn (those whose runs are kept)."""
    trained = [condition for condition in args.conditions if condition != "untrained"]
    logs = {(condition, seed): (Run.open(run).read_metrics() if (run / RUN_FILE).is_file()
                                else [])  # a run scored, then removed (--import-scores)
            for condition in trained for seed in args.seeds
            for run in [runs[(condition, seed)]]}
    panels: dict[str, Series] = {}
    for key, title in CURVES.items():
        series: Series = {}
        for condition in trained:
            by_step: dict[int, list[float]] = {}
            for seed in args.seeds:
                for record in logs[(condition, seed)]:
                    if key in record:
                        by_step.setdefault(record["step"], []).append(record[key])
            steps = sorted(by_step)
            series[condition] = (steps, [float(np.mean(by_step[s])) for s in steps])
        panels[title] = series
    write_bytes_atomic(path, plot_curves(panels, log_y_when_positive=False))
    return sorted({seed for (_, seed), log in logs.items() if log})


def main() -> None:
    args = parse_args()
    setting = SETTINGS[args.setting]
    started = time.monotonic()
    store = (args.work / "data" / setting.store).resolve()
    if args.import_scores:
        args.work.mkdir(parents=True, exist_ok=True)
        import_scores(args.work, args.import_scores)
    runs = train_runs(args, store)
    results = score(args, runs, store)
    curves = args.doc.with_name(args.doc.stem + "-curves.png")
    drawn = draw_curves(args, runs, curves)
    minutes = (time.monotonic() - started) / 60
    command = "python " + " ".join(sys.argv)
    write_json_atomic(args.work / "results.json", {
        "command": command, "setting": args.setting, "seeds": args.seeds, "lambda": args.lam,
        "steps": args.steps, "first_stage_steps": args.first_stage_steps,
        "backbone_steps": args.backbone_steps, "results": results, "minutes": minutes})
    compared = comparisons(args, results) if args.compare else ""
    doc = "\n".join([
        "# Toy disentanglement study (generated)",
        "",
        (f"Made by `{command}` in {minutes:.0f} min on "
         f"{platform.processor() or platform.machine()} (torch {torch.__version__}, "
         f"this process on {torch.get_num_threads()} CPU thread(s); each run's own in the "
         f"per-seed table, where kept); the curves are in `{curves.name}`"
         + ("." if drawn == sorted(args.seeds) else
            f", over the seeds whose runs are kept ({', '.join(map(str, drawn)) or 'none'}).")),
        "",
        (f"Budget: {setting.budget}"
         + (f", first stage trained {args.first_stage_steps} steps" if setting.first_stage
            else "")
         + f"; backbone trained {args.backbone_steps} steps; DisDiff "
         f"`recipes/toy16/disdiff.yaml` (conv4 encoder, N = {setting.num_factors}, D = 8, "
         f"batch 16, lr 1e-3, 20 warm-up steps, EMA 0.999) trained {args.steps} steps per run, "
         f"times the factor a condition's label names (\"5 × the steps\": {5 * args.steps}; "
         f"a warm start adds its steps to its source run's). Exact metrics "
         f"(disentanglement_lib settings), pca1 codes, metric seed = training seed; mean ± "
         f"std (population) over seeds {args.seeds}. The probe: top-1 accuracy of the "
         f"disentangling term's logits "
         f"(argmax over the N codes = the sampled factor; chance 1/N = "
         f"{1 / setting.num_factors:.3g}, or 1/N of the N a condition's label names) on "
         f"{PROBE_IMAGES} images ("
         + ("the store's first" if setting.probe_rows == "first"
            else "spread evenly over the store")
         + "), once per fifth of the timesteps, EMA weights, eval mode."),
        "",
        table(args, results),
        "",
        "Probe accuracy of the invariant logits by timestep fifth (fifth 4: t near T):",
        "",
        probe_slices(args, results),
        "",
        ("Per seed, with the last logged training terms and instruments (rec, the two "
         "cross-entropies and the top-1 accuracy of their logits on the logged batches; w; the "
         "share of the codes' gradient that comes from the disentangling term; the CPU threads "
         "it trained on, where its run.json keeps them: the same seed on another thread count "
         "sums in another order and ends at other weights):"),
        "",
        per_seed(args, results),
        "",
        *([("How far each compared condition is ahead of its control (a positive difference: "
            "ahead), per score over the seeds above; the interval resamples seeds, a seed's "
            "two runs together:"), "", compared, ""] if compared else []),
    ])
    args.doc.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(args.doc, doc)
    write_json_atomic(args.doc.with_name(args.doc.stem + "-scores.json"),
                      reported_scores(args, results))
    print(table(args, results))
    if compared:
        print(compared)
    print(f"written {args.doc}, {curves} and {args.work / 'results.json'} ({minutes:.1f} min)")


if __name__ == "__main__":
    main()
