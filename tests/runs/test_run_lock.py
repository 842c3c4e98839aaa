"""One training process per run folder: a second `disdiff train` on a folder that a live process
holds stops at once naming the holder; a lock left by a killed process is taken over with a
note; the lock is released on exit, also on an error."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from tiny_runs import ENV, train_command

from disdiff_core.engine.run_lock import LOCK_FILE, RunLockedError, run_lock

HOLD = ("import sys, time\n"
        "from disdiff_core.engine.run_lock import run_lock\n"
        "with run_lock(sys.argv[1]):\n"
        "    print('held', flush=True)\n"
        "    time.sleep(120)\n")


def dead_pid() -> int:
    """The pid of a process that has ended."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def write_lock(run_dir: Path, pid: int, host: str) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    holder = {"pid": pid, "host": host, "started": "2024-01-01T00:00:00+0000"}
    (run_dir / LOCK_FILE).write_text(json.dumps(holder))


def test_second_training_of_a_held_run_stops_at_once(tmp_path: Path, toy_store: Path) -> None:
    run_dir = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(run_dir)], env=ENV,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        second = subprocess.run(train_command(run_dir, toy_store, resume=True), env=ENV,
                                check=False, capture_output=True, text=True, timeout=120)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert second.returncode == 1
    assert f"process {holder.pid} on host {socket.gethostname()}" in second.stderr
    assert "Traceback" not in second.stderr + second.stdout
    assert not (run_dir / "run.json").exists()  # it stopped before touching the folder


def test_live_holder_refuses_and_released_on_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError), run_lock(tmp_path):
        assert json.loads((tmp_path / LOCK_FILE).read_text())["pid"] == os.getpid()
        with (pytest.raises(RunLockedError, match=f"process {os.getpid()} on host"),
              run_lock(tmp_path)):
            pass
        raise ValueError("training failed")
    assert not (tmp_path / LOCK_FILE).exists()


def test_stale_lock_is_taken_over_with_a_note(tmp_path: Path) -> None:
    pid = dead_pid()
    write_lock(tmp_path, pid, socket.gethostname())
    notes: list[str] = []
    with run_lock(tmp_path, note=notes.append):
        assert json.loads((tmp_path / LOCK_FILE).read_text())["pid"] == os.getpid()
    assert len(notes) == 1 and f"process {pid}" in notes[0] and "not running" in notes[0]
    assert not list(tmp_path.iterdir())


def test_lock_of_another_host_is_never_taken_over(tmp_path: Path) -> None:
    write_lock(tmp_path, dead_pid(), "another-host")
    with pytest.raises(RunLockedError, match="on host another-host"), run_lock(tmp_path):
        pass
    assert (tmp_path / LOCK_FILE).exists()
