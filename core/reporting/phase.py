"""Fig. 2 as a phase diagram: recovery of the sources against a numeric grid axis, with controls and tests.

Drawn when an experiment is a grid whose x groups are numbers (e.g. ``data.mixing_layers`` 1-5; a first axis
such as ``data.mixing`` gives one column of panels per value). One row per recovery metric the runs have
(``mcc``, the strong kind; ``affine_mcc``, the weak one), one line per model label: the median over seeds with
its q25-q75 band. What an uninformed model gets is shaded grey: at each x, the range from the lowest to the
highest of the floors (the observations, their PCA, FastICA) and the median of each model's untrained
networks (``<metric>_untrained``); each of these is also drawn as a thin line. Where the first two model
labels differ significantly at a setting (`ica.evaluation.significance.compare`, a rank test over seeds,
p < `SIGNIFICANCE`), a star marks it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from ica.reporting import plots
from ica.reporting.figures import FigureFile, is_finite_number
from ica.reporting.read import Cell, Experiment, Run

METRICS = (("mcc", "MCC to sources (strong)"), ("affine_mcc", "MCC after an affine map (weak)"))
FLOORS = (("observations", "observations", ":"), ("pca", "PCA of observations", "-."), ("fastica", "FastICA", "--"))
SIGNIFICANCE = 0.05
"""The p-value below which a star marks a setting where the first two models differ."""


@dataclass
class PhasePoint:
    x: float
    median: float
    q25: float
    q75: float


def numeric_group(run: Run) -> float | None:
    """The run's x-axis value as a number (``"mixing_layers=3"`` -> 3.0), or None."""
    text = run.group.split("=", 1)[-1] if run.group else ""
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def applies(exp: Experiment) -> bool:
    """A grid with a numeric x axis of at least two values and a recovery metric to draw."""
    xs = [numeric_group(r) for r in exp.runs]
    has_metric = any(c.seed_values(m) for r in exp.runs for c in r.cells for m, _ in METRICS)
    return exp.kind == "grid" and None not in xs and len(set(xs)) >= 2 and has_metric


def _finite(values: list | None) -> list[float]:
    return [float(v) for v in values or [] if is_finite_number(v)]


def _point(x: float, values: list[float]) -> PhasePoint | None:
    if not values:
        return None
    q25, med, q75 = np.percentile(values, [25, 50, 75])
    return PhasePoint(x, float(med), float(q25), float(q75))


def _cell(run: Run, label: str) -> Cell | None:
    return next((c for c in run.cells if c.label == label), None)


def floor_value(run: Run, metric: str, floor: str) -> float | None:
    """A per-cell floor of ``metric`` in this run (the same for every model of it)."""
    for cell in run.cells:
        value = ((cell.summary or {}).get("cell") or {}).get(f"{metric}_{floor}")
        if is_finite_number(value):
            return float(value)
    return None


def p_value(a: Cell | None, b: Cell | None, metric: str) -> float | None:
    """The test between two models' values of ``metric`` in one run (`compare`), or None where it cannot be made."""
    from ica.evaluation.significance import compare, metric_values

    if a is None or b is None or a.summary is None or b.summary is None:
        return None
    va, vb = metric_values(a.summary, metric), metric_values(b.summary, metric)
    if not va or not vb:
        return None
    found = compare(va, vb)
    return None if found is None else found.p_value


def phase_figure(exp: Experiment, colours: dict[str, str]) -> FigureFile | None:
    """The phase diagram, or None where it does not apply (see the module docstring)."""
    if not applies(exp):
        return None
    panels = list(dict.fromkeys(r.panel for r in exp.runs))
    metrics = [(m, t) for m, t in METRICS if any(c.seed_values(m) for r in exp.runs for c in r.cells)]
    labels = exp.labels
    fig = Figure(figsize=(4.8 * len(panels), 3.4 * len(metrics) + 1.0), dpi=plots.DPI)
    axes = fig.subplots(len(metrics), len(panels), squeeze=False)
    starred = False
    for row, (metric, title) in enumerate(metrics):
        for column, panel in enumerate(panels):
            runs = sorted((r for r in exp.runs if r.panel == panel), key=numeric_group)
            starred |= _draw_panel(axes[row][column], runs, labels, colours, metric)
            axes[row][column].set_title(f"{panel + ': ' if panel else ''}{title}", fontsize=9.5)
            axes[row][column].set_ylabel(metric, fontsize=8.5)
            axes[row][column].set_xlabel(_x_name(exp), fontsize=8.5)
    handles = [Line2D([], [], color=colours[label], marker="o", label=f"{label}: median, q25-q75 band")
               for label in labels]
    handles += [Patch(color="0.85", label="range of the controls (floors, untrained networks)")]
    handles += [Line2D([], [], color="0.4", linestyle=style, label=name) for _, name, style in FLOORS]
    handles += [Line2D([], [], color="0.5", linestyle=(0, (1, 3)), linewidth=1, label="untrained (per model colour)")]
    if starred and len(labels) >= 2:
        handles.append(Line2D([], [], color="black", marker="*", linestyle="none",
                              label=f"{labels[0]} vs {labels[1]}: p < {SIGNIFICANCE}"))
    fig.legend(handles=handles, loc="lower center", ncol=3, fontsize=7.5, frameon=False)
    fig.suptitle("Recovery of the sources against the grid axis, with controls", fontsize=11)
    plots._tight(fig, (0, 0.12, 1, 0.95))
    caption = (f"Median over seeds (line) and q25-q75 (band) of MCC to the sources, before and after an affine map, "
               f"on the {exp.split} split; grey: the range of the floors (observations, PCA, FastICA) and of each "
               f"model's untrained networks; a star: {labels[0]} and {labels[1] if len(labels) > 1 else ''} differ "
               f"at that setting (two-sided Mann-Whitney U over seeds, p < {SIGNIFICANCE}).")
    return FigureFile("phase.png", "Fig. 2 as a phase diagram: recovery against the grid axis", caption,
                      plots._png(fig))


def _x_name(exp: Experiment) -> str:
    """The x axis's name: before the ``=`` of a group (two axes), else the experiment's axis."""
    group = exp.runs[0].group
    return group.split("=", 1)[0] if "=" in group else exp.axis


def _draw_panel(ax, runs: list[Run], labels: list[str], colours: dict[str, str], metric: str) -> bool:
    """One panel; True when a star was drawn."""
    xs = [numeric_group(r) for r in runs]
    lows, highs = [], []
    for run in runs:
        controls = [floor_value(run, metric, name) for name, _, _ in FLOORS]
        controls += [(_point(0, _finite(c.seed_values(f"{metric}_untrained"))) or PhasePoint(0, math.nan, 0, 0)).median
                     for c in run.cells]
        found = [v for v in controls if v is not None and math.isfinite(v)]
        lows.append(min(found) if found else math.nan)
        highs.append(max(found) if found else math.nan)
    ax.fill_between(xs, lows, highs, color="0.85", zorder=0)
    for name, _, style in FLOORS:
        values = [floor_value(r, metric, name) for r in runs]
        if any(v is not None for v in values):
            ax.plot(xs, [math.nan if v is None else v for v in values], color="0.4", linestyle=style, linewidth=1)
    for label in labels:
        points = [_point(x, _finite(c.seed_values(metric))) if (c := _cell(r, label)) else None
                  for x, r in zip(xs, runs)]
        drawn = [p for p in points if p is not None]
        if not drawn:
            continue
        colour = colours[label]
        ax.plot([p.x for p in drawn], [p.median for p in drawn], color=colour, marker="o", markersize=4)
        ax.fill_between([p.x for p in drawn], [p.q25 for p in drawn], [p.q75 for p in drawn], color=colour, alpha=0.2)
        untrained = [_point(x, _finite(c.seed_values(f"{metric}_untrained"))) if (c := _cell(r, label)) else None
                     for x, r in zip(xs, runs)]
        if any(untrained):
            ax.plot([p.x for p in untrained if p], [p.median for p in untrained if p], color=colour,
                    linestyle=(0, (1, 3)), linewidth=1)
    starred = False
    if len(labels) >= 2:
        for x, run in zip(xs, runs):
            p = p_value(_cell(run, labels[0]), _cell(run, labels[1]), metric)
            if p is not None and p < SIGNIFICANCE:
                ax.plot([x], [1.02], marker="*", color="black", linestyle="none", clip_on=False)
                starred = True
    ax.set_ylim(0, 1.05)
    ax.set_xticks(sorted(set(xs)))
    ax.grid(alpha=0.3)
    return starred
