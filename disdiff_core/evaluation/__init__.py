"""Evaluation: reduce a run's codes, run metric plugins over seeds, record how the numbers were
made (settings, reduction, dataset, seeds, library versions)."""

from disdiff_core.evaluation.evaluate import evaluate_codes, library_versions
from disdiff_core.evaluation.reduce import REDUCTIONS, reduce_codes

__all__ = ["REDUCTIONS", "evaluate_codes", "library_versions", "reduce_codes"]
