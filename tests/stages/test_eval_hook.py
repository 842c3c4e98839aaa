"""Which of a recipe's metrics the training-time evaluation can run on a store."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from disdiff_core.recipes.model import Component
from disdiff_core.stages.eval_hook import code_metrics

METRICS = [Component(plugin="factorvae", params={"num_train": 100}), Component(plugin="tad"),
           Component(plugin="fid")]


def test_factor_store_gets_the_factor_metrics() -> None:
    store = SimpleNamespace(has_factors=True, attributes=None)
    assert code_metrics(METRICS, store) == {"factorvae": {"num_train": 100}}


def test_attribute_store_gets_the_attribute_metrics() -> None:
    store = SimpleNamespace(has_factors=False, attributes=np.zeros((4, 40), np.int8))
    assert list(code_metrics(METRICS, store)) == ["tad"]


def test_image_metrics_never_run_during_training() -> None:
    store = SimpleNamespace(has_factors=True, attributes=np.zeros((4, 40), np.int8))
    assert "fid" not in code_metrics(METRICS, store)
