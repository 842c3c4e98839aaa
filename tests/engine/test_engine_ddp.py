"""DDP on two CPU processes (gloo): ranks end identical and equal to one process on the
concatenated batches; only rank 0 writes run files."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
from pathlib import Path

import torch
from ddp_worker import SETTINGS
from engine_toys import RegressionBatches, make_model, make_run, make_step_fn
from safetensors.torch import load_file

from disdiff_core.engine.config import TrainConfig
from disdiff_core.engine.trainer import Trainer
from disdiff_core.runs import Run

WORKER = Path(__file__).with_name("ddp_worker.py")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def launch_like_torchrun(world_size: int, out: Path) -> None:
    """Start the ranks with the variables torchrun sets (without its launcher process, whose
    own torch import would double the test's start-up time on a small machine)."""
    shared = {**os.environ, "OMP_NUM_THREADS": "1", "WORLD_SIZE": str(world_size),
              "LOCAL_WORLD_SIZE": str(world_size), "MASTER_ADDR": "127.0.0.1",
              "MASTER_PORT": str(free_port())}
    ranks = [subprocess.Popen([sys.executable, str(WORKER), str(out)],
                              env={**shared, "RANK": str(rank), "LOCAL_RANK": str(rank)},
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for rank in range(world_size)]
    outputs = [rank.communicate(timeout=120)[0] for rank in ranks]
    for rank, output in zip(ranks, outputs, strict=True):
        assert rank.returncode == 0, output[-4000:]


def test_two_gloo_ranks_match_a_single_process_on_the_whole_batch(tmp_path: Path) -> None:
    launch_like_torchrun(2, tmp_path)

    rank0, rank1 = (load_file(str(tmp_path / f"rank{r}.safetensors")) for r in (0, 1))
    for name in rank0:
        assert torch.equal(rank0[name], rank1[name]), name

    config = TrainConfig(**SETTINGS)
    model = make_model(seed=100)  # rank 0's initial weights, which DDP broadcasts
    data = RegressionBatches(config.batch_size, parts=config.grad_accum,
                             my_parts=range(config.grad_accum))
    single = Trainer(model, make_step_fn(model), data, config, make_run(tmp_path / "single"),
                     stream=io.StringIO())
    single.fit()
    for name, tensor in single.module.state_dict().items():
        torch.testing.assert_close(rank0[name], tensor, rtol=1e-5, atol=1e-6)

    run = Run.open(tmp_path / "run")
    assert run.status == "finished" and run.step == 6
    assert [r["step"] for r in run.read_metrics()] == [2, 4, 6]  # rank 0 only, no duplicates
    ema = load_file(str(run.checkpoints_dir / "step-0000006" / "ema.safetensors"))
    for name, tensor in single.ema.shadow.items():
        torch.testing.assert_close(ema[name], tensor, rtol=1e-5, atol=1e-6)
    logged = run.read_metrics()[-1]["loss"]
    assert abs(logged - single.last_metrics["loss"]) < 1e-4 * max(1.0, abs(logged))
