"""Training curves drawn for the report: one panel per logged quantity, one line per seed.

Apart from `ica.reporting.plots` (boxes and scatter fits) because curves share nothing with those but the
canvas (`ica.reporting.plot_canvas`); ``ica.reporting.curves`` gathers the values a run logged into these panels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from ica.reporting.plot_canvas import DPI, FAILED_COLOUR, _png, readable_ticks


@dataclass
class Curve:
    """One seed's logged values of one quantity; ``failed_at``: the step its loss became non-finite."""

    colour: str
    steps: list[float]
    values: list[float]
    failed_at: float | None = None
    marked_steps: list[float] = field(default_factory=list)  # e.g. where the L matrix was perturbed


@dataclass
class CurvePanel:
    title: str
    ylabel: str
    log: bool
    curves: list[Curve]


def curves(panels: list[CurvePanel], title: str, legend: list[tuple[str, str]]) -> bytes:
    """One panel per quantity, one line per seed (colour per model); × marks where a seed failed."""
    columns = min(3, len(panels))
    rows = math.ceil(len(panels) / columns)
    # At most 10.5 inches wide: the HTML report shows it at (nearly) its own size, its labels as drawn.
    fig = Figure(figsize=(3.5 * columns, 2.8 * rows + 0.6), dpi=DPI, layout="constrained")
    axes = fig.subplots(rows, columns, squeeze=False).ravel()
    for ax in axes[len(panels) :]:
        ax.set_visible(False)
    for ax, panel in zip(axes, panels):
        for curve in panel.curves:
            if curve.steps:
                ax.plot(curve.steps, curve.values, color=curve.colour, linewidth=1, alpha=0.75)
            if curve.failed_at is not None:  # at its last value, or on the bottom edge if it never logged one
                y, coords = (curve.values[-1], "data") if curve.values else (0.03, "axes fraction")
                ax.annotate(
                    "×",
                    (curve.failed_at, y),
                    xycoords=("data", coords),
                    ha="center",
                    va="center",
                    color=FAILED_COLOUR,
                    fontsize=13,
                    fontweight="bold",
                    annotation_clip=False,
                )
            if curve.marked_steps:
                lookup = dict(zip(curve.steps, curve.values))
                marked = [(s, lookup[s]) for s in curve.marked_steps if s in lookup]
                if marked:
                    ax.plot(*zip(*marked), linestyle="none", marker="v", color=curve.colour, markersize=5)
        if panel.log:
            ax.set_yscale("log")
        ax.set_title(panel.title, fontsize=9.5)
        ax.set_ylabel(panel.ylabel, fontsize=8.5)
        ax.set_xlabel("training step", fontsize=8.5)
        readable_ticks(ax, steps_on_x=True)
        ax.grid(alpha=0.3)
    handles = [Line2D([], [], color=c, label=text) for text, c in legend]
    if any(c.failed_at is not None for p in panels for c in p.curves):
        handles.append(
            Line2D(
                [], [], color=FAILED_COLOUR, marker="x", linestyle="none", mew=2, label="seed failed (loss non-finite)"
            )
        )
    if any(c.marked_steps for p in panels for c in p.curves):
        handles.append(Line2D([], [], color="0.3", marker="v", linestyle="none", label="L perturbed"))
    fig.legend(handles=handles, loc="outside lower center", ncol=min(4, len(handles)), fontsize=8, frameon=False)
    fig.suptitle(title, fontsize=11)
    return _png(fig)
