"""The Fréchet distance's two matrix roots (``sqrtm``, pytorch-fid's, and ``eigh``, the symmetric
eigenvalue form) on Inception-sized covariances: time of each and how far their distances differ.

The statistics are those of random features (X.T @ X / n of n Gaussian rows with per-column
scales, fixed seed), full rank at the default n = 4096 > d = 2048; ``--rank`` makes the first
covariance rank-deficient instead. The two roots run in the same process, alternated when
``--repeats`` > 1; the best time of each is printed.

Run: ``OMP_NUM_THREADS=1 python bench/bench_frechet.py`` (about a minute on one thread; pass
``--dim 512`` for a quick look). Timings are wall-clock on this machine.
"""

from __future__ import annotations

import argparse

import numpy as np
from bench_metrics import timed

from disdiff_plugins.metrics.frechet import frechet_distance

ROOTS = ("sqrtm", "eigh")


def statistics(rng: np.random.RandomState, dim: int, num: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and X.T @ X / n covariance of ``num`` random ``dim``-d features."""
    features = rng.randn(num, dim) * rng.uniform(0.5, 2.0, dim)
    return features.mean(axis=0), features.T @ features / num


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dim", type=int, default=2048)
    parser.add_argument("--num-features", type=int, default=4096)
    parser.add_argument("--rank", type=int, help="features behind the first covariance")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    rng = np.random.RandomState(args.seed)
    mu1, sigma1 = statistics(rng, args.dim, args.rank or args.num_features)
    mu2, sigma2 = statistics(rng, args.dim, args.num_features)
    distance, seconds = {}, {root: [] for root in ROOTS}
    for _ in range(args.repeats):
        for root in ROOTS:
            distance[root], took = timed(frechet_distance, mu1, sigma1, mu2, sigma2,
                                         matrix_root=root)
            seconds[root].append(took)
    print(f"Frechet distance, d = {args.dim}, covariances from {args.rank or args.num_features} "
          f"and {args.num_features} features, seed {args.seed}, best of {args.repeats}")
    for root in ROOTS:
        print(f"{root:6s} {min(seconds[root]):8.2f} s  distance {distance[root]:.10f}")
    ratio = min(seconds["sqrtm"]) / min(seconds["eigh"])
    print(f"sqrtm / eigh time: {ratio:.2f}x; |sqrtm - eigh| = "
          f"{abs(distance['sqrtm'] - distance['eigh']):.3e}")


if __name__ == "__main__":
    main()
