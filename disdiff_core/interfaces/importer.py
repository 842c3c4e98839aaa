"""The importer interface: another codebase's checkpoint becomes ordinary disdiff run folders.

An importer reads a checkpoint (and, where the checkpoint alone does not say what it holds, the
configuration it was trained with), builds this toolkit's components from it and writes one
finished run per stage it finds, under one output folder: ``OUT/first_stage``, ``OUT/backbone``,
``OUT/disdiff``. The runs are like those ``disdiff train`` writes (a resolved recipe, exported
safetensors weights, ``run.json`` with status ``finished``), so every command works on them.
:func:`disdiff_core.stages.imported.write_imported_run` writes one.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path

from disdiff_core.plugin import Params

#: Receives one line per step of an import (what was read, which run was written).
Progress = Callable[[str], None]


class CheckpointImporter(ABC):
    """Base of every importer plugin: holds its validated parameters."""

    def __init__(self, params: Params) -> None:
        self.params = params

    @abstractmethod
    def import_checkpoint(
        self,
        checkpoint: Path,
        out: Path,
        *,
        config: Path | None,
        data_store: str,
        progress: Progress,
    ) -> dict[str, Path]:
        """Write the runs the checkpoint holds under ``out``; returns ``{stage: run folder}``.

        ``data_store`` is the dataset store the runs' recipes name (commands take ``--data``
        to use another). Unsafe or unreadable input raises a DisdiffError naming the file."""
