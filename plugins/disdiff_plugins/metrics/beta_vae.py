"""The β-VAE disentanglement score (Higgins et al., ICLR 2017), as disentanglement_lib computes
it with scikit-learn (``evaluation/metrics/beta_vae.py``): a point is the mean absolute code
difference over pairs of observations sharing one factor's value; a logistic regression
predicts which factor was shared."""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression

from disdiff_core.data.ground_truth import GroundTruth
from disdiff_core.interfaces.metric import RepresentationFunction
from disdiff_plugins.metrics.utils import factor_metric_factory


def beta_vae_score(
    ground_truth: GroundTruth,
    representation_function: RepresentationFunction,
    random_state: np.random.RandomState,
    *,
    batch_size: int = 64,
    num_train: int = 10000,
    num_eval: int = 5000,
) -> dict[str, float]:
    """β-VAE score with dlib's unsupervised-study settings as defaults.

    Returns:
        ``train_accuracy`` and ``eval_accuracy`` (the reported score). The classifier is
        sklearn's default ``LogisticRegression`` of the installed version (dlib's numbers came
        from the sklearn of its time, whose default solver differed).
    """
    train_points, train_labels = generate_pair_differences(
        ground_truth, representation_function, batch_size, num_train, random_state
    )
    model = LogisticRegression(random_state=random_state).fit(train_points, train_labels)
    train_accuracy = np.mean(model.predict(train_points) == train_labels)
    eval_points, eval_labels = generate_pair_differences(
        ground_truth, representation_function, batch_size, num_eval, random_state
    )
    return {
        "train_accuracy": float(train_accuracy),
        "eval_accuracy": float(model.score(eval_points, eval_labels)),
    }


def generate_pair_differences(
    ground_truth: GroundTruth,
    representation_function: RepresentationFunction,
    batch_size: int,
    num_points: int,
    random_state: np.random.RandomState,
) -> tuple[np.ndarray, np.ndarray]:
    """``num_points`` feature vectors (num_points, num_codes) and the index of the factor each
    one kept fixed (num_points,)."""
    points, labels = [], np.zeros(num_points, dtype=np.int64)
    for i in range(num_points):
        labels[i] = random_state.randint(ground_truth.num_factors)
        factors1 = ground_truth.sample_factors(batch_size, random_state)
        factors2 = ground_truth.sample_factors(batch_size, random_state)
        factors2[:, labels[i]] = factors1[:, labels[i]]
        codes1 = representation_function(ground_truth.rows_from_factors(factors1, random_state))
        codes2 = representation_function(ground_truth.rows_from_factors(factors2, random_state))
        points.append(np.mean(np.abs(codes1 - codes2), axis=0))
    return np.array(points, dtype=np.float64), labels


build = factor_metric_factory(beta_vae_score)
