"""Exact DCI on the full dSprites factor grid (3 × 6 × 40 × 32 × 32 = 737,280 codes): the
per-factor boosters fitted one after another (``n_jobs=1``) against in parallel processes (one
per core), with the numbers checked identical, and optionally where the serial run spends its
time.

    python bench/bench_dci.py [--num-train 10000] [--num-test 5000] [--jobs N] [--profile]

The codes are synthetic, so no dataset is needed: each factor standardised plus Gaussian noise
(σ = 0.3), and as many codes of pure noise (a 10-dimensional representation, as dlib's models
have). ``--profile`` runs the serial DCI once more under cProfile and prints the functions with
the most cumulative time.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import time

import numpy as np

from disdiff_core.data.ground_truth import GroundTruth
from disdiff_plugins.metrics.dci import dci

DSPRITES_SIZES = [3, 6, 40, 32, 32]


def codes_of(ground_truth: GroundTruth) -> np.ndarray:
    """(num_rows, 2·num_factors) synthetic codes of the grid (see the module docstring)."""
    rows = np.arange(ground_truth.num_rows)
    factors = np.stack(np.unravel_index(rows, ground_truth.factor_sizes), axis=1).astype(np.float32)
    factors = (factors - factors.mean(0)) / factors.std(0)
    num_factors = factors.shape[1]
    noise = np.random.RandomState(0).randn(len(rows), 2 * num_factors).astype(np.float32)
    return np.concatenate([factors + 0.3 * noise[:, :num_factors], noise[:, num_factors:]], axis=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-train", type=int, default=10000)
    parser.add_argument("--num-test", type=int, default=5000)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()

    ground_truth = GroundTruth(DSPRITES_SIZES)
    codes = codes_of(ground_truth)
    settings = {"num_train": args.num_train, "num_test": args.num_test}
    print(f"exact DCI, dSprites grid ({ground_truth.num_rows} codes, factors {DSPRITES_SIZES}), "
          f"{args.num_train} train / {args.num_test} test points, seed {args.seed}")
    results, seconds = {}, {}
    for jobs in (1, args.jobs):
        start = time.perf_counter()
        results[jobs] = dci(ground_truth, lambda rows: codes[rows],
                            np.random.RandomState(args.seed), n_jobs=jobs, **settings)
        seconds[jobs] = time.perf_counter() - start
        print(f"n_jobs={jobs}: {seconds[jobs]:.1f} s  {results[jobs]}", flush=True)
    same = results[1] == results[args.jobs]
    print(f"parallel / serial time: {seconds[args.jobs] / seconds[1]:.2f}; "
          f"numbers {'identical' if same else 'DIFFER'}")
    if args.profile:
        profiler = cProfile.Profile()
        profiler.runcall(dci, ground_truth, lambda rows: codes[rows],
                         np.random.RandomState(args.seed), n_jobs=1, **settings)
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(14)


if __name__ == "__main__":
    main()
