"""One training process per run folder: ``RUN/train.lock`` names the process that trains it.

Two processes training into the same folder would interleave checkpoints and metrics, so the
second one stops at once, naming the holder. The lock file holds JSON (pid, host, start time)
and appears with its content in one step (written under a temporary name, then hard-linked to
``train.lock``, which fails when it exists), so a reader never sees it half-written. It is
removed on exit, also on an error. A process killed with SIGKILL cannot remove it: a lock whose
holder ran on this host and is no longer alive is stale, and the next process takes it over
(with a note). A lock from another host cannot be checked and is never taken over.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from disdiff_core.errors import RunError

LOCK_FILE = "train.lock"
#: Attempts to take a lock that keeps changing hands (stale locks removed by racing processes).
_ATTEMPTS = 5


class RunLockedError(RunError):
    """Another live process trains this run."""


def _holder(path: Path) -> dict[str, Any] | None:
    """The lock file's content, or None when it vanished or is unreadable."""
    try:
        holder = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return holder if isinstance(holder, dict) else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


def _is_stale(holder: dict[str, Any]) -> bool:
    pid = holder.get("pid")
    return (holder.get("host") == socket.gethostname() and isinstance(pid, int)
            and not _alive(pid))


def _describe(holder: dict[str, Any] | None) -> str:
    if holder is None:
        return "a process whose lock file cannot be read"
    return (f"process {holder.get('pid')} on host {holder.get('host')} "
            f"(since {holder.get('started')})")


def _try_create(path: Path, content: str) -> bool:
    """Create ``path`` holding ``content`` in one step; False when it exists."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(content, encoding="utf-8")
    try:
        os.link(tmp, path)
    except FileExistsError:
        return False
    finally:
        tmp.unlink()
    return True


def _remove_stale(path: Path, holder: dict[str, Any]) -> None:
    """Remove the stale lock ``holder`` read, unless another process replaced it meanwhile:
    it is moved aside first, and put back when what was moved is not what was read."""
    aside = path.with_name(f".{path.name}.stale.{os.getpid()}")
    try:
        os.rename(path, aside)
    except FileNotFoundError:
        return
    if _holder(aside) != holder:
        with contextlib.suppress(FileExistsError):
            os.link(aside, path)
    aside.unlink()


@contextlib.contextmanager
def run_lock(run_dir: str | Path, note: Callable[[str], None] = print) -> Iterator[Path]:
    """Hold ``run_dir/train.lock`` (the folder is created) for the ``with`` block.

    Raises :class:`RunLockedError` naming the holder when a live process holds it; ``note``
    tells when a stale lock of a dead process was taken over.
    """
    path = Path(run_dir) / LOCK_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    mine = {"pid": os.getpid(), "host": socket.gethostname(),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    for _ in range(_ATTEMPTS):
        if _try_create(path, json.dumps(mine) + "\n"):
            break
        holder = _holder(path)
        if holder is None or not _is_stale(holder):
            if holder is None and not path.exists():
                continue  # released meanwhile
            raise RunLockedError(
                f"{run_dir} is being trained by {_describe(holder)}; wait for it to end, or "
                f"delete {path} if no such process is running")
        note(f"took over the stale lock {path} of {_describe(holder)}, which is not running")
        _remove_stale(path, holder)
    else:
        raise RunLockedError(f"could not take the lock {path}: other processes keep taking it")
    try:
        yield path
    finally:
        if _holder(path) == mine:
            path.unlink()
