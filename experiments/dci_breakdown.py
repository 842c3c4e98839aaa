"""Where a run's DCI disentanglement comes from: the importance matrix behind the score, per
code and per factor, with dlib's draws and booster (the numbers ``disdiff eval`` reports).
``--reduce none`` scores the raw N·D code dimensions instead: what the codes hold before the
protocol's one-scalar-per-chunk reduction.

    python experiments/dci_breakdown.py RUN [RUN ...] [--data STORE] [--seed 0] [--reduce pca1]
        [--json out.json]

For each run: the store is encoded with the run's EMA encoder (or its kept codes are read from
``RUN/artifacts.zarr`` when ``disdiff eval`` has written them), each D-dim chunk reduced to one
scalar (pca1), and dlib's 10 000 train / 5 000 test points drawn with ``RandomState(seed)``. One
gradient-boosting classifier per factor gives the importance of every code for that factor.
Printed per run: the importance matrix (codes × factors, each code's row normalised), each
code's disentanglement (1 − its entropy over factors) and weight in the score, and each factor's
test accuracy, completeness and strongest code. DCI disentanglement is the weighted mean of the
per-code column; a code that mixes several factors pulls it down in proportion to its weight.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from disdiff_core.artifacts import codes_name, list_artifacts, save_codes
from disdiff_core.data.store import open_store
from disdiff_core.evaluation.codes import load_codes
from disdiff_core.evaluation.reduce import reduce_codes
from disdiff_core.loading import encode_store, load_disdiff, read_run_recipe
from disdiff_core.runs import ARTIFACTS_DIR, Run
from disdiff_plugins.metrics.dci import (
    completeness_per_factor,
    disentanglement,
    disentanglement_per_code,
    fit_exact_boosters,
)
from disdiff_plugins.metrics.utils import generate_batch_factor_code


def run_codes(run: Path, store_path: Path) -> np.ndarray:
    """The run's codes of the store: the kept artifact of its step if there is one, else
    encoded now and kept (as ``disdiff eval`` keeps them)."""
    step = Run.open(run).step
    name = codes_name(step, store_path)
    if name in list_artifacts(run):
        return load_codes(run / ARTIFACTS_DIR, name)
    codes = encode_store(load_disdiff(run, "cpu"), open_store(store_path))
    save_codes(run, step, store_path, codes)
    return codes


def breakdown(run: Path, store_path: Path, seed: int, reduction: str = "pca1") -> dict[str, Any]:
    """The importance matrix of ``run``'s reduced codes and what DCI makes of it."""
    store = open_store(store_path)
    truth = store.ground_truth()
    reduced = reduce_codes(run_codes(run, store_path), reduction)
    random_state = np.random.RandomState(seed)

    def representation(rows: np.ndarray) -> np.ndarray:
        return reduced[rows]

    codes_train, factors_train = generate_batch_factor_code(truth, representation, 10000,
                                                            random_state, 16)
    codes_test, factors_test = generate_batch_factor_code(truth, representation, 5000,
                                                          random_state, 16)
    fits = fit_exact_boosters(codes_train.T, factors_train, codes_test.T, factors_test,
                              random_state)
    importance = np.stack([fit.importances for fit in fits], axis=1)  # (codes, factors)
    weights = importance.sum(axis=1) / max(importance.sum(), 1e-11)
    return {
        "run": str(run),
        "reduction": reduction,
        "factors": list(truth.factor_names),
        "importance": importance.tolist(),
        "code_disentanglement": disentanglement_per_code(importance).tolist(),
        "code_weight": weights.tolist(),
        "factor_test_accuracy": [fit.test_accuracy for fit in fits],
        "factor_completeness": completeness_per_factor(importance).tolist(),
        "disentanglement": disentanglement(importance),
    }


def show(result: dict[str, Any]) -> None:
    factors = result["factors"]
    importance = np.asarray(result["importance"])
    shares = importance / np.maximum(importance.sum(axis=1, keepdims=True), 1e-11)
    print(f"\n{result['run']} ({result['reduction']} codes)  "
          f"DCI disentanglement {result['disentanglement']:.3f}")
    print("code  " + "  ".join(f"{name[:11]:>11}" for name in factors) + "   dis.  weight")
    for k, row in enumerate(shares):
        print(f"{k:>4}  " + "  ".join(f"{value:11.2f}" for value in row)
              + f"  {result['code_disentanglement'][k]:5.2f}  {result['code_weight'][k]:6.2f}")
    print("test accuracy " + "  ".join(f"{name}={acc:.2f}" for name, acc in
                                       zip(factors, result["factor_test_accuracy"], strict=True)))
    print("completeness  " + "  ".join(f"{name}={value:.2f}" for name, value in
                                       zip(factors, result["factor_completeness"], strict=True)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--data", type=Path, help="the store (default: each run's data.store)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--reduce", choices=("pca1", "none"), default="pca1")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    results = []
    for run in args.runs:
        store = args.data or Path(read_run_recipe(run).data.store)
        results.append(breakdown(run, store, args.seed, args.reduce))
        show(results[-1])
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
