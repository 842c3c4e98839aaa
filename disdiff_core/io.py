"""Atomic writes: a failed or interrupted write never leaves a half-written file or folder
under the final name (write to a temporary sibling, flush it to disk, then rename), even when
the process is killed (SIGKILL) or the machine goes down."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def atomic_path(final: str | Path, *, directory: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling path of ``final``; on success flush what was written there
    to disk and rename it to ``final`` (replacing an existing file or folder), on failure
    delete it and re-raise."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    target = tmp if directory else tmp / final.name
    try:
        yield target
        _fsync_tree(target)
        if final.is_dir() and not final.is_symlink():
            shutil.rmtree(final)
        os.replace(target, final)
        _fsync(final.parent)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _fsync(path: Path) -> None:
    """Flush a file's data, or a folder's entries, to disk (a no-op where folders cannot be
    opened, as on Windows)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except (IsADirectoryError, PermissionError):
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(path: Path) -> None:
    """Flush a file, or every file and folder under a folder, before it is renamed into place:
    a rename can reach the disk before the data it names."""
    if path.is_dir():
        for child in path.rglob("*"):
            _fsync(child)
    _fsync(path)


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json_atomic(path: str | Path, data: Any) -> None:
    """Write ``data`` as indented JSON to ``path`` atomically."""
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


def unused_path(folder: Path, stem: str, suffix: str) -> Path:
    """``folder/stem+suffix``, or ``stem-2``, ``stem-3`` … when taken: a new result never
    replaces an earlier one (two evaluations of the same checkpoint keep both)."""
    candidate, number = folder / f"{stem}{suffix}", 1
    while candidate.exists():
        number += 1
        candidate = folder / f"{stem}-{number}{suffix}"
    return candidate
