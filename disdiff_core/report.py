"""Run reports: one Markdown or HTML page that gathers what a run directory holds (its state,
a summary of its recipe, loss and evaluation curves, the latest evaluation, its image grids),
written into a folder with every PNG beside the page, so the folder can be zipped and opened
anywhere.

The page is first built as a list of format-free blocks (headings, paragraphs, tables,
figures) and then rendered to Markdown or HTML, so the two formats never drift apart.
Nothing here imports torch; matplotlib is imported only when a plot is drawn.
"""

from __future__ import annotations

import html
import json
import math
import re
import shutil
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from typing import Any
from urllib.parse import quote

import disdiff_core
from disdiff_core.errors import DisdiffError, RunError
from disdiff_core.io import atomic_path, write_text_atomic
from disdiff_core.runs import Run
from disdiff_core.stage_table import COMPONENT_KINDS

FORMATS = ("md", "html")
#: Names of what a report folder holds, beside the images copied into ``images/``.
REPORT_FILE = {"md": "report.md", "html": "report.html"}
LOSS_PLOT = "loss.png"
EVAL_PLOT = "eval.png"
RECIPE_COPY = "recipe.yaml"
IMAGES_FOLDER = "images"

#: Metrics-log keys that describe the optimisation rather than a loss term.
BOOKKEEPING = frozenset({"step", "time", "lr", "steps_per_s", "skipped"})
#: Prefix of the numbers the training-time evaluation hook logs (``eval/<metric>/<number>``).
EVAL_PREFIX = "eval/"
#: Prefix of the gradient instrument's numbers (disdiff_core/stages/gradient_hook.py).
GRADIENT_PREFIX = "grad_z/"

#: Recipe settings the summary lists, as dotted keys of the resolved recipe.
RECIPE_SETTINGS = (
    "data.store", "data.source", "train.steps", "train.batch_size", "train.lr",
    "train.warmup_steps", "train.ema_decay", "train.eval_every", "train.sample_every",
    "sample.num_images", "eval.reduce", "eval.seeds",
)
#: Recipe components the summary lists: (role shown: the plugin kind, dotted key; lists give
#: one row each).
RECIPE_COMPONENTS = tuple((kind, key) for key, kind in COMPONENT_KINDS.items())

#: Curves by name: name -> (steps, values), in logging order.
Series = dict[str, tuple[list[int], list[float]]]


# -- the document model ------------------------------------------------------------------------
@dataclass(frozen=True)
class Code:
    """Inline monospaced text: paths, plugin names, recipe keys."""

    text: str


@dataclass(frozen=True)
class Link:
    """An inline link to a file of the report folder (``href`` relative to the page)."""

    text: str
    href: str


Inline = str | Code | Link
Text = Inline | Sequence[Inline]


@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 2


@dataclass(frozen=True)
class Paragraph:
    text: Text


@dataclass(frozen=True)
class Table:
    header: tuple[str, ...]
    rows: list[tuple[Text, ...]]


@dataclass(frozen=True)
class Figure:
    """An image of the report folder (``src`` relative to the page) with a caption."""

    src: str
    caption: str
    pixel_art: bool = False  # small sample grids: scale up without smoothing


Block = Heading | Paragraph | Table | Figure


# -- gathering ---------------------------------------------------------------------------------
@dataclass
class RunReport:
    """What a run directory holds, read once; everything the page shows comes from here."""

    run: Run
    info: dict[str, Any]
    recipe: dict[str, Any] | None
    recipe_problem: str | None
    records: list[dict[str, Any]]
    evaluation: dict[str, Any] | None
    evaluation_file: Path | None
    eval_problems: list[str] = field(default_factory=list)
    images: list[Path] = field(default_factory=list)  # relative to the run's images/


def natural_key(name: str) -> list[Any]:
    """Sort key that orders ``samples-step50`` before ``samples-step300``."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def _read_recipe(run: Run) -> tuple[dict[str, Any] | None, str | None]:
    """The run's resolved recipe as a raw mapping (not validated: a report should still show a
    run whose plugins are no longer installed), or the reason it cannot be read."""
    from disdiff_core.recipes.yaml_io import read_yaml

    if not run.recipe_path.is_file():
        return None, f"{run.recipe_path} is missing"
    try:
        return read_yaml(run.recipe_path), None
    except DisdiffError as exc:
        return None, str(exc)


def _read_evaluation(path: Path) -> dict[str, Any]:
    """One ``disdiff eval`` result; ValueError when it is not one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot read {path.name}: {exc}") from None
    metrics = data.get("metrics") if isinstance(data, dict) else None
    if not isinstance(metrics, dict) or not all(
        isinstance(numbers, dict) and all(isinstance(n, dict) and "mean" in n
                                          for n in numbers.values())
        for numbers in metrics.values()
    ):
        raise ValueError(f"{path.name} is not a `disdiff eval` result (no metrics with means)")
    return data


def _latest_evaluation(run: Run) -> tuple[dict[str, Any] | None, Path | None, list[str]]:
    """The newest readable result in ``eval/`` (by modification time, then name), and a note
    for every newer file that could not be read."""
    files = list(run.eval_dir.glob("*.json")) if run.eval_dir.is_dir() else []
    files.sort(key=lambda p: (p.stat().st_mtime, natural_key(p.name)), reverse=True)
    problems = []
    for path in files:
        try:
            return _read_evaluation(path), path, problems
        except ValueError as exc:
            problems.append(str(exc))
    return None, None, problems


def gather(run: Run) -> RunReport:
    """Read everything a report shows from a run directory."""
    recipe, recipe_problem = _read_recipe(run)
    evaluation, evaluation_file, eval_problems = _latest_evaluation(run)
    images = sorted(
        (p.relative_to(run.images_dir) for p in run.images_dir.rglob("*.png") if p.is_file()),
        key=lambda p: [natural_key(part) for part in p.parts],
    ) if run.images_dir.is_dir() else []
    return RunReport(run=run, info=run.info, recipe=recipe, recipe_problem=recipe_problem,
                     records=run.read_metrics(), evaluation=evaluation,
                     evaluation_file=evaluation_file, eval_problems=eval_problems, images=images)


# -- metrics-log curves ------------------------------------------------------------------------
def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def is_loss_term(key: str) -> bool:
    """Loss terms are the plain numbers of the log: not bookkeeping, not a hook's
    ``<hook>/<number>`` (evaluation, samples)."""
    return key not in BOOKKEEPING and "/" not in key


def is_training_curve(key: str) -> bool:
    """What the training plot shows: the loss terms and instruments of the log, and the
    gradient instrument's ``grad_z/*`` numbers."""
    return is_loss_term(key) or key.startswith(GRADIENT_PREFIX)


#: Panels of the training plot, by a key's family (its first ``_``-separated word).
TRAINING_PANELS = {
    "acc": "top-1 accuracy of the disentangling logits (chance = 1/N)",
    "spread": "spread of the disentangling logits (max - min)",
    "w": "dynamic weight w (w_t0..4: its sum over timestep fifths)",
    "z": "code norms |z_k|",
}
LOSS_PANEL = "loss terms"
GRADIENT_PANEL = "gradient reaching the codes, by term (grad_z)"


def group_training_series(series: Series) -> dict[str, Series]:
    """Training curves in panels: loss terms first, then each instrument family."""
    panels: dict[str, Series] = {LOSS_PANEL: {}}
    for key, curve in series.items():
        if key.startswith(GRADIENT_PREFIX):
            panel = GRADIENT_PANEL
        else:
            panel = TRAINING_PANELS.get(key.split("_")[0], LOSS_PANEL)
        panels.setdefault(panel, {})[key.removeprefix(GRADIENT_PREFIX)] = curve
    return {title: curves for title, curves in panels.items() if curves}


def is_eval_number(key: str) -> bool:
    return key.startswith(EVAL_PREFIX)


def collect_series(records: Sequence[Mapping[str, Any]], keep: Callable[[str], bool]) -> Series:
    """Curves of the numeric keys ``keep`` accepts, each over the records that hold it."""
    series: Series = {}
    for record in records:
        step = record.get("step")
        if not _is_number(step):
            continue
        for key, value in record.items():
            if keep(key) and _is_number(value):
                steps, values = series.setdefault(key, ([], []))
                steps.append(int(step))
                values.append(float(value))
    return series


def split_eval_key(key: str) -> tuple[str, str]:
    """``eval/dci/disentanglement`` -> (``dci``, ``disentanglement``)."""
    metric, _, number = key.removeprefix(EVAL_PREFIX).partition("/")
    return metric, number or metric


def group_eval_series(series: Series) -> dict[str, Series]:
    """Evaluation curves grouped by metric (one plot panel each), keyed by number name."""
    panels: dict[str, Series] = {}
    for key, curve in series.items():
        metric, number = split_eval_key(key)
        panels.setdefault(metric, {})[number] = curve
    return panels


def plot_curves(panels: Mapping[str, Series], *, log_y_when_positive: bool) -> bytes:
    """Draw one panel per entry (its curves against step) and return the PNG bytes.

    ``log_y_when_positive`` puts a panel on a log y-axis when all its finite values are
    positive (loss terms of different scales then stay readable together). Curves of few
    points get markers so that a single record still shows.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure as MplFigure

    figure = MplFigure(figsize=(8.0, max(4.0, 3.0 * len(panels))), dpi=100,
                       layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(len(panels), 1, squeeze=False, sharex=True)[:, 0]
    for ax, (title, series) in zip(axes, panels.items(), strict=True):
        finite = [v for _, values in series.values() for v in values if math.isfinite(v)]
        for name, (steps, values) in series.items():
            clean = [v if math.isfinite(v) else math.nan for v in values]
            ax.plot(steps, clean, label=name, marker="o" if len(steps) <= 20 else None,
                    markersize=4, linewidth=1.2)
        if log_y_when_positive and finite and min(finite) > 0:
            ax.set_yscale("log")
        ax.set_title(title)
        ax.grid(True, alpha=0.3, which="both")
        ax.legend(loc="best", fontsize="small")
    axes[-1].set_xlabel("step")
    buffer = BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


# -- formatting helpers ------------------------------------------------------------------------
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


# -- the page ----------------------------------------------------------------------------------
def _state_section(report: RunReport) -> list[Block]:
    info = report.info
    steps = dig(report.recipe, "train.steps")
    step = f"{info.get('step')} of {steps}" if _is_number(steps) else str(info.get("step"))
    rows: list[tuple[Text, ...]] = [
        ("name", str(info.get("name"))), ("stage", str(info.get("stage"))),
        ("status", str(info.get("status"))), ("step", step),
        ("created", str(info.get("created"))), ("updated", str(info.get("updated"))),
    ]
    known = {"name", "stage", "status", "step", "created", "updated", "parents"}
    rows += [(key, format_value(value)) for key, value in info.items()
             if key not in known and not isinstance(value, Mapping | list)]
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
    steps = [int(r["step"]) for r in records if _is_number(r.get("step"))]
    summary = f"{len(records)} logged record{'s' if len(records) != 1 else ''}"
    if len(set(steps)) > 1:
        summary += f", steps {min(steps)} to {max(steps)}"
    elif steps:
        summary += f" at step {steps[0]}"
    last = {key: value for r in records for key, value in r.items()}
    for key, label in (("lr", "last lr {}"), ("steps_per_s", "{} steps/s"),
                       ("skipped", "{} non-finite steps skipped")):
        if _is_number(last.get(key)):
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
            for key, value in latest.items() if is_eval_number(key) and _is_number(value)]
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


# -- rendering ---------------------------------------------------------------------------------
def _parts(text: Text) -> Sequence[Inline]:
    return [text] if isinstance(text, str | Code | Link) else text


#: Characters Markdown reads as markup; ``_`` only at a word's edge (``num_train`` stays).
_MD_SPECIAL = re.compile(r"[\\`*\[\]<>]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")


def _md_escape(text: str) -> str:
    return _MD_SPECIAL.sub(lambda match: "\\" + match.group(0), text)


def _md_inline(text: Text) -> str:
    rendered = []
    for part in _parts(text):
        if isinstance(part, Code):
            ticks = "`" * (max((len(m) for m in re.findall(r"`+", part.text)), default=0) + 1)
            pad = " " if part.text.startswith("`") or part.text.endswith("`") else ""
            rendered.append(f"{ticks}{pad}{part.text}{pad}{ticks}")
        elif isinstance(part, Link):
            rendered.append(f"[{_md_escape(part.text)}]({quote(part.href)})")
        else:
            rendered.append(_md_escape(part))
    return "".join(rendered).replace("\n", " ")


def _md_cell(text: Text) -> str:
    return _md_inline(text).replace("|", "\\|")


def render_markdown(blocks: Sequence[Block]) -> str:
    """GitHub-flavoured Markdown (tables, relative image links)."""
    lines: list[str] = []
    for block in blocks:
        if isinstance(block, Heading):
            lines.append("#" * block.level + " " + _md_inline(block.text))
        elif isinstance(block, Paragraph):
            lines.append(_md_inline(block.text))
        elif isinstance(block, Table):
            lines.append("| " + " | ".join(_md_cell(h) for h in block.header) + " |")
            lines.append("|" + "|".join("---" for _ in block.header) + "|")
            lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in block.rows]
        else:
            lines.append(f"![{_md_cell(block.caption)}]({quote(block.src)})  \n"
                         f"*{_md_inline(block.caption)}*")
        lines.append("")
    return "\n".join(lines)


def _html_inline(text: Text) -> str:
    rendered = []
    for part in _parts(text):
        if isinstance(part, Code):
            rendered.append(f"<code>{html.escape(part.text)}</code>")
        elif isinstance(part, Link):
            rendered.append(f'<a href="{html.escape(quote(part.href))}">'
                            f"{html.escape(part.text)}</a>")
        else:
            rendered.append(html.escape(part))
    return "".join(rendered)


_CSS = """
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem;
       color: #222; line-height: 1.45; }
h1 { border-bottom: 2px solid #ddd; padding-bottom: .3rem; }
h2 { border-bottom: 1px solid #eee; padding-bottom: .2rem; margin-top: 2rem; }
table { border-collapse: collapse; margin: .8rem 0; }
th, td { border: 1px solid #ddd; padding: .25rem .6rem; text-align: left; vertical-align: top; }
th { background: #f5f5f5; }
code { background: #f3f3f3; padding: 0 .2rem; border-radius: 3px; font-size: .92em; }
figure { margin: 1rem 0; }
figure img { max-width: 100%; border: 1px solid #eee; }
figure img.pixel-art { min-width: 16rem; image-rendering: pixelated; }
figcaption { color: #666; font-size: .9em; }
"""


def render_html(blocks: Sequence[Block]) -> str:
    """One self-contained HTML page (inline CSS, images by relative path)."""
    title = next((b.text for b in blocks if isinstance(b, Heading)), "disdiff run report")
    body: list[str] = []
    for block in blocks:
        if isinstance(block, Heading):
            body.append(f"<h{block.level}>{_html_inline(block.text)}</h{block.level}>")
        elif isinstance(block, Paragraph):
            body.append(f"<p>{_html_inline(block.text)}</p>")
        elif isinstance(block, Table):
            head = "".join(f"<th>{_html_inline(h)}</th>" for h in block.header)
            head_row = f"<thead><tr>{head}</tr></thead>" if any(block.header) else ""
            rows = "\n".join("<tr>" + "".join(f"<td>{_html_inline(c)}</td>" for c in row)
                             + "</tr>" for row in block.rows)
            body.append(f"<table>{head_row}<tbody>\n{rows}\n</tbody></table>")
        else:
            css_class = ' class="pixel-art"' if block.pixel_art else ""
            body.append(f'<figure><img src="{html.escape(quote(block.src))}" '
                        f'alt="{html.escape(block.caption)}"{css_class}>'
                        f"<figcaption>{html.escape(block.caption)}</figcaption></figure>")
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<title>{html.escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        + "\n".join(body) + "\n</body>\n</html>\n"
    )


# -- writing -----------------------------------------------------------------------------------
def _write_bytes_atomic(path: Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def _copy_atomic(source: Path, target: Path) -> None:
    with atomic_path(target) as tmp:
        shutil.copyfile(source, tmp)


def write_report(run: Run, out_dir: str | Path | None = None, fmt: str = "md") -> Path:
    """Write the report of ``run`` into ``out_dir`` (default ``RUN/report``): the page
    (``report.md`` or ``report.html``), ``loss.png`` and ``eval.png`` when there are curves,
    a copy of the resolved recipe and of every PNG of ``RUN/images`` under ``images/``.
    Every file is written atomically. Returns the page's path."""
    if fmt not in FORMATS:
        raise RunError(f"unknown report format {fmt!r}; choose one of {', '.join(FORMATS)}")
    out = Path(out_dir) if out_dir is not None else run.path / "report"
    report = gather(run)

    loss_plot = eval_plot = None
    losses = collect_series(report.records, is_training_curve)
    if losses:
        _write_bytes_atomic(out / LOSS_PLOT,
                            plot_curves(group_training_series(losses), log_y_when_positive=True))
        loss_plot = LOSS_PLOT
    evals = collect_series(report.records, is_eval_number)
    if evals:
        _write_bytes_atomic(out / EVAL_PLOT,
                            plot_curves(group_eval_series(evals), log_y_when_positive=False))
        eval_plot = EVAL_PLOT
    images: list[str] = []
    for relative in report.images:
        _copy_atomic(run.images_dir / relative, out / IMAGES_FOLDER / relative)
        images.append(Path(IMAGES_FOLDER, relative).as_posix())
    recipe_copied = run.recipe_path.is_file()
    if recipe_copied:
        _copy_atomic(run.recipe_path, out / RECIPE_COPY)

    blocks = build_document(report, loss_plot=loss_plot, eval_plot=eval_plot, images=images,
                            recipe_copied=recipe_copied)
    page = out / REPORT_FILE[fmt]
    write_text_atomic(page, render_markdown(blocks) if fmt == "md" else render_html(blocks))
    return page
