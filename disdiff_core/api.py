"""The public Python API: what the ``disdiff`` commands do, as plain function calls.

    from disdiff_core import api
    api.pipeline(["tiny/backbone", "tiny/disdiff"])    # runs/tiny-backbone, runs/tiny-disdiff
    result = api.evaluate_run("runs/tiny-disdiff")     # EvalResult: metrics[name][number].mean
    api.draw_figure("runs/tiny-disdiff", "swap", data="data/tiny/toy-shapes-16", out="swap.png")
    runs = api.import_checkpoint("model.ckpt", "imported", config="config.yaml")
    model = api.load_disdiff(runs["disdiff"])          # trained weights, eval mode
    z = api.encode_images(model, images)               # uint8 (B, H, W, C) → (B, N, D)

Every function takes plain arguments (paths, arrays, names) and reports progress through an
optional callback taking one line of text; errors in the input are
:class:`~disdiff_core.errors.DisdiffError` with a message that names the file or key.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from disdiff_core import registry
from disdiff_core.app.data import prepare_dataset
from disdiff_core.app.encoding import encode
from disdiff_core.app.evaluation import evaluate_codes, evaluate_run
from disdiff_core.app.figures import draw_figure
from disdiff_core.app.quickstart import QuickstartResult, quickstart
from disdiff_core.app.results import (
    EncodeResult,
    EvalResult,
    Figure,
    FigureMode,
    LoadedRun,
    MetricSummary,
    TrainResult,
)
from disdiff_core.app.runs import load_run
from disdiff_core.app.training import pipeline, train
from disdiff_core.loading import encode_images, encode_store, load_disdiff

__all__ = [
    "EncodeResult", "EvalResult", "Figure", "FigureMode", "LoadedRun", "MetricSummary",
    "QuickstartResult", "TrainResult", "draw_figure", "encode", "encode_images", "encode_store",
    "evaluate_codes", "evaluate_run", "import_checkpoint", "load_disdiff", "load_run",
    "pipeline", "prepare_dataset", "quickstart", "train",
]

#: Store named by imported runs until a command is given another with ``--data``.
DEFAULT_IMPORT_STORE = "data/imported.zarr"


def import_checkpoint(
    checkpoint: str | Path,
    out: str | Path,
    *,
    importer: str = "reference",
    config: str | Path | None = None,
    data_store: str = DEFAULT_IMPORT_STORE,
    params: dict[str, Any] | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Path]:
    """Turn another codebase's checkpoint into disdiff runs under ``out``.

    ``importer`` names an importer plugin (``disdiff plugins list --kind importer``; the
    built-in ``reference`` reads the DisDiff reference code's checkpoints with their config);
    ``params`` are its options. Returns ``{stage: run folder}`` for the runs written
    (``first_stage``, ``backbone``, ``disdiff``: what the checkpoint holds)."""
    built = registry.build("importer", importer, params or {})
    return built.import_checkpoint(
        Path(checkpoint), Path(out), config=Path(config) if config is not None else None,
        data_store=data_store, progress=progress or (lambda line: None))
