"""A chart drawn on the server as SVG (matplotlib), in GOV.UK's type and the Analysis Function's
accessible colours, so the dashboard needs no JavaScript and fetches nothing. A withheld value is a gap
(a line breaks, a bar is missing) marked `[c]`."""

from __future__ import annotations

import io
import logging
import math
import threading

from .charts import ChartData

# The Analysis Function's categorical palette (accessible on white, in this order).
COLOURS = ("#12436D", "#28A197", "#801650", "#F46A25", "#3D3D3D", "#A285D1", "#1d70b8", "#00703c", "#b58840")
TEXT = "#0b0c0c"
GRID = "#b1b4b6"
_lock = threading.Lock()  # matplotlib's settings are process-wide: draw one chart at a time


def _setup() -> None:
    import matplotlib

    # The SVG names GOV.UK's fonts for the reader's browser; matplotlib only measures text, with the first it
    # has (DejaVu Sans ships with it). Where Arial is not installed it would log that for every label it places
    # (4,428 lines for one dashboard): not a fault, so not logged.
    logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)

    matplotlib.rcParams.update({
        "svg.fonttype": "none",  # text stays text: selectable, and scaled by the reader's browser
        "svg.hashsalt": "ictg",  # the same chart gives the same SVG
        "font.family": ["Arial", "Liberation Sans", "DejaVu Sans"],
        "font.size": 11,
        "text.color": TEXT, "axes.labelcolor": TEXT, "xtick.color": TEXT, "ytick.color": TEXT,
        "axes.edgecolor": TEXT, "axes.spines.top": False, "axes.spines.right": False,
        "axes.grid": True, "grid.color": GRID, "grid.linewidth": 0.6,
    })  # fmt: skip


def render(chart: ChartData) -> str:
    """The chart as an SVG document."""
    from matplotlib.figure import Figure

    with _lock:
        _setup()
        n = len(chart.categories)
        height = max(3.6, 0.32 * n * max(1, len(chart.series)) + 1.2) if chart.kind == "hbar" else 4.2
        fig = Figure(figsize=(9, height), dpi=96)
        ax = fig.add_subplot()
        positions = list(range(n))
        width = 0.8 / max(1, len(chart.series))
        for i, s in enumerate(chart.series):
            colour = COLOURS[i % len(COLOURS)]
            ys = [math.nan if v is None else float(v) for v in s.values]
            if chart.kind == "line":
                ax.plot(positions, ys, marker="o", markersize=3, linewidth=2, color=colour, label=s.label)
            else:
                offsets = [p - 0.4 + width * (i + 0.5) for p in positions]
                draw = ax.barh if chart.kind == "hbar" else ax.bar
                draw(offsets, [0.0 if math.isnan(y) else y for y in ys], width, color=colour, label=s.label)
                for o, v, m in zip(offsets, s.values, s.marks, strict=True):
                    if v is None:  # withheld or not applicable: say so where the bar would be
                        xy = (0, o) if chart.kind == "hbar" else (o, 0)
                        ax.annotate(m, xy, fontsize=8, ha="left" if chart.kind == "hbar" else "center",
                                    va="center" if chart.kind == "hbar" else "bottom")  # fmt: skip
        if chart.kind == "hbar":
            ax.set_yticks(positions, list(chart.categories))
            ax.invert_yaxis()
            ax.set_xlabel(chart.unit.capitalize())
            ax.grid(axis="y", visible=False)
        else:
            step = max(1, n // 12)
            ax.set_xticks(positions[::step], list(chart.categories)[::step], rotation=45 if n > 6 else 0,
                          ha="right" if n > 6 else "center")  # fmt: skip
            ax.set_ylabel(chart.unit.capitalize())
            ax.grid(axis="x", visible=False)
            ax.set_ylim(bottom=0)
        if len(chart.series) > 1:
            ax.legend(frameon=False, loc="upper left", bbox_to_anchor=(0, -0.25 if chart.kind != "hbar" else -0.12),
                      ncol=1, fontsize=9)  # fmt: skip
        fig.tight_layout()
        buf = io.StringIO()
        fig.savefig(buf, format="svg", metadata={"Date": None}, bbox_inches="tight")
    return buf.getvalue()
