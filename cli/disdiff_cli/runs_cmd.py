"""``disdiff runs list|show|report|compare``: the run directories under a folder, one run in
detail, one run's report (a Markdown or HTML page with its plots and images beside it), and
several runs side by side."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from disdiff_cli.console import err, out, print_json

runs_app = typer.Typer(help="List, inspect, report on and compare run directories.",
                       no_args_is_help=True)


@runs_app.command("list")
def list_runs(
    root: Annotated[Path, typer.Argument(help="folder to search for runs")] = Path("runs"),
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """List every run found under ROOT (name, stage, status, step)."""
    from disdiff_core.errors import RunError
    from disdiff_core.runs import find_runs

    summaries = []
    for run in find_runs(root):
        try:
            summaries.append(run.summary())
        except RunError as exc:  # one damaged run.json is listed as such, not hiding the rest
            summaries.append({"path": str(run.path), "name": run.path.name, "stage": None,
                              "status": "unreadable", "step": None, "updated": None,
                              "error": str(exc)})
    if as_json:
        print_json(summaries)
        return
    table = Table(title=f"runs under {root}")
    table.add_column("name", overflow="fold")  # name and path wrap, never cut: they are
    for column in ("stage", "status", "step", "updated"):  # there to be read and copied
        table.add_column(column)
    table.add_column("path", overflow="fold")
    for s in summaries:
        step = "" if s["step"] is None else str(s["step"])
        table.add_row(escape(str(s["name"])), s["stage"] or "", s["status"], step,
                      s["updated"] or "", escape(s["path"]))
    out.print(table)
    for s in summaries:
        if "error" in s:
            err.print(f"[bold red]unreadable run:[/] {escape(s['error'])}")


@runs_app.command("show")
def show_run(
    run: Annotated[Path, typer.Argument(help="run directory")],
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Show a run: its state, latest logged numbers, files and evaluation results."""
    from disdiff_core.artifacts import list_artifacts
    from disdiff_core.runs import Run, environment_line

    opened = Run.open(run)
    records = opened.read_metrics()
    # a step may be logged in several records (a DisDiff run's loss terms, then its gradient
    # shares): the latest step's numbers are all of them, not just the last record's
    latest: dict = {}
    for record in records:
        if record.get("step") != latest.get("step"):
            latest = {}
        latest.update(record)
    evals = sorted(p.name for p in opened.eval_dir.glob("*.json")) if opened.eval_dir.exists() else []
    images = sorted(p.name for p in opened.images_dir.glob("*.png")) if opened.images_dir.exists() else []
    artifacts = list_artifacts(opened.path)
    if as_json:
        print_json({**opened.summary(), "info": opened.info, "latest_metrics": latest,
                    "evaluations": evals, "images": images, "artifacts": artifacts})
        return
    info = opened.info
    table = Table(show_header=False, title=f"run {info['name']}")
    for key in ("stage", "status", "step", "created", "updated"):
        table.add_row(key, str(info.get(key)))
    environment = environment_line(info)
    if environment:
        table.add_row("trained on", environment)
    for role, parent in info.get("parents", {}).items():
        table.add_row(f"uses {role}", parent)
    table.add_row("path", str(opened.path))
    out.print(table)
    if latest:
        metrics = Table("logged", "value", title=f"latest metrics (step {latest.get('step')})")
        for key, value in latest.items():
            if key not in ("step", "time"):
                metrics.add_row(key, f"{value:.6g}" if isinstance(value, float) else str(value))
        out.print(metrics)
    for label, names in (("evaluations", evals), ("images", images),
                         (f"artifacts ({opened.artifacts_path.name})", artifacts)):
        if names:
            out.print(f"[bold]{label}[/]: " + ", ".join(names))
    out.print(f"[dim]full report (curves, evaluation, images): "
              f"disdiff runs report {escape(str(run))}[/]", soft_wrap=True)


class ReportFormat(str, Enum):
    md = "md"
    html = "html"


@runs_app.command("report")
def report_run(
    run: Annotated[Path, typer.Argument(help="run directory")],
    out_dir: Annotated[Path | None, typer.Option(
        "--out", help="folder to write the report into", show_default="RUN/report")] = None,
    fmt: Annotated[ReportFormat, typer.Option(
        "--format", help="page format: md (Markdown) or html")] = ReportFormat.md,
) -> None:
    """Write a run's report: one page in a folder you can zip and open.

    The page holds the run's state, a summary of its recipe, its loss and
    evaluation curves, its latest evaluation and its image grids (PNGs beside
    it)."""
    from disdiff_core.report import write_report
    from disdiff_core.runs import Run

    page = write_report(Run.open(run), out_dir, fmt.value)
    out.print(f"report written to {escape(str(page))}", soft_wrap=True)


@runs_app.command("compare")
def compare(
    runs: Annotated[list[Path], typer.Argument(help="two or more run directories")],
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Show runs side by side: differing settings, losses and evaluations.

    The recipe settings that differ, the last logged loss terms and the latest
    evaluation of each run (mean ± std over its seeds)."""
    from disdiff_core.compare import compare_runs
    from disdiff_core.report import format_value

    comparison = compare_runs(runs)
    if as_json:
        print_json(comparison.to_dict())
        return
    names = [f"{Path(r['path']).name} ({r['status']}, step {r['step']})" for r in comparison.runs]
    sections = (("recipe settings that differ", comparison.recipe, format_value),
                ("last logged training terms", comparison.training, _number),
                ("latest evaluation, mean ± std", comparison.evaluation, _mean_std))
    for title, rows, render in sections:
        if not rows:
            continue
        table = Table("", *names, title=title)
        for key, values in rows:
            table.add_row(escape(key), *(escape(render(v)) if v is not None else "–"
                                          for v in values))
        out.print(table)


def _number(value: float) -> str:
    return f"{value:.4g}"


def _mean_std(summary: dict[str, float]) -> str:
    seeds = summary["seeds"]
    return f"{summary['mean']:.3f} ± {summary['std']:.3f} ({seeds} seed{'' if seeds == 1 else 's'})"
