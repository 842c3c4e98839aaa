"""`disdiff eval RUN`: encodes the store with the run's encoder, scores it over seeds, and writes
a JSON result with settings, reduction, dataset, seeds and library versions into the run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from disdiff_cli.app import app
from disdiff_core.data.store import open_store
from disdiff_core.evaluation import evaluate_codes
from disdiff_core.loading import encode_images, load_disdiff

SMALL = ["--set", "mig.num_train=200", "--set", "factorvae.num_train=100",
         "--set", "factorvae.num_eval=50", "--set", "factorvae.num_variance_estimate=200"]


def test_eval_run_writes_result_equal_to_scoring_the_codes(cli, disdiff_run: Path, toy_store: Path) -> None:
    result = cli.invoke(app, ["eval", str(disdiff_run), "--data", str(toy_store),
                              "--metrics", "factorvae,mig", "--seeds", "2", "--json", *SMALL])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    written = sorted((disdiff_run / "eval").glob("eval-step*.json"))
    assert len(written) == 1 and json.loads(written[0].read_text())["metrics"] == printed["metrics"]
    assert printed["seeds"] == [0, 1]
    assert printed["codes"]["reduction"] == "pca1"
    assert {"numpy", "scikit-learn"} <= set(printed["versions"])
    assert printed["run"]["encoder"].startswith("EMA")
    assert set(printed["metrics"]) == {"factorvae", "mig"}

    model = load_disdiff(disdiff_run, "cpu")
    store = open_store(toy_store)
    codes = encode_images(model, store.read(0, store.num_images)).numpy()
    expected = evaluate_codes(
        codes, {"factorvae": {"num_train": 100, "num_eval": 50, "num_variance_estimate": 200},
                "mig": {"num_train": 200}},
        ground_truth=store.ground_truth(), reduction="pca1", seeds=range(2))
    for name in ("factorvae", "mig"):
        for number, summary in expected["metrics"][name].items():
            assert np.isclose(printed["metrics"][name][number]["mean"], summary["mean"])

    # evaluating the same checkpoint again keeps the earlier result
    first = written[0].read_bytes()
    again = cli.invoke(app, ["eval", str(disdiff_run), "--data", str(toy_store),
                             "--metrics", "mig", "--seeds", "1", *SMALL[:2]])
    assert again.exit_code == 0, again.output
    assert {p.name for p in (disdiff_run / "eval").glob("eval-step*.json")} == {
        written[0].name, written[0].name.replace(".json", "-2.json")}
    assert written[0].read_bytes() == first


def test_eval_of_a_non_run_is_one_clear_error(cli, tmp_path: Path) -> None:
    result = cli.invoke(app, ["eval", str(tmp_path)])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
