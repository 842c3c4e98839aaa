"""``disdiff eval-codes``: codes file + dataset store -> table or one JSON object."""

from __future__ import annotations

import json

import numpy as np
import pytest
import typer
from metric_fixtures import grid_factors, small_grid
from typer.testing import CliRunner

from disdiff_cli.app import DisdiffGroup
from disdiff_cli.eval_codes_cmd import eval_codes, parse_metric_settings
from disdiff_core.data.store import StoreMetadata, create_store
from disdiff_core.errors import DataError

QUICK = ["--set", "factorvae.num_train=100", "--set", "factorvae.num_eval=100",
         "--set", "factorvae.num_variance_estimate=500", "--set", "mig.num_train=500"]


def make_app() -> typer.Typer:
    """The command as the lead registers it, under the top-level error handling."""
    app = typer.Typer(cls=DisdiffGroup)
    app.command("eval-codes")(eval_codes)

    @app.callback()
    def main() -> None:
        """disdiff"""

    return app


def write_store(path, *, factors: bool = True, attributes: np.ndarray | None = None) -> None:
    ground_truth = small_grid()
    n = ground_truth.num_rows
    meta = StoreMetadata(
        name="grid",
        factor_names=ground_truth.factor_names if factors else [],
        factor_sizes=ground_truth.factor_sizes if factors else [],
        attribute_names=[] if attributes is None else [f"a{i}" for i in range(attributes.shape[1])],
    )
    labels = {}
    if factors:
        labels["factors"] = grid_factors(ground_truth).astype(np.int32)
    if attributes is not None:
        labels["attributes"] = attributes.astype(np.int8)
    with create_store(path, meta, num_images=n, image_shape=(4, 4, 3)) as writer:
        writer.write(np.zeros((n, 4, 4, 3), np.uint8), **labels)


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_json_output_is_one_object_with_dlib_names(tmp_path, runner) -> None:
    write_store(tmp_path / "grid.zarr")
    noise = 0.01 * np.random.RandomState(0).randn(120, 3, 2)
    codes = grid_factors(small_grid())[:, :, None] * np.ones(2) + noise
    np.save(tmp_path / "codes.npy", codes)
    result = runner.invoke(make_app(), [
        "eval-codes", str(tmp_path / "codes.npy"), "--data", str(tmp_path / "grid.zarr"),
        "--metrics", "factorvae,mig", "--seeds", "2", "--json", *QUICK,
    ])
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data["metrics"]) == {"factorvae", "mig"}
    assert data["metrics"]["factorvae"]["eval_accuracy"]["values"] == [1.0, 1.0]
    assert "discrete_mig" in data["metrics"]["mig"]
    assert data["codes"]["reduction"] == "pca1" and data["seeds"] == [0, 1]
    assert data["dataset"]["name"] == "grid"
    assert "evaluating" in result.stderr


def test_table_output_and_npz_codes(tmp_path, runner) -> None:
    write_store(tmp_path / "grid.zarr")
    np.savez(tmp_path / "codes.npz", codes=grid_factors(small_grid()), other=np.zeros(3))
    result = runner.invoke(make_app(), [
        "eval-codes", str(tmp_path / "codes.npz"), "--data", str(tmp_path / "grid.zarr"),
        "--metrics", "mig", "--set", "mig.num_train=500", "--output", str(tmp_path / "r.json"),
    ])
    assert result.exit_code == 0, result.stderr
    assert "discrete_mig" in result.stdout and "±" in result.stdout
    assert json.loads((tmp_path / "r.json").read_text())["codes"]["reduction"] == "none"


def test_zarr_codes_and_attribute_store_default_to_tad(tmp_path, runner) -> None:
    import zarr

    attributes = np.tile([[0, 1], [1, 0], [1, 1], [0, 0]], (30, 1))
    write_store(tmp_path / "faces.zarr", factors=False, attributes=attributes)
    zarr.create_array(str(tmp_path / "codes.zarr"), data=attributes.astype(np.float32))
    result = runner.invoke(make_app(), [
        "eval-codes", str(tmp_path / "codes.zarr"), "--data", str(tmp_path / "faces.zarr"),
        "--json",
    ])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["metrics"]["tad"]["TAD"]["mean"] == pytest.approx(1.0)


def test_wrong_length_is_one_clear_error(tmp_path, runner) -> None:
    write_store(tmp_path / "grid.zarr")
    np.save(tmp_path / "codes.npy", np.zeros((7, 3)))
    result = runner.invoke(make_app(), [
        "eval-codes", str(tmp_path / "codes.npy"), "--data", str(tmp_path / "grid.zarr"),
    ])
    assert result.exit_code == 1
    assert "has 7 code rows but the store" in result.stderr
    assert "Traceback" not in result.output


def test_bad_inputs_are_clear_errors(tmp_path, runner) -> None:
    write_store(tmp_path / "grid.zarr")
    np.save(tmp_path / "codes.npy", np.zeros((120, 3)))
    cases = [
        (["--reduce", "pca1"], "use the reduction 'none'"),
        (["--metrics", "mig", "--set", "dci.num_train=5"], "not evaluated: dci"),
        (["--metrics", "fid"], "disdiff eval RUN"),
    ]
    for extra, message in cases:
        result = runner.invoke(make_app(), [
            "eval-codes", str(tmp_path / "codes.npy"), "--data", str(tmp_path / "grid.zarr"),
            *extra,
        ])
        assert result.exit_code == 1 and message in result.stderr, (extra, result.stderr)


def test_parse_metric_settings() -> None:
    assert parse_metric_settings(["dci.num_train=100", "dci.mode=fast", "tad.num_images=null"]) == {
        "dci": {"num_train": 100, "mode": "fast"}, "tad": {"num_images": None},
    }
    with pytest.raises(DataError, match="metric.key=value"):
        parse_metric_settings(["num_train=3"])
