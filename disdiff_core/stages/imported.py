"""Writing a finished run from components built elsewhere (an imported checkpoint).

The run is what ``disdiff train`` would have left at the end of training: the recipe resolved
against the installed plugins (so it is checked exactly like a hand-written one), the exported
weights of every component the stage produces, and ``run.json`` with status ``finished`` at the
checkpoint's step. Nothing half-written is left: the run folder must not exist yet, and a failure
while writing removes it again.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from disdiff_core.errors import RunError
from disdiff_core.recipes.compose import ComposedRecipe
from disdiff_core.recipes.resolve import resolve
from disdiff_core.runs import RUN_FILE, Run
from disdiff_core.stages.components import export_weights
from disdiff_core.stages.runner import open_run


def write_imported_run(
    out: Path,
    recipe: dict[str, Any],
    weights: Mapping[str, Any],
    *,
    step: int,
    source: str,
) -> Run:
    """Write run ``out`` from a recipe mapping and ``{component key: module}``.

    ``source`` (the imported file) is recorded in ``run.json`` as ``imported_from``."""
    if out.exists() and (out / RUN_FILE).exists():
        raise RunError(f"{out} already holds a run; choose another --out")
    resolved = resolve(ComposedRecipe(data=recipe, origins={}, path=None))
    run = open_run(resolved, out, resume=False)
    try:
        for key, module in weights.items():
            export_weights(module, run.path, key)
        run.update(status="finished", step=int(step), imported_from=source)
    except BaseException:
        shutil.rmtree(run.path, ignore_errors=True)
        raise
    return run
