"""The demonstration script (experiments/toy_disentanglement.py) end to end on a minimal budget:
it trains, scores every condition and writes its table (slow: exact metrics for 4 conditions)."""

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
         "--backbone-steps", "4", "--steps", "2", "--doc", str(doc)],
        check=False, capture_output=True, text=True, timeout=900,
        env={**os.environ, "OMP_NUM_THREADS": "1"}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    text = doc.read_text()
    for label in ("DisDiff (λ = 0.05, faithful)", "w normalised", "λ = 0 (PDAE-style)",
                  "untrained encoder"):
        assert label in text
    results = json.loads((tmp_path / "work" / "results.json").read_text())
    assert set(results["results"]) == {"disdiff", "disdiff-wnorm", "lambda0", "untrained"}
    assert 0.0 <= results["results"]["lambda0"]["0"]["dci/disentanglement"] <= 1.0
