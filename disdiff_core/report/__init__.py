"""Run reports: one Markdown or HTML page that gathers what a run directory holds (its state,
a summary of its recipe, loss and evaluation curves, the latest evaluation, its image grids),
written into a folder with every PNG beside the page, so the folder can be zipped and opened
anywhere.

The page is first built as a list of format-free blocks (headings, paragraphs, tables,
figures) and then rendered to Markdown or HTML, so the two formats never drift apart.
Nothing here imports torch; matplotlib is imported only when a plot is drawn.

The layers: :mod:`.gather` reads the run, :mod:`.series` and :mod:`.plots` turn its metrics log
into panels and PNGs, :mod:`.document` builds the page as :mod:`.blocks`, :mod:`.render` writes
them as Markdown or HTML; :func:`write_report` puts the folder together.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from disdiff_core.errors import RunError
from disdiff_core.io import atomic_path, write_bytes_atomic, write_text_atomic
from disdiff_core.report.document import (
    EVAL_PLOT,
    FORMATS,
    IMAGES_FOLDER,
    LOSS_PLOT,
    RECIPE_COPY,
    REPORT_FILE,
    build_document,
    format_value,
)
from disdiff_core.report.gather import RunReport, gather, natural_key
from disdiff_core.report.plots import plot_curves
from disdiff_core.report.render import render_html, render_markdown
from disdiff_core.report.series import (
    collect_series,
    group_eval_series,
    group_training_series,
    is_eval_number,
    is_loss_term,
    is_training_curve,
)
from disdiff_core.runs import Run

__all__ = ["RunReport", "format_value", "gather", "is_loss_term", "natural_key", "write_report"]




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
        write_bytes_atomic(out / LOSS_PLOT,
                           plot_curves(group_training_series(losses), log_y_when_positive=True))
        loss_plot = LOSS_PLOT
    evals = collect_series(report.records, is_eval_number)
    if evals:
        write_bytes_atomic(out / EVAL_PLOT,
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
