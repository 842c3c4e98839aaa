"""A resumed run's metrics.jsonl: the lines a killed process wrote after the checkpoint the run
resumes from are dropped (the run logs those steps again), and so is a torn last line."""

from __future__ import annotations

import json
from pathlib import Path

from disdiff_core.engine.loggers import JsonlLogger
from disdiff_core.runs import Run


def test_lines_after_the_resumed_step_and_a_torn_line_are_dropped(tmp_path: Path) -> None:
    run = Run.create(tmp_path / "run", stage="backbone", recipe_yaml="stage: backbone\n")
    for step in (2, 4, 6):
        run.log_metrics(step, {"loss": 1.0 / step})
    with run.metrics_path.open("a", encoding="utf-8") as log:
        log.write('{"step": 8, "lo')  # killed mid-line
    logger = JsonlLogger(run, start_step=4)
    logger.log_scalars(6, {"loss": 0.5})
    assert [(r["step"], r["loss"]) for r in run.read_metrics()] == [(2, 0.5), (4, 0.25), (6, 0.5)]
    lines = run.metrics_path.read_text(encoding="utf-8").splitlines()
    assert all(json.loads(line) for line in lines) and len(lines) == 3


def test_an_intact_log_is_left_as_it_is(tmp_path: Path) -> None:
    run = Run.create(tmp_path / "run", stage="backbone", recipe_yaml="stage: backbone\n")
    run.log_metrics(2, {"loss": 0.5})
    before = run.metrics_path.stat().st_mtime_ns, run.metrics_path.read_bytes()
    JsonlLogger(run, start_step=2)
    assert (run.metrics_path.stat().st_mtime_ns, run.metrics_path.read_bytes()) == before
