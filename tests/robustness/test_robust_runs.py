"""Property tests of the run folder readers: a finished DisDiff run damaged in any way
(``run.json``, ``recipe.yaml``, ``metrics.jsonl`` or a weights file deleted, cut, overwritten or
holding values of the wrong type or shape) is listed, shown and loaded as a model that encodes,
or refused with a DisdiffError with a message: ``runs list`` and ``runs show`` exit 0 or 1."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml
from hypothesis import event, example, given, settings
from hypothesis import strategies as st
from robust_fixtures import BOUNDED, json_values, put_value, result_or_user_error
from safetensors.torch import save_file
from typer.testing import CliRunner

from disdiff_cli.app import app
from disdiff_core.loading import encode_images, load_disdiff
from disdiff_core.runs import Run
from tools.tool_runs import IMAGE, build_disdiff_run, build_toy_store

FILES = ["run.json", "recipe.yaml", "metrics.jsonl", "weights/encoder.safetensors",
         "weights/field.safetensors"]
RECIPE_KEYS = ["stage", "encoder", "field", "backbone", "first_stage", "plugin", "params",
               "from_run", "checkpoint", "num_factors", "factor_dim", "image_size", "losses", 0]
#: Places in a DisDiff run's recipe that the model is built from.
RECIPE_PATHS = [["stage"], ["encoder", "plugin"], ["encoder", "params", "num_factors"],
                ["encoder", "params", "image_size"], ["field", "plugin"], ["field", "params"],
                ["backbone", "from_run"], ["first_stage", "from_run"], ["encoder", "checkpoint"],
                ["losses", 0, "plugin"], ["losses", 1, "params", "weight"], ["encoder"]]
INFO = {"name": "disdiff", "stage": "disdiff", "status": "finished", "step": 1,
        "created": "2025-01-01T00:00:00+0000", "updated": "2025-01-01T00:00:00+0000",
        "parents": {}}


@st.composite
def damage(draw: st.DrawFn) -> tuple[str, str, Any]:
    """One change to a run folder: (file, action, argument)."""
    file = draw(st.sampled_from(FILES))
    actions = ["delete", "cut", "overwrite", "bytes"]
    if file == "run.json":
        actions.append("field")
    elif file == "recipe.yaml":
        actions.append("value")
    elif file.endswith(".safetensors"):
        actions.append("tensors")
    action = draw(st.sampled_from(actions))
    if action in ("cut", "overwrite"):
        argument: Any = (draw(st.integers(0, 2000)), draw(st.binary(min_size=1, max_size=16)))
    elif action == "bytes":
        argument = draw(st.binary(max_size=200))
    elif action == "field":
        argument = (draw(st.sampled_from(sorted(INFO))), draw(json_values))
    elif action == "value":
        path = st.sampled_from(RECIPE_PATHS) | st.lists(st.sampled_from(RECIPE_KEYS),
                                                         min_size=1, max_size=4)
        argument = (draw(path), draw(st.integers(-2, 40) | st.sampled_from(["unet", "."])
                                     | json_values))
    elif action == "tensors":
        argument = draw(st.dictionaries(
            st.sampled_from(["conv.weight", "head.bias", "x"]),
            st.tuples(st.lists(st.integers(0, 4), max_size=3),
                      st.sampled_from([torch.float32, torch.float16, torch.int64, torch.bool])),
            max_size=2))
    else:
        argument = None
    return file, action, argument


def _apply(run: Path, file: str, action: str, argument: Any) -> None:
    path = run / file
    if action == "delete":
        path.unlink(missing_ok=True)
    elif action in ("cut", "overwrite") and path.is_file():
        content = bytearray(path.read_bytes())
        at, data = argument
        content[at:at + len(data)] = data
        path.write_bytes(bytes(content[:at]) if action == "cut" else bytes(content))
    elif action == "bytes":
        path.write_bytes(argument)
    elif action == "field":
        path.write_text(json.dumps({**INFO, argument[0]: argument[1]}))
    elif action == "value":
        recipe = yaml.safe_load(path.read_text()) if path.is_file() else {}
        put_value(recipe, *argument)
        path.write_text(yaml.safe_dump(recipe))
    elif action == "tensors":
        save_file({key: torch.zeros(shape, dtype=dtype) for key, (shape, dtype) in argument.items()},
                  str(path))


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished DisDiff run (with run.json and a metrics log) over its backbone run."""
    root = tmp_path_factory.mktemp("runs")
    run = build_disdiff_run(root, build_toy_store(root / "toy.zarr"))
    (run / "run.json").write_text(json.dumps(INFO))
    Run(run).log_metrics(1, {"loss": 0.5})
    return run


def read_everything(run: Path) -> None:
    """What the toolkit reads from a run: its summary and metrics, and its model, which must
    then encode an image."""
    opened = Run.open(run)
    opened.summary(), opened.read_metrics()
    model = load_disdiff(run, "cpu")
    encode_images(model, np.zeros((1, IMAGE, IMAGE, 3), np.uint8))


def test_the_undamaged_run_reads(finished_run: Path) -> None:
    read_everything(finished_run)


@settings(BOUNDED, max_examples=30)
@given(changes=st.lists(damage(), min_size=1, max_size=2))
@example(changes=[("recipe.yaml", "value", (["encoder", "params", "num_factors"], -1))])
@example(changes=[("run.json", "field", ("name", []))])
@example(changes=[("run.json", "bytes", b"\x80")])
def test_a_damaged_run(finished_run: Path, changes: list[tuple[str, str, Any]]) -> None:
    run = finished_run.with_name("damaged")
    shutil.rmtree(run, ignore_errors=True)
    shutil.copytree(finished_run, run)
    edits_first = sorted(changes, key=lambda change: change[1] not in ("field", "value"))
    for change in edits_first:  # an edit reads the file, so it goes before byte-level damage
        _apply(run, *copy.deepcopy(change))
    outcome = result_or_user_error(lambda: read_everything(run))
    event("read" if outcome is None else "refused")
    runner = CliRunner()
    for command in (["runs", "list", str(run.parent)], ["runs", "show", str(run)]):
        result = runner.invoke(app, command)
        assert result.exit_code in (0, 1), result.output
        assert "Traceback" not in result.output
