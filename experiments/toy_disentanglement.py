"""Does DisDiff disentangle? DisDiff (λ > 0) against the same recipe with λ = 0 (PDAE-style:
the fields are split but nothing pushes them apart) and against an untrained encoder, on the
procedural toy-shapes set (16×16, five known factors), over several seeds.

    python experiments/toy_disentanglement.py [--work experiments/work] [--seeds 0 1 2]
        [--backbone-steps 600] [--steps 800] [--lambda 0.05] [--conditions disdiff lambda0 ...]
        [--doc docs/results/toy-disentanglement.md]

One backbone (``recipes/quickstart/backbone.yaml``) is trained once; per seed s, the DisDiff
recipe (``recipes/quickstart/disdiff.yaml``) trains once per condition with ``train.seed = s``
(initial weights, data order and noise follow it). Conditions (:data:`LOSS_PARAMS`): as shipped
(λ = 0.05, the reference value); with the ``w_normalize`` stabiliser (w divided by its batch
mean, so the term is not scaled down by the young field's small magnitude), also at λ = 1; with
w over the decoded image; with G_c on a detached code (the ablation of the gradient path); and
with the disentangling weight set to 0 (identical computation, no effect). The untrained
baseline is the same encoder architecture with the initial weights of seed s.
Every representation is scored EXACTLY (disentanglement_lib settings, the ``pca1`` reduction)
with metric seed s: FactorVAE score, DCI disentanglement, MIG (plus DCI informativeness).
Finished runs are reused, so an interrupted study continues where it stopped.

Writes ``WORK/results.json`` and a Markdown table (``--doc``) with the budget and the command.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from disdiff_core.api import encode_store, load_disdiff
from disdiff_core.data.store import open_store
from disdiff_core.evaluation import evaluate_codes
from disdiff_core.io import write_json_atomic, write_text_atomic
from disdiff_core.loading import read_run_recipe
from disdiff_core.runs import Run
from disdiff_core.stages.components import build_component
from disdiff_core.stages.pipeline import PipelineStep, run_pipeline

METRICS = ["factorvae", "dci", "mig"]
#: (label, metric, number) of the table's columns.
COLUMNS = [
    ("FactorVAE score", "factorvae", "eval_accuracy"),
    ("DCI disentanglement", "dci", "disentanglement"),
    ("MIG", "mig", "discrete_mig"),
    ("DCI informativeness (test)", "dci", "informativeness_test"),
]
#: Trained conditions: the disentangling loss's parameters ("{lam}" is --lambda).
LOSS_PARAMS = {
    "disdiff": "{{weight: {lam}}}",
    "disdiff-wnorm": "{{weight: {lam}, w_normalize: true}}",
    "disdiff-wnorm-l1": "{{weight: 1.0, w_normalize: true}}",
    "disdiff-image-w": "{{weight: {lam}, weight_mode: image}}",
    "disdiff-detached": "{{weight: {lam}, code_gradient: detached}}",
    "lambda0": "{{weight: 0.0}}",
}
LABELS = {
    "disdiff": "DisDiff (λ = {lam}, faithful)",
    "disdiff-wnorm": "DisDiff (λ = {lam}, w normalised by its batch mean)",
    "disdiff-wnorm-l1": "DisDiff (λ = 1, w normalised by its batch mean)",
    "disdiff-image-w": "DisDiff (λ = {lam}, w over the decoded image)",
    "disdiff-detached": "DisDiff (λ = {lam}, G_c on a detached code: ablation)",
    "lambda0": "same recipe, λ = 0 (PDAE-style)",
    "untrained": "untrained encoder",
}
#: Instruments kept from the end of each run's log (see docs/method.md and the run report).
INSTRUMENTS = ("rec", "ce_variant", "ce_invariant", "acc_variant", "acc_invariant", "w",
               "grad_z/share_dis")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=Path("experiments/work"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--backbone-steps", type=int, default=600)
    parser.add_argument("--steps", type=int, default=800, help="DisDiff optimiser steps")
    parser.add_argument("--lambda", dest="lam", type=float, default=0.05)
    parser.add_argument("--conditions", nargs="+", choices=[*LOSS_PARAMS, "untrained"],
                        default=["disdiff", "disdiff-wnorm", "lambda0", "untrained"])
    parser.add_argument("--doc", type=Path, default=Path("docs/results/toy-disentanglement.md"))
    return parser.parse_args()


def train_runs(args: argparse.Namespace, store: Path) -> dict[tuple[str, int], Path]:
    """The backbone, then the two DisDiff conditions per seed; returns their run folders."""
    work = args.work.resolve()
    backbone = work / "runs" / "backbone"
    data = [f"data.store={store}"]
    run_pipeline([PipelineStep("quickstart/backbone", (*data, f"train.steps={args.backbone_steps}"),
                               backbone)])
    runs = {}
    trained = [c for c in args.conditions if c != "untrained"]
    if "untrained" in args.conditions and not trained:
        raise SystemExit("the untrained baseline takes its architecture from a trained condition")
    for seed in args.seeds:
        for condition in trained:
            loss_params = LOSS_PARAMS[condition]
            sets = (*data, f"backbone.from_run={backbone}", f"first_stage.from_run={backbone}",
                    f"train.steps={args.steps}", f"train.seed={seed}", "train.eval_every=null",
                    losses_override(loss_params.format(lam=args.lam)))
            out = work / "runs" / f"{condition}-seed{seed}"
            run_pipeline([PipelineStep("quickstart/disdiff", sets, out)])
            runs[(condition, seed)] = out
    return runs


def losses_override(disentangle_params: str) -> str:
    """``--set`` of the recipe's two losses, the disentangling one with these parameters."""
    return f"losses=[{{plugin: mean-shift}}, {{plugin: disentangle, params: {disentangle_params}}}]"


def codes_of(condition: str, seed: int, run: Path, store: Any) -> np.ndarray:
    """(images, N, D) codes of the trained EMA encoder, or of a freshly initialised one."""
    model = load_disdiff(run, "cpu")
    if condition == "untrained":
        torch.manual_seed(seed)
        fresh = build_component("encoder", "encoder", read_run_recipe(run).encoder, frozen=False)
        model.encoder.load_state_dict(fresh.state_dict())
    return encode_store(model, store)


def last_logged(run: Path, key: str) -> float | None:
    values = [r[key] for r in Run.open(run).read_metrics() if key in r]
    return values[-1] if values else None


def score(args: argparse.Namespace, runs: dict[tuple[str, int], Path], store_path: Path) -> dict:
    store = open_store(store_path)
    ground_truth = store.ground_truth()
    results: dict[str, Any] = {condition: {} for condition in args.conditions}
    architecture = next(c for c in args.conditions if c != "untrained")
    for seed in args.seeds:
        for condition in args.conditions:
            run = runs[(architecture if condition == "untrained" else condition, seed)]
            start = time.monotonic()
            codes = codes_of(condition, seed, run, store)
            result = evaluate_codes(codes, METRICS, ground_truth=ground_truth, seeds=[seed])
            entry = {f"{metric}/{number}": result["metrics"][metric][number]["mean"]
                     for _, metric, number in COLUMNS}
            if condition != "untrained":
                for key in INSTRUMENTS:
                    entry[f"final/{key}"] = last_logged(run, key)
            results[condition][seed] = entry
            print(f"seed {seed} {condition:<9} " + "  ".join(
                f"{label} {entry[f'{m}/{n}']:.3f}" for label, m, n in COLUMNS)
                + f"  ({time.monotonic() - start:.0f} s)", flush=True)
    return results


def table(args: argparse.Namespace, results: dict[str, Any]) -> str:
    header = "| condition | " + " | ".join(label for label, _, _ in COLUMNS) + " |"
    lines = [header, "|" + "---|" * (len(COLUMNS) + 1)]
    for condition in args.conditions:
        cells = []
        for _, metric, number in COLUMNS:
            values = np.array([results[condition][s][f"{metric}/{number}"] for s in args.seeds])
            cells.append(f"{values.mean():.3f} ± {values.std():.3f}")
        label = LABELS[condition].format(lam=args.lam)
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def per_seed(args: argparse.Namespace, results: dict[str, Any]) -> str:
    keys = [f"{m}/{n}" for _, m, n in COLUMNS] + [f"final/{key}" for key in INSTRUMENTS]
    lines = ["| condition | seed | " + " | ".join(keys) + " |", "|" + "---|" * (len(keys) + 2)]
    for condition in args.conditions:
        for seed in args.seeds:
            entry = results[condition][seed]
            cells = [f"{entry[k]:.4g}" if entry.get(k) is not None else "–" for k in keys]
            lines.append(f"| {condition} | {seed} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    args = parse_args()
    started = time.monotonic()
    store = (args.work / "data" / "toy-shapes-16").resolve()
    runs = train_runs(args, store)
    results = score(args, runs, store)
    minutes = (time.monotonic() - started) / 60
    command = "python " + " ".join(sys.argv)
    write_json_atomic(args.work / "results.json", {
        "command": command, "seeds": args.seeds, "lambda": args.lam, "steps": args.steps,
        "backbone_steps": args.backbone_steps, "results": results, "minutes": minutes})
    doc = "\n".join([
        "# Toy disentanglement study (generated)",
        "",
        (f"Made by `{command}` in {minutes:.0f} min on "
         f"{platform.processor() or platform.machine()} (torch {torch.__version__}, "
         f"{torch.get_num_threads()} threads)."),
        "",
        (f"Budget: toy-shapes 16×16 (864 images, factors shape 3 × hue 4 × scale 2 × pos_x 6 × "
        f"pos_y 6); backbone `recipes/quickstart/backbone.yaml` trained {args.backbone_steps} "
        f"steps; DisDiff `recipes/quickstart/disdiff.yaml` (conv4 encoder, N = 5, D = 8, batch "
        f"16, lr 1e-3, 20 warm-up steps, EMA 0.999) trained {args.steps} steps per run. Exact "
        f"metrics (disentanglement_lib settings), pca1 codes, metric seed = training seed; "
        f"mean ± std (population) over seeds {args.seeds}."),
        "",
        table(args, results),
        "",
        ("Per seed, with the last logged training terms and instruments (rec, the two "
         "cross-entropies and the top-1 accuracy of their logits, chance = 0.2; w; the share of "
         "the codes' gradient that comes from the disentangling term):"),
        "",
        per_seed(args, results),
        "",
    ])
    args.doc.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(args.doc, doc)
    print(table(args, results))
    print(f"written {args.doc} and {args.work / 'results.json'} ({minutes:.1f} min)")


if __name__ == "__main__":
    main()
