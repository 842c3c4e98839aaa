"""The optional TensorBoard logger: the event file, read back with TensorBoard's own reader,
holds the scalars of metrics.jsonl and the run's sample grids as images; a missing package
is a clear recipe error naming the extra."""

from __future__ import annotations

import importlib.util
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from tiny_runs import BACKBONE, overrides, train_here

from disdiff_core.errors import RecipeError
from disdiff_core.recipes import load_recipe
from disdiff_core.runs import Run

LOGGERS = "[jsonl, tensorboard]"


def test_tensorboard_events_hold_the_metrics_and_sample_grids(tmp_path: Path,
                                                              toy_store: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "run"
    train_here(out, toy_store, train__steps=4, train__sample_every=2, train__loggers=LOGGERS)
    events = EventAccumulator(str(out / "tensorboard"), size_guidance={"scalars": 0, "images": 0})
    events.Reload()
    records = Run(out).read_metrics()
    logged = {name for record in records for name in record} - {"step", "time"}
    assert logged and set(events.Tags()["scalars"]) == logged
    for name in logged:
        expected = [(r["step"], np.float32(r[name])) for r in records if name in r]
        assert [(e.step, np.float32(e.value)) for e in events.Scalars(name)] == expected
    grids = events.Images("images/samples")
    assert [grid.step for grid in grids] == [2, 4]
    with Image.open(out / "images" / "samples-step4.png") as written:
        shown = Image.open(io.BytesIO(grids[-1].encoded_image_string))
        assert np.array_equal(np.asarray(shown.convert("RGB")), np.asarray(written.convert("RGB")))


def test_missing_tensorboard_is_a_recipe_error_naming_the_extra(
        monkeypatch: pytest.MonkeyPatch, toy_store: Path) -> None:
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *args: None if name == "tensorboard" else find_spec(name, *args))
    with pytest.raises(RecipeError, match=r"disdiff\[tensorboard\]"):
        load_recipe(BACKBONE, overrides(toy_store, train__loggers=LOGGERS))


def test_metrics_jsonl_cannot_be_turned_off(toy_store: Path) -> None:
    with pytest.raises(RecipeError, match="must include jsonl"):
        load_recipe(BACKBONE, overrides(toy_store, train__loggers="[tensorboard]"))
