"""TAD on synthetic attributes whose answer is known by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from disdiff_plugins.metrics import tad
from disdiff_plugins.metrics.specs import TAD


def two_independent_attributes(repeat: int = 25) -> np.ndarray:
    """Every combination of two binary attributes equally often: mutual information 0."""
    return np.tile(np.array([[0, 0], [0, 1], [1, 0], [1, 1]]), (repeat, 1))


def test_each_attribute_in_its_own_dimension_scores_the_hand_worked_total() -> None:
    attributes = two_independent_attributes()
    codes = np.concatenate([attributes, np.zeros((len(attributes), 1))], axis=1).astype(float)
    aurocs = tad.threshold_aurocs(codes, attributes > 0)
    # Own dimension: all 11 points at FPR 0 / TPR 1 except (1, 1) at threshold 0 -> area 1.
    # Other attribute's dimension: points (0.5, 0.5) and (1, 1) -> area 0.5 (the reverse
    # direction gives 0.25). The constant dimension's range is below 0.2: 0.5.
    np.testing.assert_allclose(aurocs, [[1.0, 0.5, 0.5], [0.5, 1.0, 0.5]])
    result = tad.tad(codes, attributes)
    assert result == {"TAD": pytest.approx(1.0), "attributes_captured": 2.0}


def test_an_attribute_explained_by_another_does_not_count() -> None:
    attributes = two_independent_attributes()
    attributes[:, 1] = attributes[:, 0]  # a copy: all of its entropy is explained
    codes = attributes.astype(float) * 2.0
    np.testing.assert_allclose(tad.entropy_reduction(attributes > 0), [1.0, 1.0])
    assert tad.tad(codes, attributes) == {"TAD": 0.0, "attributes_captured": 0.0}


def test_attribute_mutual_information_in_nats() -> None:
    attributes = two_independent_attributes() > 0
    mutual_info = tad.attribute_mutual_information(attributes)
    np.testing.assert_allclose(mutual_info, np.diag([math.log(2)] * 2), atol=1e-12)


def test_reversed_dimension_and_minus_one_labels() -> None:
    attributes = two_independent_attributes()
    # Continuous detectors in the "below threshold" direction: value falls with the attribute.
    spread = np.random.RandomState(0).uniform(0.0, 0.3, attributes.shape)
    codes = -attributes.astype(float) + spread
    result = tad.tad(codes, np.where(attributes > 0, 1, -1))  # CelebA's ±1 labels
    assert result == tad.tad(codes, attributes)
    assert result["attributes_captured"] == 2.0
    # Perfect separation, but the top threshold leaves out the one image at the maximum
    # (a negative): FPR reaches 49/50 only.
    aurocs = tad.threshold_aurocs(codes, attributes > 0)
    np.testing.assert_allclose(np.diag(aurocs), [1 - 1 / 50] * 2)


def test_reference_riemann_sum_never_reaches_the_corner_a_binary_reversed_code_misses() -> None:
    # The reference's area only spans the FPRs its thresholds reach: "z < thr" is never true
    # for every image, so a reversed binary code (values exactly at min and max) scores 0.
    attributes = two_independent_attributes()
    aurocs = tad.threshold_aurocs(-attributes.astype(float), attributes > 0)
    np.testing.assert_allclose(np.diag(aurocs), [0.0, 0.0])


def test_weak_detectors_are_not_captured() -> None:
    rng = np.random.RandomState(0)
    attributes = rng.randint(2, size=(400, 3))
    codes = rng.randn(400, 5)
    result = tad.tad(codes, attributes)
    assert result["attributes_captured"] == 0.0
    assert result["TAD"] == 0.0


def test_plugin_subsamples_images_with_its_random_state() -> None:
    attributes = two_independent_attributes(100)
    codes = attributes.astype(float) + 0.01 * np.random.RandomState(0).randn(400, 2)
    metric = TAD.build({"num_images": 120})
    first = metric(codes, attributes, np.random.RandomState(1))
    assert first == metric(codes, attributes, np.random.RandomState(1))
    assert first["attributes_captured"] == 2.0
    assert metric.requires == "attributes"
