"""The step benchmark and the GPU correctness check still run (tiny configuration, CPU)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

import bench_step
import gpu_correctness


def test_one_tiny_step_and_a_one_step_swap_grid() -> None:
    numbers = bench_step.measure(
        bench_step.CONFIGS["tiny"], bench_step.Variant("batched", False, "fp32"), batch=2,
        steps=1, grid_steps=1, device=torch.device("cpu"),
    )
    assert numbers["images_per_s"] > 0 and numbers["peak_mib"] > 0
    assert numbers["gflop_per_step"] > 0 and "mfu" not in numbers  # no known peak on a CPU
    assert numbers["grid_images"] >= bench_step.GRID_IMAGES and numbers["grid_s"] > 0


def test_the_correctness_checks_cover_bf16_compile_and_fused_attention() -> None:
    assert any(c.bf16 and c.compiled and c.backends is None for c in gpu_correctness.CHECKS)
    assert any(c.backends == gpu_correctness.FUSED for c in gpu_correctness.CHECKS)


@pytest.mark.parametrize("script", [BENCH / "gpu_check.sh",
                                    BENCH.parent / "experiments" / "gpu_paper_protocol.sh"])
def test_the_gpu_scripts_parse(script: Path) -> None:
    subprocess.run(["bash", "-n", str(script)], check=True)


def test_the_correctness_floor_is_the_fp32_error_against_fp64() -> None:
    exact = gpu_correctness.Outcome(2.0, {"encoder": torch.tensor([1.0, 0.0], dtype=torch.float64)})
    rounded = gpu_correctness.Outcome(2.002, {"encoder": torch.tensor([1.0, 0.01])})
    errors = gpu_correctness.errors_against(rounded, exact)
    assert errors == pytest.approx({"loss": 1e-3, "grad encoder": 1e-2})
