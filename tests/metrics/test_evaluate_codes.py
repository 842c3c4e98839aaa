"""The evaluation core: metric plugins over seeds, with everything needed to trust the numbers."""

from __future__ import annotations

import numpy as np
import pytest
from metric_fixtures import SMALL, grid_factors, identity_codes, small_grid

from disdiff_core.errors import DataError, PluginError
from disdiff_core.evaluation import evaluate_codes
from disdiff_plugins.metrics.factor_vae import factor_vae_score


def chunked_identity(ground_truth, dim: int = 4) -> np.ndarray:
    """(rows, K, dim) codes whose chunk k is factor k along a random direction plus noise."""
    rng = np.random.RandomState(0)
    factors = grid_factors(ground_truth)
    directions = rng.randn(factors.shape[1], dim)
    return factors[:, :, None] * directions + 0.01 * rng.randn(len(factors), factors.shape[1], dim)


def test_result_records_numbers_settings_reduction_seeds_and_versions() -> None:
    ground_truth = small_grid()
    codes = chunked_identity(ground_truth)
    result = evaluate_codes(
        codes, {"factorvae": SMALL["factorvae"], "mig": SMALL["mig"]},
        ground_truth=ground_truth, seeds=[0, 1], dataset={"name": "grid", "variant": None},
    )
    fvae = result["metrics"]["factorvae"]["eval_accuracy"]
    assert fvae["values"] == [1.0, 1.0] and fvae["mean"] == 1.0 and fvae["std"] == 0.0
    assert set(result["metrics"]["mig"]) == {"discrete_mig"}
    assert result["settings"]["factorvae"]["num_train"] == 300
    assert result["settings"]["factorvae"]["batch_size"] == 64  # study default kept
    assert result["codes"] == {"shape": [120, 3, 4], "reduction": "pca1", "num_codes": 3}
    assert result["codes_used"] == {"factorvae": "pca1", "mig": "pca1"}
    assert result["modes"] == {"factorvae": "exact", "mig": "exact"}
    assert result["seeds"] == [0, 1]
    assert result["dataset"]["name"] == "grid" and result["dataset"]["factor_sizes"] == [4, 5, 6]
    assert set(result["versions"]) >= {"numpy", "scikit-learn", "scipy", "torch", "disdiff"}
    assert result["plugins"]["mig"].startswith("disdiff ")


def test_seed_zero_equals_calling_the_metric_function_with_randomstate_zero() -> None:
    ground_truth = small_grid()
    codes = grid_factors(ground_truth) + np.random.RandomState(1).randn(120, 3)
    result = evaluate_codes(codes, {"factorvae": SMALL["factorvae"]}, ground_truth=ground_truth)
    direct = factor_vae_score(ground_truth, lambda rows: codes[rows], np.random.RandomState(0),
                              **SMALL["factorvae"])
    assert result["metrics"]["factorvae"]["eval_accuracy"]["values"] == [direct["eval_accuracy"]]
    assert result["codes"]["reduction"] == "none"


def test_fast_flag_switches_dci_to_its_fast_mode_and_records_it() -> None:
    ground_truth = small_grid()
    result = evaluate_codes(
        identity_codes(ground_truth),
        {"dci": {"num_train": 300, "num_test": 100, "mode": "exact"}, "mig": None},
        ground_truth=ground_truth, fast=True,  # a resolved recipe spells out mode: exact
    )
    assert result["modes"] == {"dci": "fast", "mig": "exact"}
    assert result["settings"]["dci"]["mode"] == "fast"


def test_attribute_metrics_get_raw_codes() -> None:
    attributes = np.tile([[0, 1], [1, 0], [1, 1], [0, 0]], (30, 1))
    codes = np.zeros((120, 2, 3))
    codes[:, 0, 0], codes[:, 1, 2] = attributes[:, 0], attributes[:, 1]
    result = evaluate_codes(codes, ["tad"], attributes=attributes)
    assert result["codes_used"] == {"tad": "raw"}
    assert result["metrics"]["tad"]["TAD"]["mean"] == pytest.approx(1.0)


def test_inputs_are_checked_before_any_metric_runs() -> None:
    ground_truth = small_grid()
    with pytest.raises(DataError, match="120 images"):
        evaluate_codes(np.zeros((100, 3)), ["mig"], ground_truth=ground_truth)
    with pytest.raises(DataError, match="needs ground-truth factors"):
        evaluate_codes(np.zeros((120, 3)), ["mig"])
    with pytest.raises(DataError, match="needs attribute labels"):
        evaluate_codes(np.zeros((120, 3)), ["tad"], ground_truth=ground_truth)
    with pytest.raises(DataError, match="disdiff eval RUN"):
        evaluate_codes(np.zeros((120, 3)), ["fid"], ground_truth=ground_truth)
    with pytest.raises(PluginError, match="Did you mean 'mig'"):
        evaluate_codes(np.zeros((120, 3)), ["mgi"], ground_truth=ground_truth)
    with pytest.raises(Exception, match="num_train"):
        evaluate_codes(np.zeros((120, 3)), {"mig": {"num_train": -1}}, ground_truth=ground_truth)


def test_load_codes_picks_the_array_or_says_which_to_pick(tmp_path) -> None:
    from disdiff_core.evaluation.codes import load_codes

    np.savez(tmp_path / "two.npz", a=np.zeros((4, 2)), b=np.ones((4, 3)))
    with pytest.raises(DataError, match="several arrays"):
        load_codes(tmp_path / "two.npz")
    assert load_codes(tmp_path / "two.npz", key="b").shape == (4, 3)
    with pytest.raises(DataError, match="no array 'c'"):
        load_codes(tmp_path / "two.npz", key="c")
    with pytest.raises(DataError, match="does not exist"):
        load_codes(tmp_path / "missing.npy")
    np.save(tmp_path / "flat.npy", np.zeros(4))
    with pytest.raises(DataError, match="must be numbers shaped"):
        load_codes(tmp_path / "flat.npy")
    (tmp_path / "junk.npy").write_text("not numpy")
    with pytest.raises(DataError, match="cannot read codes"):
        load_codes(tmp_path / "junk.npy")
