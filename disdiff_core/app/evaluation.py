"""Evaluating representations: a run's codes of a store (``disdiff eval``) or a code file
(``disdiff eval-codes``), scored by metric plugins over seeds."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from disdiff_core.app.results import (
    ATTRIBUTE_METRICS,
    FACTOR_METRICS,
    EvalResult,
    Progress,
    silent,
)
from disdiff_core.app.runs import load_run
from disdiff_core.artifacts import save_codes
from disdiff_core.data.store import open_store
from disdiff_core.editing import build_sampler
from disdiff_core.errors import DataError
from disdiff_core.evaluation import evaluate_codes as score_codes
from disdiff_core.evaluation.codes import load_codes
from disdiff_core.evaluation.evaluate import (
    build_metrics,
    dataset_section,
    library_versions,
    new_record,
)
from disdiff_core.evaluation.samples import HOW as SAMPLES_HOW
from disdiff_core.evaluation.samples import score_samples
from disdiff_core.interfaces.metric import ImageMetric
from disdiff_core.io import unused_path, write_json_atomic
from disdiff_core.loading import check_image_shape, encode_store

#: Metric settings: ``{metric: {key: value}}``.
Settings = Mapping[str, Mapping[str, Any]]


def _with_settings(requested: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """The requested metrics with ``settings`` merged into their parameters; a setting for a
    metric that is not evaluated is an error (a typo would otherwise go unnoticed)."""
    unknown = sorted(set(settings) - set(requested))
    if unknown:
        raise DataError(f"--set names metrics that are not evaluated: {', '.join(unknown)}")
    return {name: {**(params or {}), **settings[name]} if name in settings else params
            for name, params in requested.items()}


def _store_fields(store: Any, path: Path) -> dict[str, Any]:
    return {"ground_truth": store.ground_truth() if store.has_factors else None,
            "attributes": store.attributes,
            "dataset": {"name": store.name, "variant": store.variant, "path": str(path)}}


def evaluate_run(
    run: str | Path,
    *,
    data: str | Path | None = None,
    metrics: Sequence[str] | None = None,
    seeds: int | None = None,
    reduce: str | None = None,
    settings: Settings | None = None,
    fast: bool = False,
    batch_size: int = 256,
    device: str | None = None,
    keep_codes: bool = True,
    progress: Progress = silent,
) -> EvalResult:
    """Encode a store with a finished run's EMA encoder (eval mode), score the codes and write
    the result into a new file of ``RUN/eval/`` (earlier results are kept); the codes are kept
    in the run's artifact store (``codes-step<N>-<store>``) unless ``keep_codes`` is False
    (the record's ``codes.artifact`` is then null). Image metrics (FID)
    score the run's samples against the store's images instead
    (:mod:`disdiff_core.evaluation.samples`, with the recipe's ``sample.sampler``); the store
    is then encoded only if a code metric is asked for too.

    Defaults come from the run's recipe: ``data.store``, ``eval.metrics`` (with their
    parameters), ``eval.seeds`` and ``eval.reduce``."""
    loaded = load_run(run, device=device)
    recipe = loaded.recipe
    store_path = Path(data) if data is not None else Path(recipe.data.store)
    store = open_store(store_path)
    check_image_shape(recipe, store.image_shape, f"store {store_path}")
    requested = ({name: None for name in metrics} if metrics
                 else {m.plugin: m.params for m in recipe.eval.metrics if m.plugin})
    requested = _with_settings(requested, settings or {})
    seed_list = list(range(seeds or recipe.eval.seeds))
    on_samples = {name: built for name, built in build_metrics(requested, fast=fast).items()
                  if isinstance(built[0], ImageMetric)}
    on_codes = {name: params for name, params in requested.items() if name not in on_samples}
    fields = _store_fields(store, store_path)
    if on_codes:
        if not store.has_factors and store.attributes is None:
            raise DataError(
                f"store {store_path} has neither factors nor attributes to score codes against")
        progress(f"encoding {store.num_images} images of {store_path}")
        codes = encode_store(loaded.model, store, batch_size=batch_size)
        kept = save_codes(loaded.path, loaded.step, store_path, codes) if keep_codes else None
        record = score_codes(codes, on_codes, reduction=reduce or recipe.eval.reduce,
                             seeds=seed_list, fast=fast,
                             progress=lambda message: progress(f"evaluating {message}"), **fields)
        record["codes"]["artifact"] = (None if kept is None
                                       else {"path": str(kept.parent), "key": kept.name})
    else:
        record = {**new_record(), "codes": {"shape": None, "reduction": "none", "num_codes": 0},
                  "dataset": dataset_section(fields["dataset"], store.num_images,
                                             fields["ground_truth"]),
                  "seeds": seed_list, "versions": library_versions()}
    if on_samples:
        sampler = build_sampler(recipe.sample.sampler)
        scored = score_samples(loaded.model, sampler, store, on_samples, seeds=seed_list,
                               batch_size=batch_size,
                               progress=lambda message: progress(f"sampling for {message}"))
        for section, entries in scored.items():
            record[section].update(entries)
        record["samples"] = {"how": SAMPLES_HOW, "batch_size": batch_size,
                             "sampler": recipe.sample.sampler.model_dump(mode="json")}
    record["run"] = {"path": str(run), "step": loaded.step,
                     "encoder": "EMA (exported) weights, eval mode"}
    target = unused_path(loaded.path / "eval", f"eval-step{loaded.step:07d}", ".json")
    write_json_atomic(target, record)
    return EvalResult.from_record(record, target)


def evaluate_codes(
    codes: str | Path | np.ndarray,
    data: str | Path,
    *,
    metrics: Sequence[str] | None = None,
    seeds: int = 1,
    reduce: str | None = None,
    settings: Settings | None = None,
    key: str | None = None,
    fast: bool = False,
    output: str | Path | None = None,
    progress: Progress = silent,
) -> EvalResult:
    """Score codes (an array, or a ``.npy``/``.npz``/zarr file and its ``key``), one row per
    image of the store at ``data`` in its row order, with metric plugins over seeds 0..K-1.

    Default metrics: factorvae and dci for a store with factors, tad for one with attributes.
    ``output``: also write the result JSON there."""
    array = codes if isinstance(codes, np.ndarray) else load_codes(Path(codes), key)
    store = open_store(data)
    if len(array) != store.num_images:
        raise DataError(
            f"{codes if not isinstance(codes, np.ndarray) else 'the code array'} has "
            f"{len(array)} code rows but the store {data} has {store.num_images} images; codes "
            "need one row per image, in the store's canonical order")
    names = list(metrics) if metrics else list(
        FACTOR_METRICS if store.has_factors else ATTRIBUTE_METRICS)
    requested = _with_settings({name: None for name in names}, settings or {})
    record = score_codes(array, requested, reduction=reduce, seeds=range(seeds), fast=fast,
                         progress=lambda message: progress(f"evaluating {message}"),
                         **_store_fields(store, Path(data)))
    if not isinstance(codes, np.ndarray):
        record["codes"]["path"] = str(codes)
    written = Path(output) if output is not None else None
    if written is not None:
        write_json_atomic(written, record)
    return EvalResult.from_record(record, written)
