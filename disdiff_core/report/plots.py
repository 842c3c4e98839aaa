"""Plot panels of curves as one PNG (matplotlib, imported only when a plot is drawn)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from io import BytesIO

from disdiff_core.report.series import Series


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


