"""Score a code array with metric plugins over several seeds, and record how the numbers were
made: the metric settings and mode, the reduction, the dataset, the seeds and the versions of
the libraries the numbers depend on (dlib-style metrics drift with scikit-learn's version).

Seed s gives every metric its own ``numpy.random.RandomState(s)``, so seed 0 reproduces what
disentanglement_lib reports for the same codes.
"""

from __future__ import annotations

import importlib.metadata
import platform
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from pydantic import ValidationError

from disdiff_core import registry
from disdiff_core.data.ground_truth import GroundTruth
from disdiff_core.errors import DataError, PluginError
from disdiff_core.evaluation.codes import check_codes
from disdiff_core.evaluation.reduce import REDUCTIONS, default_reduction, reduce_codes
from disdiff_core.interfaces.metric import AttributeMetric, FactorMetric, Metric
from disdiff_core.validation import describe

#: Distributions whose versions change metric values, recorded with every result.
VERSIONED = ("numpy", "scikit-learn", "scipy", "torch", "disdiff")

MetricRequest = Mapping[str, Mapping[str, Any] | None] | Sequence[str]


def library_versions() -> dict[str, str | None]:
    """Installed versions of :data:`VERSIONED` and Python (read from package metadata, so
    nothing heavy, torch included, gets imported)."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in VERSIONED:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def summarize(values: Sequence[float]) -> dict[str, Any]:
    """Mean, population standard deviation (ddof=0) and the per-seed values."""
    array = np.asarray(values, dtype=np.float64)
    return {"mean": float(array.mean()), "std": float(array.std()), "values": array.tolist()}


def new_record() -> dict[str, Any]:
    """The per-metric sections of an evaluation document, still empty."""
    return {"metrics": {}, "settings": {}, "modes": {}, "codes_used": {}, "plugins": {},
            "seconds": {}}


def record_metric(
    result: dict[str, Any],
    name: str,
    metric: Metric,
    plugin: str,
    seeds: Sequence[int],
    score_seed: Callable[[int], Mapping[str, float]],
    *,
    codes_used: str,
    progress: Callable[[str], None] | None = None,
) -> None:
    """Score one metric once per seed (``score_seed(seed)``) and enter its numbers (mean, std,
    values), settings, mode, what it read (``codes_used``), plugin and time into ``result``
    (a :func:`new_record`). Code metrics and sample metrics are recorded the same way."""
    per_seed: dict[str, list[float]] = {}
    start = time.perf_counter()
    for seed in seeds:
        if progress:
            progress(f"{name} (seed {seed})")
        for key, value in score_seed(seed).items():
            per_seed.setdefault(key, []).append(float(value))
    result["metrics"][name] = {key: summarize(v) for key, v in per_seed.items()}
    result["settings"][name] = metric.settings()
    result["modes"][name] = metric.mode
    result["codes_used"][name] = codes_used
    result["plugins"][name] = plugin
    result["seconds"][name] = round(time.perf_counter() - start, 3)


def dataset_section(
    dataset: Mapping[str, Any] | None, num_images: int, ground_truth: GroundTruth | None
) -> dict[str, Any]:
    """The ``dataset`` section of an evaluation document: the caller's descriptive fields,
    the number of images and, for a factor grid, its factor names and sizes."""
    section = dict(dataset or {})
    section["num_images"] = num_images
    if ground_truth is not None:
        section["factor_names"] = ground_truth.factor_names
        section["factor_sizes"] = ground_truth.factor_sizes
    return section


def build_metrics(
    metrics: MetricRequest, *, fast: bool = False
) -> dict[str, tuple[Metric, str]]:
    """Build each requested metric plugin; returns name -> (metric, supplying distribution).

    Args:
        metrics: plugin names, or a mapping name -> parameters (None for the defaults).
        fast: run every metric that has a ``mode`` parameter in its fast mode, whatever
            ``mode`` its parameters say (a resolved recipe always spells out ``exact``).
    """
    requests = metrics if isinstance(metrics, Mapping) else {name: None for name in metrics}
    if not requests:
        raise DataError("no metrics were asked for")
    built = {}
    for name, raw in requests.items():
        entry = registry.entry_for("metric", name)
        params = dict(raw or {})
        if fast and "mode" in entry.spec.params.model_fields:
            params["mode"] = "fast"
        try:  # settings typed on a command line (eval-codes --set) reach here unchecked
            validated = entry.spec.validate(params)
        except ValidationError as exc:
            raise DataError(f"invalid settings for metric {name!r}: "
                            f"{describe(exc, model=entry.spec.params)}") from None
        metric = entry.spec.build(validated)
        if not isinstance(metric, Metric):
            raise PluginError(
                f"metric plugin {name!r} ({entry.target}) built a {type(metric).__name__}, not a "
                "disdiff_core.interfaces.metric.Metric (FactorMetric, AttributeMetric, ImageMetric)"
            )
        built[name] = (metric, f"{entry.distribution} {entry.version}")
    return built


def _check_inputs(
    metrics: Mapping[str, tuple[Metric, str]],
    num_images: int,
    ground_truth: GroundTruth | None,
    attributes: np.ndarray | None,
) -> None:
    """Fail before any metric runs when one cannot run on what was given."""
    if ground_truth is not None and ground_truth.num_rows != num_images:
        raise DataError(
            f"there are {num_images} code rows but the dataset has {ground_truth.num_rows} images; "
            "codes must hold one row per image in the dataset's canonical order"
        )
    if attributes is not None and len(attributes) != num_images:
        raise DataError(
            f"there are {num_images} code rows but {len(attributes)} attribute rows"
        )
    for name, (metric, _) in metrics.items():
        if isinstance(metric, FactorMetric) and ground_truth is None:
            raise DataError(f"metric {name!r} needs ground-truth factors; this dataset has none")
        if isinstance(metric, AttributeMetric) and attributes is None:
            raise DataError(f"metric {name!r} needs attribute labels; this dataset has none")
        if not isinstance(metric, FactorMetric | AttributeMetric):
            raise DataError(
                f"metric {name!r} needs {metric.requires}, not codes: it runs on a trained run "
                "(disdiff eval RUN), not on a code array"
            )


def evaluate_codes(
    codes: np.ndarray,
    metrics: MetricRequest,
    *,
    ground_truth: GroundTruth | None = None,
    attributes: np.ndarray | None = None,
    reduction: str | None = None,
    seeds: Sequence[int] = (0,),
    fast: bool = False,
    dataset: Mapping[str, Any] | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run metric plugins on a code array, once per seed.

    Args:
        codes: (num_images, num_codes) or (num_images, N, D), one row per image in the
            dataset's row order (the rows ``ground_truth`` maps factors to).
        metrics: plugin names, or name -> parameters (see :func:`build_metrics`).
        ground_truth: factors of the dataset, for metrics that require ``"factors"``.
        attributes: (num_images, num_attributes) labels, for metrics that require
            ``"attributes"``; these get the raw flattened codes (TAD's protocol: no PCA).
        reduction: ``pca1`` or ``none`` for the factor metrics' codes; default ``pca1`` for
            (images, N, D) codes and ``none`` for (images, codes). Recorded as ``none`` when
            only attribute metrics run.
        seeds: one run per seed, seed s -> ``numpy.random.RandomState(s)``.
        fast: use fast modes where metrics offer them (recorded per metric).
        dataset: descriptive fields recorded as they are (name, variant, path …).
        progress: called with a short message before each metric run.

    Returns:
        A JSON-ready dict: ``metrics`` (name -> number -> mean/std/values), ``settings``,
        ``modes``, ``codes_used``, ``plugins``, ``seconds``, ``codes``, ``dataset``,
        ``seeds`` and ``versions``.
    """
    codes = check_codes(codes)
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise DataError("at least one seed is needed")
    built = build_metrics(metrics, fast=fast)
    _check_inputs(built, len(codes), ground_truth, attributes)

    if reduction is not None and reduction not in REDUCTIONS:
        raise DataError(f"unknown reduction {reduction!r}; choose one of {', '.join(REDUCTIONS)}")
    needs_factors = any(isinstance(m, FactorMetric) for m, _ in built.values())
    # Only the factor metrics read reduced codes; attribute metrics always get the raw ones.
    reduction = (reduction or default_reduction(codes)) if needs_factors else "none"
    reduced = reduce_codes(codes, reduction) if needs_factors else None
    raw = codes.reshape(len(codes), -1)

    def representation(rows: np.ndarray) -> np.ndarray:
        return reduced[rows]

    def score(name: str, metric: Metric, random_state: np.random.RandomState) -> dict[str, Any]:
        """One metric run. Metrics, and the scikit-learn code under them, report codes they
        cannot score (too few codes for MIG, a single class for a classifier) as ValueError;
        that is a fact about the user's codes, so it becomes a DataError naming the metric."""
        try:
            if isinstance(metric, FactorMetric):
                return metric(ground_truth, representation, random_state)
            return metric(raw, attributes, random_state)
        except ValueError as exc:
            raise DataError(f"metric {name!r} cannot score these codes: {exc}") from exc

    result = new_record()
    for name, (metric, plugin) in built.items():
        record_metric(result, name, metric, plugin, seeds,
                      lambda seed, name=name, metric=metric: score(
                          name, metric, np.random.RandomState(seed)),
                      codes_used=reduction if isinstance(metric, FactorMetric) else "raw",
                      progress=progress)

    result.update(
        codes={
            "shape": list(codes.shape),
            "reduction": reduction,
            "num_codes": int(reduced.shape[1]) if reduced is not None else int(raw.shape[1]),
        },
        dataset=dataset_section(dataset, len(codes), ground_truth),
        seeds=seeds,
        versions=library_versions(),
    )
    return result
