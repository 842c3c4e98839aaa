"""The demonstration script (experiments/toy_disentanglement.py) end to end on a minimal budget:
it trains (a chain of warm starts: λ = 0, the field first with the encoder frozen, then the
encoder with Ē a moving average), scores every condition with the accuracy probe, and writes
its tables and curves (slow: exact metrics for 2 conditions)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "experiments" / "toy_disentanglement.py"


@pytest.mark.slow
def test_study_writes_its_table(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--work", str(tmp_path / "work"), "--seeds", "0",
         "--backbone-steps", "4", "--steps", "2", "--doc", str(doc),
         "--conditions", "fieldfirst-band-mid-emaenc", "untrained"],
        check=False, capture_output=True, text=True, timeout=900,
        env={**os.environ, "OMP_NUM_THREADS": "1"}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    text = doc.read_text()
    for label in ("after the field-first run", "untrained encoder", "t in fifth 4"):
        assert label in text
    assert (tmp_path / "doc-curves.png").read_bytes()[:4] == b"\x89PNG"
    results = json.loads((tmp_path / "work" / "results.json").read_text())
    assert set(results["results"]) == {"fieldfirst-band-mid-emaenc", "untrained"}
    warm = results["results"]["fieldfirst-band-mid-emaenc"]["0"]
    assert 0.0 <= warm["dci/disentanglement"] <= 1.0 and 0.0 <= warm["probe/acc_invariant"] <= 1.0
    # the chain trained the runs it starts from first
    for source in ("lambda0-seed0", "disdiff-warm-band-mid-l1-frozenenc-seed0"):
        assert (tmp_path / "work" / "runs" / source / "weights").is_dir()
