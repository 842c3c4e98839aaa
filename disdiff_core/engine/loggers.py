"""Where the trainer's numbers go (``train.loggers``): ``jsonl`` always, ``tensorboard`` on request.

``metrics.jsonl`` is the run's record (``disdiff runs report`` and ``runs show`` read it); the
TensorBoard logger streams the same scalars, and every PNG the run writes into ``RUN/images``
(sample and swap grids), to event files in ``RUN/tensorboard`` for watching a run live.

A resumed run repeats the steps between its checkpoint and the moment it stopped, so a logger
opened at step s first forgets what was logged after s: the JSON lines are dropped, and
TensorBoard is told to purge those events (its ``purge_step``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Protocol

from disdiff_core.io import write_text_atomic
from disdiff_core.runs import Run

#: The TensorBoard log folder inside a run.
TENSORBOARD_DIR = "tensorboard"
_STEP_SUFFIX = re.compile(r"-step\d+$")


class MetricsLogger(Protocol):
    """What the main process reports to."""

    def log_scalars(self, step: int, values: Mapping[str, float]) -> None:
        """Numbers of one step (loss terms, lr, hook results)."""

    def log_images(self, step: int) -> None:
        """Images the run wrote since the last call (after hooks ran)."""

    def close(self) -> None:
        """Flush and release files."""


class JsonlLogger:
    """One JSON line per logged step in ``RUN/metrics.jsonl``.

    Opening it also drops a torn last line (a process killed while appending), which the
    next line would otherwise be glued to."""

    def __init__(self, run: Run, start_step: int) -> None:
        self.run = run
        if not run.metrics_path.is_file():
            return
        kept = [record for record in run.read_metrics()
                if not (isinstance(record.get("step"), int) and record["step"] > start_step)]
        text = "".join(json.dumps(record) + "\n" for record in kept)
        if text != run.metrics_path.read_text(encoding="utf-8"):
            write_text_atomic(run.metrics_path, text)

    def log_scalars(self, step: int, values: Mapping[str, float]) -> None:
        self.run.log_metrics(step, values)

    def log_images(self, step: int) -> None:
        return None

    def close(self) -> None:
        return None


class TensorBoardLogger:
    """Scalars and the run's new PNG images as TensorBoard events in ``RUN/tensorboard``.

    An image's tag is its file name without the step (``samples-step200.png`` →
    ``images/samples``), so successive grids line up on TensorBoard's step slider.
    """

    def __init__(self, run: Run, start_step: int) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self._writer = SummaryWriter(str(run.path / TENSORBOARD_DIR), purge_step=start_step)
        self._images_dir = run.images_dir
        self._seen = set(self._pngs())

    def _pngs(self) -> list[Path]:
        return sorted(self._images_dir.glob("*.png")) if self._images_dir.is_dir() else []

    def log_scalars(self, step: int, values: Mapping[str, float]) -> None:
        for name, value in values.items():
            self._writer.add_scalar(name, value, step)
        self._writer.flush()

    def log_images(self, step: int) -> None:
        import numpy as np
        from PIL import Image

        new = [path for path in self._pngs() if path not in self._seen]
        for path in new:
            with Image.open(path) as image:
                pixels = np.asarray(image.convert("RGB"))
            tag = f"images/{_STEP_SUFFIX.sub('', path.stem)}"
            self._writer.add_image(tag, pixels, step, dataformats="HWC")
        self._seen.update(new)
        if new:
            self._writer.flush()

    def close(self) -> None:
        self._writer.close()


#: The logger of each ``train.loggers`` name.
LOGGERS: dict[str, Callable[[Run, int], MetricsLogger]] = {
    "jsonl": JsonlLogger,
    "tensorboard": TensorBoardLogger,
}


def open_loggers(names: Sequence[str], run: Run, start_step: int) -> list[MetricsLogger]:
    """The loggers ``names`` for ``run``, starting (or resuming) at ``start_step``."""
    return [LOGGERS[name](run, start_step) for name in names]
