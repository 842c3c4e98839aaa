"""A run's artifact store: `disdiff eval` keeps the codes it encoded (unless told not to) and
`disdiff sample` the samples of its figure in RUN/artifacts.zarr, each one array with what made
it; the codes score again without the model, and a run folder that cannot be written to still
gets its figure."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import zarr
from PIL import Image

from disdiff_cli.app import app
from disdiff_core.artifacts import artifact_name, list_artifacts, save_artifact
from disdiff_core.data.store import open_store
from disdiff_core.loading import encode_store, load_disdiff
from disdiff_core.runs import Run


@pytest.fixture
def run(disdiff_run: Path, tmp_path: Path) -> Path:
    """A copy of the shared tiny run without anything other tests wrote into it."""
    copy = tmp_path / "disdiff"
    shutil.copytree(disdiff_run, copy, ignore=shutil.ignore_patterns("eval", "artifacts.zarr"))
    return copy


def test_save_replaces_an_artifact_whole_and_names_are_safe(tmp_path: Path) -> None:
    name = artifact_name("codes", 12, "my store/v2")
    assert name == "codes-step0000012-my-store-v2"
    save_artifact(tmp_path, name, np.ones((3, 2), np.float32), {"try": 1})
    save_artifact(tmp_path, name, np.zeros((5, 2), np.float32), {"try": 2})
    stored = zarr.open_group(str(tmp_path / "artifacts.zarr"), mode="r")[name]
    assert stored.shape == (5, 2) and stored.attrs["try"] == 2 and not np.asarray(stored).any()
    assert list_artifacts(tmp_path) == [name]  # no temporary folder left behind
    assert list_artifacts(tmp_path / "nowhere") == []


SETTINGS = ["--set", "mig.num_train=200"]


def eval_record(cli, run: Path, store: Path, *options: str) -> dict:
    """The JSON record of ``disdiff eval RUN`` (MIG, one seed) on ``store``."""
    result = cli.invoke(app, ["eval", str(run), "--data", str(store), "--metrics", "mig",
                              "--seeds", "1", "--json", *SETTINGS, *options])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_eval_keeps_its_codes_and_they_score_again_without_the_model(
        cli, run: Path, toy_store: Path) -> None:
    record = eval_record(cli, run, toy_store)
    kept = record["codes"]["artifact"]
    assert kept["key"] == f"codes-step0000000-{toy_store.stem}"
    codes = np.asarray(zarr.open_group(kept["path"], mode="r")[kept["key"]])
    expected = encode_store(load_disdiff(run, "cpu"), open_store(toy_store))
    np.testing.assert_array_equal(codes, expected)

    again = cli.invoke(app, ["eval-codes", kept["path"], "--key", kept["key"], "--data",
                             str(toy_store), "--metrics", "mig", "--json", *SETTINGS])
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["metrics"] == record["metrics"]


def test_eval_without_keeping_codes_writes_no_array_and_scores_the_same(
        cli, run: Path, toy_store: Path) -> None:
    unkept = eval_record(cli, run, toy_store, "--no-keep-codes")
    assert unkept["codes"]["artifact"] is None
    assert list_artifacts(run) == [] and not (run / "artifacts.zarr").exists()
    kept = eval_record(cli, run, toy_store, "--keep-codes")
    assert list_artifacts(run) == [kept["codes"]["artifact"]["key"]]
    assert unkept["metrics"] == kept["metrics"]


def test_sample_keeps_the_figures_samples(cli, run: Path, toy_store: Path,
                                           tmp_path: Path) -> None:
    out = tmp_path / "swap.png"
    result = cli.invoke(app, ["sample", str(run), "--mode", "swap", "--num", "2", "--data",
                              str(toy_store), "--steps", "2", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert list_artifacts(run) == ["samples-swap-step0000000"]
    stored = zarr.open_group(str(run / "artifacts.zarr"), mode="r")["samples-swap-step0000000"]
    assert stored.dtype == np.uint8 and stored.shape[-3:] == open_store(toy_store).image_shape
    assert stored.attrs["mode"] == "swap" and stored.attrs["figure"] == str(out)


def test_runs_show_lists_the_artifacts(cli, tmp_path: Path) -> None:
    run = Run.create(tmp_path / "run", stage="disdiff", recipe_yaml="stage: disdiff\n")
    save_artifact(run.path, artifact_name("samples-generate", 0), np.zeros((2, 4, 4, 3), np.uint8),
                  {"mode": "generate"})
    shown = cli.invoke(app, ["runs", "show", str(run.path), "--json"])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["artifacts"] == ["samples-generate-step0000000"]


def test_a_run_folder_that_cannot_be_written_still_gets_its_figure(
        cli, run: Path, tmp_path: Path, monkeypatch) -> None:
    from disdiff_core.app import figures

    def refused(run_dir: Path, *_: object) -> Path:  # a read-only folder, as a root user
        raise PermissionError(13, "Permission denied", str(run_dir))  # never meets one

    monkeypatch.setattr(figures, "save_artifact", refused)
    out = tmp_path / "generate.png"
    result = cli.invoke(app, ["sample", str(run), "--mode", "generate", "--num", "2",
                              "--steps", "2", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "not kept" in " ".join(result.output.split()) and Image.open(out).size[0] > 0
