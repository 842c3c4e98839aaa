"""Running ``disdiff`` in a subprocess for the stage tests (one torch thread, so CPU timings
stay stable on a busy machine)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def disdiff(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m disdiff_cli ARGS`` in ``cwd``; fail with its stderr when it fails."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-m", "disdiff_cli", *args], check=False,
                            cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def sets(overrides: list[str]) -> list[str]:
    """``--set`` options for each override."""
    return [arg for item in overrides for arg in ("--set", item)]
