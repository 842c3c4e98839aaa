"""Wall-clock timing shared by the benchmarks (run as ``python bench/<name>.py``, so this folder
is on the import path)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch


def timed(fn: Callable[[], object], repeats: int, device: torch.device, *,
          warmup: int = 1) -> float:
    """Median wall time of ``fn`` in milliseconds, after ``warmup`` untimed calls; CUDA work
    is synchronised before and after each call so queued kernels are counted."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)
