"""Tiny runs (``tiny/backbone`` and ``tiny/disdiff`` shrunk with ``--set``: a few seconds each)
trained in this process or by a real ``disdiff train`` process, and their final states compared
byte for byte."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from disdiff_cli.app import app
from disdiff_core.engine.checkpoint import latest_checkpoint
from disdiff_core.runs import Run

BACKBONE = "tiny/backbone"
DISDIFF = "tiny/disdiff"
_TRAIN = {"train.batch_size": 4, "train.log_every": 2, "train.warmup_steps": 3}
#: What makes each recipe tiny. Backbone: a UNet of a few thousand weights and a 2-step
#: sampler for the final grid; DisDiff (over such a backbone run): a narrow encoder.
TINY: dict[str, dict[str, object]] = {
    BACKBONE: {
        **_TRAIN, "backbone.params.base_channels": 8, "backbone.params.channel_mult": "[1]",
        "backbone.params.attention_resolutions": "[]", "backbone.params.norm_groups": 4,
        "backbone.params.num_heads": 1, "sample.sampler.params.steps": 2,
        "sample.num_images": 1,
    },
    DISDIFF: {**_TRAIN, "encoder.params.channels": 8},
}
#: The straight backbone run the resume and continuation tests compare against: 20 steps, a
#: checkpoint every 5 (the ``straight_run`` fixture).
STEPS = {"train__steps": 20, "train__checkpoint_every": 5}
#: The straight run's twin, finished at half its steps (the ``short_run`` fixture).
SHORT = {**STEPS, "train__steps": 10}
#: Training processes use one intra-op thread, as :func:`train_here` does.
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def overrides(store: Path, recipe: str = BACKBONE, **settings: object) -> list[str]:
    """``dotted.key=value`` overrides of a tiny run of ``recipe`` reading ``store``
    (``settings`` use ``__`` for dots: ``train__steps=20``)."""
    values = {**TINY[recipe], "data.store": store,
              **{key.replace("__", "."): value for key, value in settings.items()}}
    return [f"{key}={'null' if value is None else value}" for key, value in values.items()]


def train_here(out: Path, store: Path, recipe: str = BACKBONE, *, resume: bool = False,
               continue_from: Path | None = None, **settings: object) -> str:
    """Train a tiny run in this process, on one thread as the training processes do (CPU
    results depend on the thread count), resumed or continued from another run as asked;
    returns what it printed."""
    from disdiff_core.recipes import load_recipe
    from disdiff_core.stages.runner import train_recipe

    printed = io.StringIO()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train_recipe(load_recipe(recipe, overrides(store, recipe, **settings)), out, resume=resume,
                     continue_from=continue_from, echo=lambda line: print(line, file=printed),
                     stream=printed)
    finally:
        torch.set_num_threads(threads)
    return printed.getvalue()


def train_command(out: Path, store: Path, *, resume: bool = False, **settings: object
                  ) -> list[str]:
    """The ``disdiff train`` command line of a tiny backbone run."""
    sets = [arg for value in overrides(store, **settings) for arg in ("--set", value)]
    return [sys.executable, "-m", "disdiff_cli", "train", BACKBONE, "--out", str(out), *sets,
            *(["--resume"] if resume else [])]


def start_training(out: Path, store: Path, *, resume: bool = False, **settings: object
                   ) -> subprocess.Popen[str]:
    """A ``disdiff train`` process of a tiny run, its output (merged) in a pipe."""
    return subprocess.Popen(train_command(out, store, resume=resume, **settings), env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def final_state(run_dir: Path) -> dict[str, bytes]:
    """The raw bytes of every tensor of the run's latest checkpoint (weights, EMA, optimiser
    moments, RNG states) and of its exported weights, by file and name, and the checkpoint's
    JSON state (step, counters, data position). Safetensors headers are left out: they list
    the metadata in an order that changes from process to process."""
    checkpoint = latest_checkpoint(run_dir / "checkpoints")
    assert checkpoint is not None, f"{run_dir} has no checkpoint"
    files = [*sorted(checkpoint.glob("*.safetensors")), *sorted((run_dir / "weights").iterdir())]
    state = {f"{path.parent.name}/{path.name}/{name}": tensor.contiguous().view(-1)
             .view(torch.uint8).numpy().tobytes()
             for path in files for name, tensor in load_file(path).items()}
    state["state.json"] = (checkpoint / "state.json").read_bytes()
    return state


def assert_same_state(actual: dict[str, bytes], expected: dict[str, bytes]) -> None:
    assert sorted(actual) == sorted(expected)
    differing = [name for name in expected if actual[name] != expected[name]]
    assert not differing, f"{len(differing)} of {len(expected)} entries differ: {differing[:5]}"


def wait_until(ready: Callable[[], bool], process: subprocess.Popen[str], timeout: float = 120
               ) -> bool:
    """Poll ``ready`` until it holds (True) or ``process`` ended first (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return True
        if process.poll() is not None:
            return False
        time.sleep(0.02)
    raise TimeoutError(f"waited {timeout} s for a training process")


def logged_step(run_dir: Path) -> int:
    """The last step in the run's metrics.jsonl (0 when there is none yet)."""
    return max((record["step"] for record in Run(run_dir).read_metrics()), default=0)


def kill(process: subprocess.Popen[str]) -> str:
    """SIGKILL the process; returns what it printed."""
    process.send_signal(signal.SIGKILL)
    output, _ = process.communicate()
    return output


def train_to_end(out: Path, store: Path, **settings: object) -> str:
    """Resume the run in a ``disdiff train --resume`` process until it finishes; returns its
    output."""
    done = subprocess.run(train_command(out, store, resume=True, **settings), env=ENV,
                          check=False, capture_output=True, text=True, timeout=300)
    output = done.stdout + done.stderr
    assert done.returncode == 0 and "Traceback" not in output, output
    return output


def cli_train(out: Path, store: Path, *extra: str) -> tuple[int, str]:
    """``disdiff train`` of the tiny backbone (20 steps) in this process, on one thread as
    :func:`train_here` trains; returns the exit code and the output, unwrapped."""
    sets = [arg for value in overrides(store, **STEPS) for arg in ("--set", value)]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        result = CliRunner().invoke(app, ["train", "tiny/backbone", "--out", str(out), *sets,
                                          *extra])
    finally:
        torch.set_num_threads(threads)
    return result.exit_code, " ".join(result.output.split())
