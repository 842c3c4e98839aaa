"""Exact DCI (dlib's GradientBoostingClassifier) versus fast DCI (histogram booster): time and
score differences at dlib's study settings (10000 train / 5000 test points).

The ground truth is Shapes3D's factor grid (10, 10, 10, 8, 4, 15: 480000 rows, 57 classes to
fit) with synthetic codes of known structure, so no dataset is needed:

* ``identity+noise``: each code is one standardised factor plus Gaussian noise (σ = 0.3);
* ``mixed``: the factors through a random dense mixing matrix, plus noise (entangled);
* ``partial``: three factors squashed by tanh, one copied as its cube, three buried in noise.

Run: ``python bench/bench_metrics.py`` (a few minutes per representation on one core; pass
``--num-train 2000 --num-test 1000`` for a quick look, ``--others`` to also time FactorVAE, MIG
and SAP at study settings). Timings are wall-clock on this machine; the differences are
fast − exact.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from disdiff_core.data.ground_truth import GroundTruth
from disdiff_plugins.metrics.dci import dci
from disdiff_plugins.metrics.factor_vae import factor_vae_score
from disdiff_plugins.metrics.mig import mig
from disdiff_plugins.metrics.sap import sap

SHAPES3D_SIZES = [10, 10, 10, 8, 4, 15]
DCI_NUMBERS = ("disentanglement", "completeness", "informativeness_test")


def representations(ground_truth: GroundTruth) -> dict[str, np.ndarray]:
    """Synthetic (num_rows, 6) code tables of the kinds described in the module docstring."""
    rows = np.arange(ground_truth.num_rows)
    factors = np.stack(np.unravel_index(rows, ground_truth.factor_sizes), axis=1).astype(float)
    factors = (factors - factors.mean(0)) / factors.std(0)
    rng = np.random.RandomState(0)
    noise = rng.randn(*factors.shape)
    mixing = np.eye(6) + 0.5 * rng.randn(6, 6)
    return {
        "identity+noise": factors + 0.3 * noise,
        "mixed": factors @ mixing + 0.3 * noise,
        "partial": np.concatenate(
            [np.tanh(factors[:, :3]), factors[:, :1] ** 3, factors[:, 3:] + noise[:, 3:]], axis=1
        ),
    }


def timed(fn, *args, **kwargs) -> tuple[dict[str, float], float]:
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-train", type=int, default=10000)
    parser.add_argument("--num-test", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", nargs="*", help="representation names to run")
    parser.add_argument("--others", action="store_true", help="also time FactorVAE, MIG, SAP")
    args = parser.parse_args()

    ground_truth = GroundTruth(SHAPES3D_SIZES)
    points = {"num_train": args.num_train, "num_test": args.num_test}
    print(f"DCI on a Shapes3D-sized grid, {args.num_train} train / {args.num_test} test points, "
          f"seed {args.seed}")
    columns = "  ".join(f"{n[:15]:>15s} exact/fast/diff" for n in DCI_NUMBERS)
    print(f"{'representation':16s} {'exact s':>8s} {'fast s':>7s} {'speed-up':>8s}  {columns}")
    for name, codes in representations(ground_truth).items():
        if args.only and name not in args.only:
            continue
        rep = lambda rows, codes=codes: codes[rows]
        exact, t_exact = timed(dci, ground_truth, rep, np.random.RandomState(args.seed), **points)
        fast, t_fast = timed(dci, ground_truth, rep, np.random.RandomState(args.seed), **points,
                             mode="fast")
        cells = "  ".join(
            f"{exact[n]:.4f} / {fast[n]:.4f} / {fast[n] - exact[n]:+.4f}" for n in DCI_NUMBERS
        )
        speed_up = t_exact / t_fast
        print(f"{name:16s} {t_exact:8.1f} {t_fast:7.1f} {speed_up:7.1f}x  {cells}", flush=True)

    if args.others:
        codes = representations(ground_truth)["identity+noise"]
        rep = lambda rows: codes[rows]
        for label, fn in (("factorvae", factor_vae_score), ("mig", mig), ("sap", sap)):
            result, seconds = timed(fn, ground_truth, rep, np.random.RandomState(args.seed))
            numbers = ", ".join(f"{k}={v:.4f}" for k, v in result.items())
            print(f"{label:10s} study settings: {seconds:6.1f} s  ({numbers})", flush=True)


if __name__ == "__main__":
    main()
