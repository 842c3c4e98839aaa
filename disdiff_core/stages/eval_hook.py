"""Evaluation during DisDiff training (``train.eval_every``): every N steps, and after the last
step, the EMA encoder (eval mode) encodes the whole training store and the recipe's
``eval.metrics`` that score codes run in their FAST modes with seed 0. The numbers go to the
run's metrics log as ``eval/<metric>/<number>`` (e.g. ``eval/dci/disentanglement``).

These are progress indicators, not results: DCI's fast mode is not disentanglement_lib's
number, and only one seed runs. ``disdiff eval RUN`` gives the exact, multi-seed evaluation.
Metrics that need generated images (FID) are skipped here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from disdiff_core.app.results import EvalResult
from disdiff_core.data.store import open_store
from disdiff_core.disdiff import DisDiffModel
from disdiff_core.engine.trainer import Hook, Trainer
from disdiff_core.errors import RecipeError
from disdiff_core.evaluation import evaluate_codes
from disdiff_core.evaluation.evaluate import build_metrics
from disdiff_core.interfaces.metric import AttributeMetric, FactorMetric
from disdiff_core.loading import encode_store
from disdiff_core.recipes.model import Component
from disdiff_core.stages.plan import StageInputs

#: The metrics-log prefix of the hook's numbers.
HOOK_NAME = "eval"


def code_metrics(metrics: Sequence[Component], store: Any) -> dict[str, Any]:
    """Of a recipe's ``eval.metrics``, those that can score codes against what the store
    holds (factors, attributes), as name -> parameters."""
    requested = {m.plugin: m.params for m in metrics if m.plugin}
    usable = {}
    for name, (metric, _) in build_metrics(requested, fast=True).items():
        if isinstance(metric, FactorMetric) and store.has_factors or isinstance(metric, AttributeMetric) and store.attributes is not None:
            usable[name] = requested[name]
    return usable


def evaluation_hook(inputs: StageInputs, model: DisDiffModel) -> Hook | None:
    """The periodic evaluation hook of a DisDiff run, or None when ``train.eval_every`` is off.

    Raises RecipeError at set-up (not hours into training) when it is on but no metric of the
    recipe can score this store."""
    every = inputs.recipe.train.eval_every
    if every is None:
        return None
    store = open_store(inputs.store)
    metrics = code_metrics(inputs.recipe.eval.metrics, store)
    if not metrics:
        names = ", ".join(str(m.plugin) for m in inputs.recipe.eval.metrics) or "none"
        raise RecipeError(
            f"train.eval_every is set but no metric of eval.metrics ({names}) can score codes "
            f"against store {inputs.store} (it needs factors or attributes)"
        )
    ground_truth = store.ground_truth() if store.has_factors else None
    recipe = inputs.recipe

    def evaluate(trainer: Trainer) -> dict[str, float] | None:
        if not trainer.is_main:
            return None
        with trainer.ema_module():
            codes = encode_store(model, store)
        numbers = EvalResult.from_record(evaluate_codes(
            codes, metrics, ground_truth=ground_truth, attributes=store.attributes,
            reduction=recipe.eval.reduce, seeds=(0,), fast=True)).means()
        inputs.echo(f"step {trainer.step} eval (fast, seed 0): " + ", ".join(
            f"{key} {value:.3f}" for key, value in numbers.items()))
        return numbers

    return Hook(HOOK_NAME, every, evaluate, at_end=True)
