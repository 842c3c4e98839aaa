"""Opening a finished DisDiff run for use: what encoding, evaluating and drawing all start from."""

from __future__ import annotations

from pathlib import Path

from disdiff_core.app.results import LoadedRun
from disdiff_core.loading import load_disdiff, read_run_recipe, resolve_device
from disdiff_core.runs import RUN_FILE, Run


def load_run(run_dir: str | Path, *, device: str | None = None) -> LoadedRun:
    """The run's resolved recipe, last step and model (trained weights, eval mode, on
    ``device``; default CUDA when available). An imported run without ``run.json`` is at step 0.

    Raises:
        RunError: not a disdiff run, or its weights are missing.
        DisdiffError: ``device`` is not a device this machine has.
    """
    run_dir = Path(run_dir)
    chosen = resolve_device(device)  # a bad --device is reported before any loading
    recipe = read_run_recipe(run_dir)
    step = Run.open(run_dir).step if (run_dir / RUN_FILE).is_file() else 0
    return LoadedRun(path=run_dir, recipe=recipe, step=step, model=load_disdiff(run_dir, chosen))
