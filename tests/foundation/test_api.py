"""The public API's names and its typed evaluation result."""

from __future__ import annotations

import numpy as np

from disdiff_core import api
from disdiff_core.data.ground_truth import GroundTruth
from disdiff_core.evaluation import evaluate_codes


def test_every_public_name_exists() -> None:
    assert all(hasattr(api, name) for name in api.__all__)


def test_eval_result_reads_the_document_it_keeps() -> None:
    ground_truth = GroundTruth([3, 4], ["a", "b"])
    factors = np.stack(np.unravel_index(np.arange(12), [3, 4]), axis=1).astype(float)
    codes = factors + 0.01 * np.random.RandomState(0).randn(*factors.shape)
    record = evaluate_codes(codes, {"mig": {"num_train": 50}}, ground_truth=ground_truth,
                            seeds=(0, 1))
    result = api.EvalResult.from_record(record)
    summary = result.metrics["mig"]["discrete_mig"]
    assert summary.mean == record["metrics"]["mig"]["discrete_mig"]["mean"]
    assert len(summary.values) == 2 and result.seeds == (0, 1)
    assert result.modes == {"mig": "exact"} and result.reduction == "none"
    assert result.means() == {"mig/discrete_mig": summary.mean}
    assert result.record is not record and result.record == record and result.file is None
