"""The Mutual Information Gap (Chen et al., "Isolating Sources of Disentanglement in VAEs",
2018), as disentanglement_lib computes it (``evaluation/metrics/mig.py``): codes are binned into
equal-width histogram bins, and per factor the gap between the two codes sharing the most
mutual information with it is normalised by the factor's entropy."""

from __future__ import annotations

import numpy as np

from disdiff_core.data.ground_truth import GroundTruth
from disdiff_core.interfaces.metric import RepresentationFunction
from disdiff_plugins.metrics.utils import (
    discrete_entropy,
    discrete_mutual_info,
    factor_metric_factory,
    generate_batch_factor_code,
    histogram_discretize,
)


def mig(
    ground_truth: GroundTruth,
    representation_function: RepresentationFunction,
    random_state: np.random.RandomState,
    *,
    num_train: int = 10000,
    num_bins: int = 20,
    batch_size: int = 16,
) -> dict[str, float]:
    """MIG with dlib's unsupervised-study settings (20 histogram bins) as defaults.

    Returns:
        ``discrete_mig``. Needs at least two codes (the gap needs a runner-up).
    """
    codes, factors = generate_batch_factor_code(
        ground_truth, representation_function, num_train, random_state, batch_size
    )
    if codes.shape[0] < 2:
        raise ValueError("MIG needs at least two codes: the gap is between the best two")
    mutual_info = discrete_mutual_info(histogram_discretize(codes, num_bins), factors)
    return {"discrete_mig": mutual_information_gap(mutual_info, discrete_entropy(factors))}


def mutual_information_gap(mutual_info: np.ndarray, factor_entropy: np.ndarray) -> float:
    """Mean over factors of (largest - second largest MI over codes) / H(factor).

    Args:
        mutual_info: (num_codes, num_factors) in nats; factor_entropy: (num_factors,) in nats.
    """
    ranked = np.sort(mutual_info, axis=0)[::-1]
    return float(np.mean((ranked[0] - ranked[1]) / factor_entropy))


build = factor_metric_factory(mig)
