"""Modularity and explicitness (Ridgeway & Mozer, "Learning Deep Disentangled Embeddings With
the F-Statistic Loss", 2018), as disentanglement_lib computes them
(``evaluation/metrics/modularity_explicitness.py``).

Modularity: each code should share mutual information with one factor only. Explicitness: a
logistic regression from all (standardised) codes predicts each factor; its one-vs-rest ROC-AUC.
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import MultiLabelBinarizer

from disdiff_core.data.ground_truth import GroundTruth
from disdiff_core.interfaces.metric import RepresentationFunction
from disdiff_plugins.metrics.utils import (
    discrete_mutual_info,
    factor_metric_factory,
    generate_batch_factor_code,
    histogram_discretize,
    normalize_data,
)


def modularity_explicitness(
    ground_truth: GroundTruth,
    representation_function: RepresentationFunction,
    random_state: np.random.RandomState,
    *,
    num_train: int = 10000,
    num_test: int = 5000,
    num_bins: int = 20,
    batch_size: int = 16,
) -> dict[str, float]:
    """Modularity and explicitness with dlib's unsupervised-study settings as defaults.

    Returns:
        ``modularity_score``, ``explicitness_score_train``, ``explicitness_score_test``.
    """
    codes_train, factors_train = generate_batch_factor_code(
        ground_truth, representation_function, num_train, random_state, batch_size
    )
    codes_test, factors_test = generate_batch_factor_code(
        ground_truth, representation_function, num_test, random_state, batch_size
    )
    mutual_info = discrete_mutual_info(histogram_discretize(codes_train, num_bins), factors_train)
    train_norm, mean, stddev = normalize_data(codes_train)
    test_norm, _, _ = normalize_data(codes_test, mean, stddev)
    explicitness = np.array([
        explicitness_per_factor(train_norm, y_train, test_norm, y_test)
        for y_train, y_test in zip(factors_train, factors_test, strict=True)
    ])
    return {
        "modularity_score": modularity(mutual_info),
        "explicitness_score_train": float(np.mean(explicitness[:, 0])),
        "explicitness_score_test": float(np.mean(explicitness[:, 1])),
    }


def explicitness_per_factor(
    codes_train: np.ndarray, y_train: np.ndarray, codes_test: np.ndarray, y_test: np.ndarray
) -> tuple[float, float]:
    """Train and test ROC-AUC (one-vs-rest, macro) of a default logistic regression predicting
    one factor (y: (num_points,)) from all codes ((num_codes, num_points))."""
    classifier = LogisticRegression().fit(codes_train.T, y_train)
    binarizer = MultiLabelBinarizer()
    roc_train = roc_auc_score(
        binarizer.fit_transform(y_train[:, np.newaxis]), classifier.predict_proba(codes_train.T)
    )
    roc_test = roc_auc_score(
        binarizer.fit_transform(y_test[:, np.newaxis]), classifier.predict_proba(codes_test.T)
    )
    return float(roc_train), float(roc_test)


def modularity(mutual_info: np.ndarray) -> float:
    """Mean over codes of 1 - (Σ_k MI² - max MI²) / (max MI² · (K - 1)); a code sharing no
    information with any factor scores 0.

    Args:
        mutual_info: (num_codes, num_factors).
    """
    squared = np.square(mutual_info)
    max_squared = np.max(squared, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        delta = (np.sum(squared, axis=1) - max_squared) / (max_squared * (squared.shape[1] - 1.0))
    score = 1.0 - delta
    score[max_squared == 0.0] = 0.0
    return float(np.mean(score))


build = factor_metric_factory(modularity_explicitness)
