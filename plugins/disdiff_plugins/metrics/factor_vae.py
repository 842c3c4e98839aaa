"""The FactorVAE disentanglement score (Kim & Mnih, "Disentangling by Factorising", 2018), as
disentanglement_lib computes it (``evaluation/metrics/factor_vae.py``).

A vote fixes one factor at one value over a batch; the (globally standardised) code that varies
least over the batch should be the one that encodes the fixed factor. A majority-vote classifier
code -> factor is built from ``num_train`` votes and scored on ``num_eval`` fresh votes.
"""

from __future__ import annotations

import numpy as np

from disdiff_core.data.ground_truth import GroundTruth
from disdiff_core.interfaces.metric import RepresentationFunction
from disdiff_plugins.metrics.utils import factor_metric_factory


def factor_vae_score(
    ground_truth: GroundTruth,
    representation_function: RepresentationFunction,
    random_state: np.random.RandomState,
    *,
    batch_size: int = 64,
    num_train: int = 10000,
    num_eval: int = 5000,
    num_variance_estimate: int = 10000,
    prune_threshold: float = 0.05,
) -> dict[str, float]:
    """FactorVAE score with dlib's unsupervised-study settings as defaults.

    Returns:
        ``train_accuracy``, ``eval_accuracy`` (the reported score) and ``num_active_dims``.
        ``num_active_dims`` is the number of codes kept by pruning; dlib stores the length of
        its boolean mask there (i.e. the number of all codes), a quirk not reproduced.
        The accuracies equal dlib's at the same seed.
    """
    _, rows = ground_truth.sample(num_variance_estimate, random_state)
    global_variances = np.var(representation_function(rows), axis=0, ddof=1)
    active_dims = prune_dims(global_variances, prune_threshold)
    if not active_dims.any():
        return {"train_accuracy": 0.0, "eval_accuracy": 0.0, "num_active_dims": 0.0}

    vote = (ground_truth, representation_function, batch_size, random_state,
            global_variances, active_dims)
    train_votes = generate_votes(*vote, num_points=num_train)
    eval_votes = generate_votes(*vote, num_points=num_eval)
    classifier = majority_vote_classifier(train_votes)
    return {
        "train_accuracy": vote_accuracy(classifier, train_votes),
        "eval_accuracy": vote_accuracy(classifier, eval_votes),
        "num_active_dims": float(active_dims.sum()),
    }


def prune_dims(variances: np.ndarray, threshold: float) -> np.ndarray:
    """Mask of active codes: those whose standard deviation reaches ``threshold`` (codes that
    collapsed to a constant carry no information and would always win the argmin)."""
    return np.sqrt(variances) >= threshold


def generate_votes(
    ground_truth: GroundTruth,
    representation_function: RepresentationFunction,
    batch_size: int,
    random_state: np.random.RandomState,
    global_variances: np.ndarray,
    active_dims: np.ndarray,
    *,
    num_points: int,
) -> np.ndarray:
    """Vote counts (num_factors, num_active_codes): entry [k, j] counts the batches with
    factor k fixed whose least-varying active code was the j-th active code."""
    votes = np.zeros((ground_truth.num_factors, int(active_dims.sum())), dtype=np.int64)
    for _ in range(num_points):
        factor_index = random_state.randint(ground_truth.num_factors)
        factors = ground_truth.sample_factors(batch_size, random_state)
        factors[:, factor_index] = factors[0, factor_index]
        codes = representation_function(ground_truth.rows_from_factors(factors, random_state))
        local_variances = np.var(codes, axis=0, ddof=1)
        argmin = np.argmin(local_variances[active_dims] / global_variances[active_dims])
        votes[factor_index, argmin] += 1
    return votes


def majority_vote_classifier(votes: np.ndarray) -> np.ndarray:
    """The factor each code predicts: the one it received most votes for (ties: lowest)."""
    return np.argmax(votes, axis=0)


def vote_accuracy(classifier: np.ndarray, votes: np.ndarray) -> float:
    """Share of votes whose factor the classifier predicts from the voted code."""
    return float(votes[classifier, np.arange(votes.shape[1])].sum() / votes.sum())


build = factor_metric_factory(factor_vae_score)
