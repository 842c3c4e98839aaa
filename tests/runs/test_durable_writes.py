"""A checkpoint reaches its final name only complete and on disk: every file is flushed
(fsync) under the temporary name before the folder is renamed, and ``latest`` is replaced
after it, so SIGKILL or a crash at any moment leaves either the old state or the new one."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import torch

from disdiff_core.engine.checkpoint import write_checkpoint


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/fd")
def test_checkpoint_files_are_flushed_before_the_renames(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    events: list[tuple[str, str]] = []
    fsync, replace = os.fsync, os.replace

    def recording_fsync(fd: int) -> None:
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        fsync(fd)

    def recording_replace(source: str | Path, target: str | Path) -> None:
        events.append(("replace", str(target)))
        replace(source, target)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    monkeypatch.setattr(os, "replace", recording_replace)
    final = write_checkpoint(tmp_path, 5, model={"w": torch.ones(3)}, ema={"w": torch.ones(3)},
                             state={"step": 5, "moments": torch.zeros(2)}, keep=2)
    renames = [target for kind, target in events if kind == "replace"]
    assert renames == [str(final), str(tmp_path / "latest")]
    folder_renamed = events.index(("replace", str(final)))
    flushed = {Path(path).name for kind, path in events[:folder_renamed] if kind == "fsync"}
    assert {path.name for path in final.iterdir()} <= flushed
    assert ("fsync", str(tmp_path)) in events[folder_renamed:]  # the renames themselves
