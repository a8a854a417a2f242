"""The report's figures (`ica report`), drawn headless and returned as PNG bytes.

Each function takes plain numbers already grouped by the report's parts (``ica.reporting.boxplots``,
``ica.reporting.scatter``, ``ica.reporting.curves``, from what ``ica.reporting.rundirs`` read in the run
directories) and draws one figure in the style of the paper's §4: boxplots of MCC per model and setting
(Fig. 2), of pairwise CCA-MCC in and out of sample (Figs. 4-6), ELBO against MCC with a least-squares line
and the 95% confidence band of its mean (Fig. 3; the line and band are computed in ``ica.reporting.line_fit``),
and training curves (drawn in ``ica.reporting.plot_curves``).

Figures are built with ``matplotlib.figure.Figure`` and rendered by the Agg canvas directly, never
through ``pyplot`` (``ica.reporting.plot_canvas``): nothing global is touched (no backend switch, no figure
registry), so this works on machines without a display and inside a notebook without changing its backend.

Failed seeds are never dropped silently: every box is annotated with how many values it holds out of
how many there should be, and how many failed.
"""

from __future__ import annotations

import math
import textwrap
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from matplotlib.figure import Figure
from matplotlib.patches import Patch

from ica.reporting.line_fit import MIN_LINE_POINTS, line_to_draw, no_line_text, pearson_text
from ica.reporting.plot_canvas import DPI, FAILED_COLOUR, _png, _tight, readable_ticks

# re-exported: ica.reporting.curves (and the old name ica.plots) find the curve figure here
from ica.reporting.plot_curves import Curve as Curve, CurvePanel as CurvePanel, curves as curves

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
"""Tableau 10: one colour per model label, in the order the labels first appear in the experiment."""


def colours_for(labels: Sequence[str]) -> dict[str, str]:
    """The same colour for the same model label in every figure of a report."""
    return {label: PALETTE[i % len(PALETTE)] for i, label in enumerate(dict.fromkeys(labels))}


def count_text(n_ok: int, n_total: int, unit: str = "") -> str:
    """'n=3 seeds' when nothing failed, else 'n=2 of 3 seeds, 1 failed': failures are always spelled out."""
    unit = f" {unit}" if unit else ""
    if n_ok == n_total:
        return f"n={n_total}{unit}"
    return f"n={n_ok} of {n_total}{unit}, {n_total - n_ok} failed"


def finite(values: Sequence[float | None]) -> np.ndarray:
    """The values that are numbers (a failed seed or pair is ``None`` or NaN)."""
    return np.array([v for v in values if v is not None and math.isfinite(v)], dtype=float)


# ------------------------------------------------------------------------------------- boxplots
@dataclass
class Series:
    """One model (or one model's in/out-of-sample half) across the x groups of a boxplot panel.

    ``values[g]`` are this series' values in group g (``None``/NaN entries = failed seeds or pairs),
    or ``None`` where the series does not appear in that group at all.
    """

    label: str
    colour: str
    values: list[list[float | None] | None]
    hatch: str = ""
    faded: bool = False


@dataclass
class BoxPanel:
    title: str
    ylabel: str
    groups: list[str]
    series: list[Series]
    xlabel: str = ""


def wrapped(label: str, boxes: float) -> str:
    """An x group's label broken into lines about as wide as its ``boxes`` boxes, so that long settings (a data set
    with its options, a set of models) do not run into their neighbours'."""
    width = max(12, int(7 * boxes))
    return "\n".join(textwrap.fill(line, width) or line for line in label.split("\n"))


def boxplots(panels: list[BoxPanel], title: str, legend: list[tuple[str, str, str, bool]]) -> bytes:
    """Boxes (median, quartiles, 1.5 IQR whiskers) with every value drawn on top as a point.

    ``legend``: (text, colour, hatch, faded) entries. Each box is annotated with its count
    (``n=2 of 3, 1 failed``) so a failed seed is visible even where it leaves no point.
    """
    widest = max(sum(sum(s.values[g] is not None for s in p.series) for g in range(len(p.groups))) for p in panels)
    legend_rows = math.ceil(len(legend) / 3)
    legend_height = 0.25 * legend_rows + 0.3
    height = 3.8 * len(panels) + 0.8 + legend_height
    fig = Figure(figsize=(max(7.0, 1.2 + 0.6 * widest + 0.6 * max(len(p.groups) for p in panels)), height), dpi=DPI)
    axes = fig.subplots(len(panels), 1, squeeze=False)[:, 0]
    jitter = np.random.default_rng(0)
    for ax, panel in zip(axes, panels):
        ticks = []
        position = 0.0
        for g, group in enumerate(panel.groups):
            present = [s for s in panel.series if s.values[g] is not None]
            start = position
            for s in present:
                raw = s.values[g] or []
                vals = finite(raw)
                face = _fade(s.colour) if s.faded else s.colour
                if vals.size:
                    box = ax.boxplot(
                        [vals],
                        positions=[position],
                        widths=0.6,
                        patch_artist=True,
                        showfliers=False,
                        manage_ticks=False,
                        medianprops={"color": "black", "linewidth": 1.5},
                    )
                    for patch in box["boxes"]:
                        patch.set_facecolor(face)
                        patch.set_hatch(s.hatch)
                        patch.set_edgecolor("black")
                    ax.scatter(
                        position + jitter.uniform(-0.15, 0.15, vals.size),
                        vals,
                        s=10,
                        color="black",
                        alpha=0.6,
                        zorder=3,
                        linewidths=0,
                    )
                n_ok, n_total = int(vals.size), len(raw)
                text = count_text(n_ok, n_total).replace(", ", "\n")
                ax.annotate(
                    text,
                    (position, 0),
                    xycoords=("data", "axes fraction"),
                    xytext=(0, 2),
                    textcoords="offset points",
                    ha="center",
                    va="bottom",
                    fontsize=6.5,
                    color=FAILED_COLOUR if n_ok < n_total else "0.25",
                )
                position += 1
            ticks.append(((start + position - 1) / 2, wrapped(group, position - start)))
            position += 0.8
        ax.set_xticks([t for t, _ in ticks], [label for _, label in ticks], fontsize=8)
        ax.set_xlim(-0.8, position - 0.6)
        lo, hi = ax.get_ylim()
        ax.set_ylim(lo - 0.12 * (hi - lo), hi)  # room for the counts at the bottom
        ax.set_title(panel.title, fontsize=10)
        ax.set_ylabel(panel.ylabel)
        ax.set_xlabel(panel.xlabel)
        ax.grid(axis="y", alpha=0.3)
    handles = [
        Patch(facecolor=_fade(c) if faded else c, edgecolor="black", hatch=h, label=text)
        for text, c, h, faded in legend
    ]
    fig.legend(handles=handles, loc="lower center", ncol=min(3, len(handles)), fontsize=8, frameon=False)
    fig.suptitle(title, fontsize=11)
    _tight(fig, (0, legend_height / height, 1, 0.97))
    return _png(fig)


def _fade(colour: str) -> tuple[float, float, float, float]:
    from matplotlib.colors import to_rgba

    r, g, b, _ = to_rgba(colour)
    return (r, g, b, 0.35)


# ------------------------------------------------------------------------------- scatter + fit
@dataclass
class PointGroup:
    """Points of one model in one panel; ``n_total`` counts the failed ones that have no point."""

    label: str
    colour: str
    x: list[float]
    y: list[float]
    n_total: int
    unit: str = ""  # what a point is: seeds, pairs
    fit: bool = True


@dataclass
class ScatterPanel:
    title: str
    xlabel: str
    ylabel: str
    groups: list[PointGroup] = field(default_factory=list)


def scatter_fits(panels: list[ScatterPanel], title: str, columns: int) -> bytes:
    """Each group's points, its least-squares line, the 95% band of the fitted mean and Pearson r with n; a group
    of fewer than `MIN_LINE_POINTS` points gets no line or band, and its legend says so."""
    columns = max(1, min(columns, len(panels)))
    rows = math.ceil(len(panels) / columns)
    width = max(4.8 * columns, 6.5)
    fig = Figure(figsize=(width, 4.0 * rows + 0.8), dpi=DPI)
    axes = fig.subplots(rows, columns, squeeze=False).ravel()
    for ax in axes[len(panels) :]:
        ax.set_visible(False)
    for ax, panel in zip(axes, panels):
        for group in panel.groups:
            x, y = np.asarray(group.x, dtype=float), np.asarray(group.y, dtype=float)
            counts = count_text(len(x), group.n_total, group.unit)
            ax.scatter(
                x,
                y,
                s=22,
                color=group.colour,
                edgecolors="black",
                linewidths=0.4,
                zorder=3,
                label=f"{group.label} ({counts})",
            )
            fit = line_to_draw(x, y) if group.fit else None
            if fit is None:
                if group.fit and 0 < len(x) < MIN_LINE_POINTS:  # said in the legend, not drawn
                    ax.plot([], [], linestyle="none", label=no_line_text(len(x)))
                continue
            grid = np.linspace(x.min(), x.max(), 100)
            lower, upper = fit.band(grid)
            r = pearson_text(fit)
            ax.plot(
                grid,
                fit.mean_at(grid),
                color=group.colour,
                linewidth=1.5,
                label=f"least squares; Pearson {r}" + ("" if "n=" in r else f" (n={fit.n})"),
            )
            if np.isfinite(lower).all():
                ax.fill_between(
                    grid, lower, upper, color=group.colour, alpha=0.2, linewidth=0, label="95% CI of the fitted mean"
                )
        ax.set_title(panel.title, fontsize=9.5)
        ax.set_xlabel(panel.xlabel, fontsize=8.5)
        ax.set_ylabel(panel.ylabel, fontsize=8.5)
        readable_ticks(ax, x_bins=4)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="best")
    fig.suptitle(textwrap.fill(title, int(width * 11)), fontsize=11)
    _tight(fig, (0, 0, 1, 0.94))
    return _png(fig)
