"""TAD, the Total AUROC Difference (Yeats et al., "NashAE", 2022), as DisDiff's evaluation
script computes it on CelebA's 40 binary attributes. (InfoDiffusion's released script differs:
scikit-learn's AUROC over every dimension, standardised codes, folds; NashAE's own uses 101
thresholds. Baselines quoted from those protocols are close to, not equal to, this number.)

Per attribute and per code dimension whose range over the images exceeds ``min_range``, the
dimension is used as a detector: thresholds at ``num_thresholds`` evenly spaced fractions of its
range (0, 0.1, …, 1), in both directions (``z >= thr`` and ``z < thr``); the area under the
resulting (FPR, TPR) points, the better direction kept. Other dimensions score 0.5. Per
attribute, the gap between the best and second-best dimension. Attributes count when their best
AUROC reaches ``auroc_threshold`` and no other attribute explains much of them (largest mutual
information with another attribute / own entropy ≤ ``max_entropy_reduction``). TAD is the sum of
the gaps of the attributes that count; ``attributes_captured`` how many they are.

The area is the reference's right-Riemann sum over the threshold points (the FPR and TPR columns
each sorted ascending, Σ TPR[i]·(FPR[i] − FPR[i−1])), not a trapezoid through (0, 0) and (1, 1);
it is reproduced as is. The reference works in float32 torch; this works in float64 numpy, which
can move a point lying exactly on a threshold.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from disdiff_core.interfaces.metric import AttributeMetric


def tad(
    codes: np.ndarray,
    attributes: np.ndarray,
    *,
    min_range: float = 0.2,
    num_thresholds: int = 11,
    auroc_threshold: float = 0.75,
    max_entropy_reduction: float = 0.2,
) -> dict[str, float]:
    """TAD score of raw codes against binary attributes.

    Args:
        codes: (num_images, num_dims) raw codes (DisDiff: the flattened N·D code, no PCA).
        attributes: (num_images, num_attributes); values > 0 mean the attribute is present.

    Returns:
        ``TAD`` and ``attributes_captured``.
    """
    codes = np.asarray(codes, dtype=np.float64)
    labels = np.asarray(attributes) > 0
    aurocs = threshold_aurocs(codes, labels, min_range=min_range, num_thresholds=num_thresholds)
    best = aurocs.max(axis=1)
    gaps = best_auroc_gaps(aurocs)
    with np.errstate(divide="ignore", invalid="ignore"):
        reduction = entropy_reduction(labels)
        keep = (best >= auroc_threshold) & (reduction <= max_entropy_reduction)
    return {"TAD": float(gaps[keep].sum()), "attributes_captured": float(keep.sum())}


def threshold_aurocs(
    codes: np.ndarray, labels: np.ndarray, *, min_range: float = 0.2, num_thresholds: int = 11
) -> np.ndarray:
    """AUROC (num_attributes, num_dims) of thresholding each dimension, better direction.

    Args:
        codes: (num_images, num_dims) float; labels: (num_images, num_attributes) bool.
    """
    labels_f = labels.astype(np.float64)
    positives = labels_f.sum(axis=0)
    negatives = labels.shape[0] - positives
    low, high = codes.min(axis=0), codes.max(axis=0)
    fractions = np.linspace(0.0, 1.0, num_thresholds)
    aurocs = np.full((labels.shape[1], codes.shape[1]), 0.5)
    for dim in np.flatnonzero(high - low > min_range):
        thresholds = fractions * (high[dim] - low[dim]) + low[dim]
        above = (codes[:, dim, None] >= thresholds).astype(np.float64)  # (images, thresholds)
        true_pos = above.T @ labels_f  # (thresholds, attributes)
        false_pos = above.sum(axis=0)[:, None] - true_pos
        with np.errstate(divide="ignore", invalid="ignore"):
            area_above = riemann_area(false_pos / negatives, true_pos / positives)
            area_below = riemann_area(
                (negatives - false_pos) / negatives, (positives - true_pos) / positives
            )
        aurocs[:, dim] = np.maximum(area_above, area_below)
    return aurocs


def riemann_area(fpr: np.ndarray, tpr: np.ndarray) -> np.ndarray:
    """The reference's area under (FPR, TPR) points: each column sorted ascending over the
    thresholds (axis 0), then Σ_i TPR[i]·(FPR[i] − FPR[i−1]). Shapes (thresholds, attributes)."""
    fpr, tpr = np.sort(fpr, axis=0), np.sort(tpr, axis=0)
    return np.sum(tpr[1:] * np.diff(fpr, axis=0), axis=0)


def best_auroc_gaps(aurocs: np.ndarray) -> np.ndarray:
    """Per attribute (row), best AUROC minus the best of the other dimensions (num_attributes,)."""
    rows = np.arange(aurocs.shape[0])
    best_dim = aurocs.argmax(axis=1)
    others = aurocs.copy()
    others[rows, best_dim] = 0.0
    return aurocs[rows, best_dim] - others.max(axis=1)


def attribute_mutual_information(labels: np.ndarray) -> np.ndarray:
    """Mutual information (nats) between every pair of binary attributes (num_attr, num_attr);
    the diagonal holds each attribute's entropy. Cells of zero probability contribute 0."""
    present = labels.astype(np.float64)
    absent = 1.0 - present
    n = labels.shape[0]
    mutual_info = np.zeros((labels.shape[1], labels.shape[1]))
    for a in (absent, present):
        for b in (absent, present):
            joint = a.T @ b / n
            outer = np.outer(a.mean(axis=0), b.mean(axis=0))
            with np.errstate(divide="ignore", invalid="ignore"):
                term = joint * np.log(joint / outer)
            mutual_info += np.where((joint > 0) & (outer > 0), term, 0.0)
    return mutual_info


def entropy_reduction(labels: np.ndarray) -> np.ndarray:
    """Per attribute, the largest share of its entropy another attribute explains:
    1 − (H_i − max_{j≠i} I_ij) / H_i (NaN for a constant attribute, which never counts)."""
    mutual_info = attribute_mutual_information(labels)
    entropy = np.diag(mutual_info)
    largest_other = (mutual_info * (1.0 - np.eye(len(entropy)))).max(axis=1)
    return 1.0 - (entropy - largest_other) / entropy


class TAD(AttributeMetric):
    """The ``tad`` metric plugin: TAD over all images, or over ``num_images`` drawn without
    replacement from the random state when that parameter is set."""

    def __call__(
        self, codes: np.ndarray, attributes: np.ndarray, random_state: np.random.RandomState
    ) -> dict[str, float]:
        settings = dict(self.params)
        num_images = settings.pop("num_images")
        if num_images is not None and num_images < len(codes):
            rows = np.sort(random_state.choice(len(codes), num_images, replace=False))
            codes, attributes = codes[rows], attributes[rows]
        return tad(codes, attributes, **settings)


def build(params: Any, **_runtime: Any) -> TAD:
    """Build the ``tad`` metric plugin."""
    return TAD(params)
