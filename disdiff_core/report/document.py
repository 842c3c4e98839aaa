"""The report page as blocks: the run's state, a summary of its recipe, its training and
evaluation curves, the latest evaluation and its image grids."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import disdiff_core
from disdiff_core.report.blocks import (
    Block,
    Code,
    Figure,
    Heading,
    Inline,
    Link,
    Paragraph,
    Table,
    Text,
)
from disdiff_core.report.gather import RunReport
from disdiff_core.report.series import (
    collect_series,
    is_eval_number,
    is_loss_term,
    is_number,
    split_eval_key,
)
from disdiff_core.runs import environment_line
from disdiff_core.stage_table import COMPONENT_KINDS

FORMATS = ("md", "html")
#: Names of what a report folder holds, beside the images copied into ``images/``.
REPORT_FILE = {"md": "report.md", "html": "report.html"}
LOSS_PLOT = "loss.png"
EVAL_PLOT = "eval.png"
RECIPE_COPY = "recipe.yaml"
IMAGES_FOLDER = "images"

#: Recipe settings the summary lists, as dotted keys of the resolved recipe.
RECIPE_SETTINGS = (
    "data.store", "data.source", "train.steps", "train.batch_size", "train.lr",
    "train.warmup_steps", "train.ema_decay", "train.eval_every", "train.sample_every",
    "sample.num_images", "eval.reduce", "eval.seeds",
)
#: Recipe components the summary lists: (role shown: the plugin kind, dotted key; lists give
#: one row each).
RECIPE_COMPONENTS = tuple((kind, key) for key, kind in COMPONENT_KINDS.items())


def format_value(value: Any) -> str:
    """A recipe or log value as people write it: 0.001, true, [1, 2], null."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {format_value(v)}" for k, v in value.items()) + "}"
    return str(value)


def _flat_params(params: Mapping[str, Any], prefix: str = "") -> Iterator[str]:
    """``key=value`` for every set parameter; nested mappings as dotted keys."""
    for key, value in params.items():
        if isinstance(value, Mapping):
            yield from _flat_params(value, f"{prefix}{key}.")
        elif value is not None:
            yield f"{prefix}{key}={format_value(value)}"


def dig(mapping: Any, dotted: str) -> Any:
    """``mapping["a"]["b"]`` for ``"a.b"``; None where a level is missing."""
    for part in dotted.split("."):
        mapping = mapping.get(part) if isinstance(mapping, Mapping) else None
    return mapping


def _number(value: float) -> str:
    return f"{value:.4g}" if math.isfinite(value) else str(value)


def _state_section(report: RunReport) -> list[Block]:
    info = report.info
    steps = dig(report.recipe, "train.steps")
    step = f"{info.get('step')} of {steps}" if is_number(steps) else str(info.get("step"))
    rows: list[tuple[Text, ...]] = [
        ("name", str(info.get("name"))), ("stage", str(info.get("stage"))),
        ("status", str(info.get("status"))), ("step", step),
        ("created", str(info.get("created"))), ("updated", str(info.get("updated"))),
    ]
    known = {"name", "stage", "status", "step", "created", "updated", "parents"}
    rows += [(key, format_value(value)) for key, value in info.items()
             if key not in known and not isinstance(value, Mapping | list)]
    environment = environment_line(info)
    if environment:
        rows.append(("trained on", environment))
    rows += [(f"uses {role}", Code(str(parent)))
             for role, parent in (info.get("parents") or {}).items()]
    rows.append(("path", Code(str(report.run.path.resolve()))))
    return [Heading("State"), Table(("", ""), rows)]


def _component_rows(recipe: Mapping[str, Any]) -> list[tuple[Text, ...]]:
    rows: list[tuple[Text, ...]] = []
    for role, key in RECIPE_COMPONENTS:
        found = dig(recipe, key)
        for component in found if isinstance(found, list) else [found]:
            if not isinstance(component, Mapping):
                continue
            plugin = component.get("plugin")
            source: list[Inline] = []
            if component.get("from_run"):
                source += ["run ", Code(str(component["from_run"]))]
            if component.get("checkpoint"):
                checkpoint = Code(str(component["checkpoint"]))
                source += ["; " if source else "", "checkpoint ", checkpoint]
            # A component taken from an earlier run carries that run's parameters.
            listed = ", ".join(_flat_params(component.get("params") or {}))
            params: Text = "see that run" if component.get("from_run") else (
                Code(listed) if listed else "")
            rows.append((Code(role), Code(str(plugin)) if plugin else "",
                         source, params))
    return rows


def _recipe_section(report: RunReport, copied: bool) -> list[Block]:
    blocks: list[Block] = [Heading("Recipe")]
    recipe = report.recipe or {}
    if report.recipe is None:
        blocks.append(Paragraph(f"The recipe cannot be summarised: {report.recipe_problem}."))
    if recipe.get("description"):
        blocks.append(Paragraph(str(recipe["description"])))
    components = _component_rows(recipe)
    if components:
        blocks.append(Table(("part", "plugin", "from", "parameters"), components))
    settings = [(Code(key), Code(format_value(dig(recipe, key)))) for key in RECIPE_SETTINGS
                if dig(recipe, key) is not None]
    if settings:
        blocks.append(Table(("setting", "value"), settings))
    if copied:
        full: list[Inline] = ["Full resolved recipe: ", Link(RECIPE_COPY, RECIPE_COPY),
                              " (a copy of ", Code(str(report.run.recipe_path.resolve())), ")"]
        provenance = recipe.get("provenance") or {}
        if provenance.get("recipe_file"):
            full += [", written from ", Code(str(provenance["recipe_file"]))]
        if provenance.get("disdiff"):
            full += [f" by disdiff {provenance['disdiff']}"]
        blocks.append(Paragraph([*full, "."]))
    return blocks


def _training_section(report: RunReport, loss_plot: str | None) -> list[Block]:
    blocks: list[Block] = [Heading("Training")]
    records = report.records
    if not records:
        return [*blocks, Paragraph("No metrics logged yet (metrics.jsonl is missing or empty).")]
    steps = [int(r["step"]) for r in records if is_number(r.get("step"))]
    summary = f"{len(records)} logged record{'s' if len(records) != 1 else ''}"
    if len(set(steps)) > 1:
        summary += f", steps {min(steps)} to {max(steps)}"
    elif steps:
        summary += f" at step {steps[0]}"
    last = {key: value for r in records for key, value in r.items()}
    for key, label in (("lr", "last lr {}"), ("steps_per_s", "{} steps/s"),
                       ("skipped", "{} non-finite steps skipped")):
        if is_number(last.get(key)):
            summary += ", " + label.format(_number(float(last[key])))
    blocks.append(Paragraph(summary + "."))
    losses = collect_series(records, is_loss_term)
    if not losses:
        return [*blocks, Paragraph("No loss terms in the log.")]
    rows: list[tuple[Text, ...]] = []
    for name, (term_steps, values) in losses.items():
        finite = [(v, s) for s, v in zip(term_steps, values, strict=True) if math.isfinite(v)]
        low_value, low_step = min(finite) if finite else (math.nan, None)
        lowest = f"{_number(low_value)} (step {low_step})" if finite else "-"
        rows.append((Code(name), _number(values[0]), _number(values[-1]), lowest))
    blocks.append(Table(("term", "first", "latest", "lowest"), rows))
    if loss_plot:
        blocks.append(Figure(loss_plot, "loss terms against step"))
    return blocks


def _evaluation_table(evaluation: Mapping[str, Any]) -> Table:
    rows: list[tuple[Text, ...]] = []
    for metric, numbers in evaluation["metrics"].items():
        for number, stats in numbers.items():
            mean, std = float(stats["mean"]), float(stats.get("std") or 0.0)
            per_seed = ", ".join(f"{float(v):.4f}" for v in stats.get("values") or [])
            rows.append((Code(metric), number, f"{mean:.4f} ± {std:.4f}", per_seed))
    return Table(("metric", "number", "mean ± std", "per seed"), rows)


def _evaluation_details(evaluation: Mapping[str, Any]) -> list[tuple[Text, ...]]:
    def per_metric(key: str) -> str:
        found = evaluation.get(key) or {}
        return ", ".join(f"{m}: {format_value(v)}" for m, v in found.items())

    dataset = evaluation.get("dataset") or {}
    described = " ".join(str(dataset[k]) for k in ("name", "variant") if dataset.get(k))
    if dataset.get("num_images"):
        described += f", {dataset['num_images']} images"
    if dataset.get("factor_names"):
        described += f", factors {format_value(dataset['factor_names'])}"
    versions = evaluation.get("versions") or {}
    rows: list[tuple[Text, ...]] = [
        ("run step", format_value(dig(evaluation, "run.step"))),
        ("seeds", ", ".join(format_value(seed) for seed in evaluation.get("seeds") or [])),
        ("reduction", format_value(dig(evaluation, "codes.reduction"))),
        ("codes used", per_metric("codes_used")),
        ("modes", per_metric("modes")),
        ("dataset", described),
        ("dataset path", Code(str(dataset["path"])) if dataset.get("path") else ""),
        ("versions", ", ".join(f"{k} {v}" for k, v in versions.items() if v)),
    ]
    return [row for row in rows if row[1] not in ("", "null")]


def _evaluation_section(report: RunReport, eval_plot: str | None) -> list[Block]:
    blocks: list[Block] = [Heading("Evaluation")]
    blocks += [Paragraph(f"Skipped an unreadable result: {problem}.")
               for problem in report.eval_problems]
    evaluation, source = report.evaluation, report.evaluation_file
    logged = [r for r in report.records if any(is_eval_number(k) for k in r)]
    if evaluation is not None and source is not None:
        blocks.append(Paragraph(["Latest ", Code("disdiff eval"), " result, ",
                                 Code(f"{source.parent.name}/{source.name}"), ":"]))
        blocks.append(_evaluation_table(evaluation))
        blocks.append(Table(("", ""), _evaluation_details(evaluation)))
    elif logged:
        latest = logged[-1]
        note = (f" result in eval/ yet. Fast training-time evaluation logged at step "
                f"{latest.get('step')} (fast metric modes, seed 0: progress indicators, not "
                "results; run ")
        blocks.append(Paragraph(["No ", Code("disdiff eval"), note,
                                 Code(f"disdiff eval {report.run.path}"),
                                 " for the exact multi-seed numbers):"]))
        rows: list[tuple[Text, ...]] = [
            (Code(split_eval_key(key)[0]), split_eval_key(key)[1], _number(float(value)))
            for key, value in latest.items() if is_eval_number(key) and is_number(value)]
        blocks.append(Table(("metric", "number", "value"), rows))
    else:
        blocks.append(Paragraph(["No evaluation yet (for a DisDiff run: ",
                                 Code(f"disdiff eval {report.run.path}"), ")."]))
    if eval_plot:
        blocks.append(Figure(eval_plot, "training-time evaluation against step (fast modes)"))
    return blocks


def _images_section(images: Sequence[str]) -> list[Block]:
    blocks: list[Block] = [Heading("Images")]
    if not images:
        return [*blocks, Paragraph("No images in images/ yet.")]
    return [*blocks, *(Figure(src, src.removeprefix(f"{IMAGES_FOLDER}/"), pixel_art=True)
                       for src in images)]


def build_document(report: RunReport, *, loss_plot: str | None, eval_plot: str | None,
                   images: Sequence[str], recipe_copied: bool) -> list[Block]:
    """The report page as blocks; file arguments are paths relative to the page."""
    info = report.info
    return [
        Heading(f"Run report: {info.get('name')}", level=1),
        Paragraph([f"A {info.get('stage')} run, {info.get('status')} at step {info.get('step')}.",
                   f" Written {time.strftime('%Y-%m-%d %H:%M:%S')} by ",
                   Code("disdiff runs report"), f" (disdiff {disdiff_core.__version__})."]),
        *_state_section(report),
        *_recipe_section(report, recipe_copied),
        *_training_section(report, loss_plot),
        *_evaluation_section(report, eval_plot),
        *_images_section(images),
    ]

