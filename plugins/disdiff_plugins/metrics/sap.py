"""The SAP score (Kumar et al., "Variational Inference of Disentangled Latent Concepts from
Unlabeled Observations", 2018), as disentanglement_lib computes it for discrete factors
(``evaluation/metrics/sap_score.py``): a linear SVM per (code, factor) predicts the factor from
that single code; per factor, the gap between the two best codes' test accuracies."""

from __future__ import annotations

import numpy as np
from sklearn.svm import LinearSVC

from disdiff_core.data.ground_truth import GroundTruth
from disdiff_core.interfaces.metric import RepresentationFunction
from disdiff_plugins.metrics.utils import factor_metric_factory, generate_batch_factor_code


def sap(
    ground_truth: GroundTruth,
    representation_function: RepresentationFunction,
    random_state: np.random.RandomState,
    *,
    num_train: int = 10000,
    num_test: int = 5000,
    batch_size: int = 16,
) -> dict[str, float]:
    """SAP with dlib's unsupervised-study settings (discrete factors) as defaults.

    Returns:
        ``SAP_score``. Needs at least two codes (the gap needs a runner-up).
    """
    codes_train, factors_train = generate_batch_factor_code(
        ground_truth, representation_function, num_train, random_state, batch_size
    )
    if codes_train.shape[0] < 2:
        raise ValueError("SAP needs at least two codes: the score is the gap between the best two")
    codes_test, factors_test = generate_batch_factor_code(
        ground_truth, representation_function, num_test, random_state, batch_size
    )
    scores = score_matrix(codes_train, factors_train, codes_test, factors_test)
    return {"SAP_score": top_two_gap(scores)}


def score_matrix(
    codes_train: np.ndarray,
    factors_train: np.ndarray,
    codes_test: np.ndarray,
    factors_test: np.ndarray,
) -> np.ndarray:
    """Test accuracy (num_codes, num_factors) of ``LinearSVC(C=0.01, class_weight="balanced")``
    trained on one code to predict one factor. Inputs are (num_codes|num_factors, num_points)."""
    scores = np.zeros((codes_train.shape[0], factors_train.shape[0]))
    for i, (code, code_test) in enumerate(zip(codes_train, codes_test, strict=True)):
        for j, (factor, factor_test) in enumerate(zip(factors_train, factors_test, strict=True)):
            classifier = LinearSVC(C=0.01, class_weight="balanced")
            classifier.fit(code[:, np.newaxis], factor)
            scores[i, j] = np.mean(classifier.predict(code_test[:, np.newaxis]) == factor_test)
    return scores


def top_two_gap(matrix: np.ndarray) -> float:
    """Mean over columns (factors) of best minus second-best entry over rows (codes)."""
    ranked = np.sort(matrix, axis=0)
    return float(np.mean(ranked[-1] - ranked[-2]))


build = factor_metric_factory(sap)
