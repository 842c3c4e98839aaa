"""A new run that starts where another run's checkpoint left off (``--continue-from``).

Training a finished run for more steps in its own folder would overwrite the shorter run and
leave a recipe on disk that no longer says what was trained. A continuation is a NEW run folder
with its own recipe (typically the same one with more ``train.steps``) whose training starts
from a checkpoint of another run: weights, EMA, optimiser moments, step, random streams and
data position, as ``--resume`` restores them. With the learning rate constant after its
warm-up (the trainer's only schedule), the continued run equals one trained straight to its
final step, bit for bit; the source run is only read.

The new run gets the source's ``metrics.jsonl`` up to the checkpoint's step (so its curves
start at step 0) and records the checkpoint in ``run.json`` (``continued_from``); a stage that
measures and exports a part at its start (the backbone stage's first-stage scale factor)
reloads the source's copy, as a resumed run reloads its own.
"""

from __future__ import annotations

import json
from pathlib import Path

from disdiff_core.engine.checkpoint import STATE_FILE, latest_checkpoint, read_state_tree
from disdiff_core.errors import RunError
from disdiff_core.io import write_text_atomic
from disdiff_core.runs import RUN_FILE, Run

#: The ``run.json`` field naming the checkpoint a continued run started from.
CONTINUED_FROM = "continued_from"


def source_checkpoint(source: str | Path, stage: str) -> Path:
    """The checkpoint folder ``source`` means: a run folder (its latest checkpoint) or one
    checkpoint folder of a run (``RUN/checkpoints/step-0004000``), of a ``stage`` run. Checked
    before the new run is created, so a wrong source leaves nothing behind."""
    source = Path(source)
    if (source / RUN_FILE).is_file():
        checkpoint = latest_checkpoint(Run.open(source).checkpoints_dir)
        if checkpoint is None:
            raise RunError(f"{source} has no checkpoint to continue from")
    elif (source / STATE_FILE).is_file() and (source.parent.parent / RUN_FILE).is_file():
        checkpoint = source
    else:
        raise RunError(f"{source} is neither a run folder nor a checkpoint folder of one "
                       f"(RUN/checkpoints/step-N)")
    found = source_run(checkpoint).stage
    if found != stage:
        raise RunError(f"{checkpoint} is a checkpoint of a {found!r} run; it cannot start a "
                       f"{stage!r} run")
    return checkpoint


def source_run(checkpoint: Path) -> Run:
    """The run a checkpoint folder belongs to (``RUN/checkpoints/step-N``)."""
    return Run.open(checkpoint.parent.parent)


def start_continuation(run: Run, checkpoint: Path) -> None:
    """Make the fresh ``run`` a continuation of ``checkpoint``: copy the source's metric lines
    up to the checkpoint's step and record where it started."""
    step = int(read_state_tree(checkpoint)["step"])
    history = [record for record in source_run(checkpoint).read_metrics()
               if isinstance(record.get("step"), int) and record["step"] <= step]
    write_text_atomic(run.metrics_path, "".join(json.dumps(record) + "\n" for record in history))
    run.update(**{CONTINUED_FROM: str(checkpoint.resolve())})


def restart_point(run: Run) -> Path | None:
    """Where a resumed run restarts when it has no checkpoint of its own yet: the checkpoint
    it continued from, if any (None: step 0)."""
    recorded = run.info.get(CONTINUED_FROM)
    if recorded is None or latest_checkpoint(run.checkpoints_dir) is not None:
        return None
    return Path(recorded)
