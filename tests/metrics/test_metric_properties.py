"""Behaviour of the dlib metrics on representations whose disentanglement is known."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest
from metric_fixtures import SMALL, grid_factors, identity_codes, small_grid

from disdiff_plugins.metrics.dci import dci
from disdiff_plugins.metrics.factor_vae import factor_vae_score
from disdiff_plugins.metrics.mig import mig
from disdiff_plugins.metrics.sap import sap

METRICS = {"factorvae": factor_vae_score, "dci": dci, "mig": mig, "sap": sap}


def scores(codes: np.ndarray, names=tuple(METRICS), seed: int = 0) -> dict[str, float]:
    """Every number of the named metrics (``metric/number``) on a code table over the grid."""
    ground_truth = small_grid()
    flat = {}
    for name in names:
        numbers = METRICS[name](
            ground_truth, lambda rows: codes[rows], np.random.RandomState(seed), **SMALL[name]
        )
        flat.update({f"{name}/{key}": value for key, value in numbers.items()})
    return flat


@cache
def identity_scores() -> dict[str, float]:
    return scores(identity_codes(small_grid()))


def test_identity_representation_is_perfectly_disentangled() -> None:
    result = identity_scores()
    assert result["factorvae/eval_accuracy"] == 1.0
    assert result["factorvae/train_accuracy"] == 1.0
    assert result["factorvae/num_active_dims"] == 3
    assert result["dci/disentanglement"] == pytest.approx(1.0, abs=0.02)
    assert result["dci/completeness"] == pytest.approx(1.0, abs=0.02)
    assert result["dci/informativeness_test"] == pytest.approx(1.0)
    assert result["mig/discrete_mig"] > 0.9
    assert result["sap/SAP_score"] > 0.3


def test_random_representation_scores_near_chance() -> None:
    codes = np.random.RandomState(3).randn(small_grid().num_rows, 3)
    result = scores(codes)
    # Three factors: a majority vote without information is right about a third of the time.
    assert result["factorvae/eval_accuracy"] < 0.6
    assert result["dci/disentanglement"] < 0.25
    assert result["mig/discrete_mig"] < 0.15
    assert result["sap/SAP_score"] < 0.1


def test_copying_a_factor_into_two_codes_costs_completeness_not_disentanglement() -> None:
    codes = identity_codes(small_grid())
    copied = np.concatenate([codes, codes[:, :1] + 0.003], axis=1)
    result = scores(copied, names=("dci",))
    assert result["dci/disentanglement"] == pytest.approx(1.0, abs=0.03)
    assert result["dci/completeness"] < identity_scores()["dci/completeness"] - 0.08


def test_rotating_two_factors_together_lowers_dci_and_mig() -> None:
    codes = identity_codes(small_grid())
    standardized = (codes - codes.mean(0)) / codes.std(0)
    rotated = standardized.copy()
    rotated[:, 0] = (standardized[:, 0] - standardized[:, 1]) / np.sqrt(2)
    rotated[:, 1] = (standardized[:, 0] + standardized[:, 1]) / np.sqrt(2)
    result = scores(rotated, names=("dci", "mig"))
    assert result["dci/disentanglement"] < identity_scores()["dci/disentanglement"] - 0.15
    assert result["mig/discrete_mig"] < identity_scores()["mig/discrete_mig"] - 0.3


def test_permuting_codes_changes_no_score() -> None:
    codes = identity_codes(small_grid())
    permuted = scores(codes[:, [2, 0, 1]])
    for key, value in identity_scores().items():
        assert permuted[key] == pytest.approx(value, abs=1e-9), key


def test_positive_scaling_leaves_factorvae_dci_and_mig_unchanged() -> None:
    codes = identity_codes(small_grid()) * np.array([3.0, 0.5, 7.0])
    scaled = scores(codes, names=("factorvae", "dci", "mig"))
    for key, value in scaled.items():
        assert value == pytest.approx(identity_scores()[key], abs=1e-9), key


def test_fixed_seed_gives_identical_numbers_and_seeds_differ() -> None:
    codes = grid_factors(small_grid()) + np.random.RandomState(5).randn(120, 3)
    first = scores(codes, names=("factorvae", "dci", "mig", "sap"), seed=4)
    assert scores(codes, names=("factorvae", "dci", "mig", "sap"), seed=4) == first
    assert scores(codes, names=("factorvae", "mig"), seed=5) != {
        k: v for k, v in first.items() if k.startswith(("factorvae", "mig"))
    }
