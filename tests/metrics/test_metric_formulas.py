"""Hand-worked cases for each metric formula, and dlib's sampling order."""

from __future__ import annotations

import math

import numpy as np
import pytest
from metric_fixtures import identity_codes, small_grid

from disdiff_core.data.ground_truth import GroundTruth
from disdiff_plugins.metrics import beta_vae, dci, factor_vae, mig, modularity, sap, utils


# -- DCI --------------------------------------------------------------------------------------
def test_dci_entropy_uses_log_base_num_factors_for_disentanglement() -> None:
    # One code spread 1/2, 1/4, 1/4 over three factors: H_3 = 1.5·ln2 / ln3.
    importance = np.array([[0.5, 0.25, 0.25]])
    expected = 1.0 - 1.5 * math.log(2) / math.log(3)
    assert dci.disentanglement(importance) == pytest.approx(expected, abs=1e-9)
    # Uniform over four factors is entropy 1 in base 4: disentanglement 0.
    assert dci.disentanglement(np.full((1, 4), 0.25)) == pytest.approx(0.0, abs=1e-9)


def test_dci_completeness_uses_log_base_num_codes() -> None:
    # One factor spread evenly over three codes: entropy 1 in base 3.
    assert dci.completeness(np.ones((3, 1))) == pytest.approx(0.0, abs=1e-9)
    # Factor 0 held by code 0 only, factor 1 split evenly over codes 1 and 2 (H_3 = ln2/ln3);
    # each factor carries half the importance.
    importance = np.array([[1.0, 0.0], [0.0, 0.5], [0.0, 0.5]])
    expected = 0.5 * 1.0 + 0.5 * (1.0 - math.log(2) / math.log(3))
    assert dci.completeness(importance) == pytest.approx(expected, abs=1e-9)


def test_dci_weights_codes_by_their_share_of_importance() -> None:
    # Code 0: pure (score 1, weight 3/4); code 1: uniform over 2 factors (score 0, weight 1/4);
    # code 2 has no importance (weight 0).
    importance = np.array([[1.5, 0.0], [0.25, 0.25], [0.0, 0.0]])
    assert dci.disentanglement(importance) == pytest.approx(0.75, abs=1e-9)
    assert dci.disentanglement(np.zeros((2, 2))) == pytest.approx(0.0, abs=1e-9)


def test_fast_dci_importances_are_normalised_split_gains() -> None:
    ground_truth = small_grid()
    codes = identity_codes(ground_truth)
    result = dci.dci(ground_truth, lambda rows: codes[rows], np.random.RandomState(0),
                     num_train=600, num_test=300, mode="fast")
    assert result["disentanglement"] == pytest.approx(1.0, abs=0.05)
    assert result["informativeness_test"] == pytest.approx(1.0)


# -- MIG --------------------------------------------------------------------------------------
def test_mig_gap_is_normalised_by_factor_entropy() -> None:
    mutual_info = np.array([[0.6, 0.1], [0.2, 0.3], [0.1, 0.0]])
    entropy = np.array([1.2, 0.5])
    expected = ((0.6 - 0.2) / 1.2 + (0.3 - 0.1) / 0.5) / 2
    assert mig.mutual_information_gap(mutual_info, entropy) == pytest.approx(expected)


def test_histogram_discretisation_and_entropy_in_nats() -> None:
    codes = np.array([[0.0, 1.0, 2.0, 3.0], [5.0, 5.0, 5.0, 6.0]])
    binned = utils.histogram_discretize(codes, 2)
    np.testing.assert_array_equal(binned, [[1, 1, 2, 2], [1, 1, 1, 2]])
    factors = np.array([[0, 0, 1, 1], [0, 1, 2, 3]])
    np.testing.assert_allclose(utils.discrete_entropy(factors), [math.log(2), math.log(4)])
    # Code 0 determines factor 0 (MI = H = ln 2) and halves factor 1's uncertainty.
    mutual_info = utils.discrete_mutual_info(utils.histogram_discretize(codes, 2), factors)
    np.testing.assert_allclose(mutual_info[0], [math.log(2), math.log(2)])


def test_mig_of_a_code_copying_one_factor() -> None:
    ground_truth = GroundTruth([2, 4])
    # Code 0 is factor 0, code 1 is factor 1 // 2 (half its information), code 2 constant.
    factors = np.stack(np.unravel_index(np.arange(8), [2, 4]), axis=1)
    codes = np.stack([factors[:, 0], factors[:, 1] // 2, np.zeros(8)], axis=1).astype(float)
    result = mig.mig(ground_truth, lambda rows: codes[rows], np.random.RandomState(0),
                     num_train=4000)
    # Factor 0: gap H/H = 1. Factor 1: I(code1; f1) = ln2 over H = ln4 -> 0.5. Mean 0.75,
    # up to the sampling noise of 4000 points.
    assert result["discrete_mig"] == pytest.approx(0.75, abs=0.02)


# -- SAP --------------------------------------------------------------------------------------
def test_sap_is_the_mean_gap_between_the_two_best_codes() -> None:
    scores = np.array([[0.9, 0.2], [0.5, 0.6], [0.1, 0.55]])
    assert sap.top_two_gap(scores) == pytest.approx(((0.9 - 0.5) + (0.6 - 0.55)) / 2)


def test_sap_score_matrix_holds_single_code_test_accuracies() -> None:
    rng = np.random.RandomState(0)
    factors = rng.randint(2, size=(1, 400))
    codes = np.vstack([factors[0] * 4.0 - 2.0, rng.randn(400)])
    matrix = sap.score_matrix(codes[:, :300], factors[:, :300], codes[:, 300:], factors[:, 300:])
    assert matrix.shape == (2, 1)
    assert matrix[0, 0] == 1.0
    assert 0.3 < matrix[1, 0] < 0.7


# -- FactorVAE --------------------------------------------------------------------------------
def test_factorvae_prunes_codes_by_standard_deviation() -> None:
    variances = np.array([0.0001, 0.0025, 0.01, 1.0])  # std 0.01, 0.05, 0.1, 1
    np.testing.assert_array_equal(factor_vae.prune_dims(variances, 0.05), [False, True, True, True])


def test_factorvae_majority_vote_and_accuracy() -> None:
    train_votes = np.array([[3, 0], [1, 2], [0, 1]])  # (factors, active codes)
    classifier = factor_vae.majority_vote_classifier(train_votes)
    np.testing.assert_array_equal(classifier, [0, 1])
    assert factor_vae.vote_accuracy(classifier, train_votes) == pytest.approx(5 / 7)
    eval_votes = np.array([[1, 1], [0, 1], [2, 0]])
    assert factor_vae.vote_accuracy(classifier, eval_votes) == pytest.approx(2 / 5)


def test_factorvae_without_active_codes_scores_zero() -> None:
    ground_truth = small_grid()
    result = factor_vae.factor_vae_score(
        ground_truth, lambda rows: np.full((len(rows), 3), 2.0), np.random.RandomState(0),
        num_train=10, num_eval=10, num_variance_estimate=100,
    )
    assert result == {"train_accuracy": 0.0, "eval_accuracy": 0.0, "num_active_dims": 0.0}


def test_factorvae_ignores_pruned_codes() -> None:
    ground_truth = small_grid()
    codes = identity_codes(ground_truth)
    # A fourth, nearly constant code would always have the least variance if it were kept.
    with_dead = np.concatenate([codes, 1e-4 * codes[:, :1]], axis=1)
    result = factor_vae.factor_vae_score(
        ground_truth, lambda rows: with_dead[rows], np.random.RandomState(0),
        num_train=100, num_eval=100, num_variance_estimate=500,
    )
    assert result["eval_accuracy"] == 1.0
    assert result["num_active_dims"] == 3


# -- modularity, beta-VAE ---------------------------------------------------------------------
def test_modularity_formula() -> None:
    # Code 0 informs one factor (1), code 1 two equally (0), code 2 none (0 by definition).
    mutual_info = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
    assert modularity.modularity(mutual_info) == pytest.approx(1 / 3)


def test_modularity_and_betavae_on_the_identity_representation() -> None:
    ground_truth = small_grid()
    codes = identity_codes(ground_truth)
    rep = lambda rows: codes[rows]
    result = modularity.modularity_explicitness(
        ground_truth, rep, np.random.RandomState(0), num_train=1000, num_test=500
    )
    assert result["modularity_score"] > 0.95
    assert result["explicitness_score_test"] > 0.8
    result = beta_vae.beta_vae_score(ground_truth, rep, np.random.RandomState(0),
                                     batch_size=16, num_train=300, num_eval=200)
    assert result["eval_accuracy"] == 1.0


# -- dlib's sampling order --------------------------------------------------------------------
class RecordingRandomState(np.random.RandomState):
    """A RandomState that logs each randint call's (high, size)."""

    def __init__(self, seed: int) -> None:
        super().__init__(seed)
        self.calls: list[tuple[int, object]] = []

    def randint(self, low, high=None, size=None, dtype=int):
        self.calls.append((low, size))
        return super().randint(low, high, size, dtype)


def test_batches_of_16_drawn_factor_by_factor_like_dlib() -> None:
    ground_truth = GroundTruth([3, 4])
    random_state = RecordingRandomState(0)
    codes, factors = utils.generate_batch_factor_code(
        ground_truth, lambda rows: rows[:, None].astype(float), 40, random_state, 16
    )
    assert random_state.calls == [(3, 16), (4, 16), (3, 16), (4, 16), (3, 8), (4, 8)]
    assert codes.shape == (1, 40) and factors.shape == (2, 40)
    # The same draws in the same order from a fresh RandomState(0).
    reference = np.random.RandomState(0)
    first = [reference.randint(3, size=16), reference.randint(4, size=16)]
    np.testing.assert_array_equal(factors[:, :16], first)
    np.testing.assert_array_equal(codes[0], np.ravel_multi_index(factors, [3, 4]))


def test_factorvae_draws_like_dlib() -> None:
    ground_truth = GroundTruth([3, 4])
    random_state = RecordingRandomState(0)
    codes = identity_codes(ground_truth, noise=0.01)[:, :2]
    factor_vae.factor_vae_score(ground_truth, lambda rows: codes[rows], random_state,
                                batch_size=5, num_train=2, num_eval=1, num_variance_estimate=7)
    vote = [(2, None), (3, 5), (4, 5)]
    assert random_state.calls == [(3, 7), (4, 7)] + vote * 3
