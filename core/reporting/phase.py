"""Fig. 2 as a phase diagram: recovery of the sources against a numeric grid axis, with controls and tests.

Drawn when an experiment is a grid whose x groups are numbers (e.g. ``data.mixing_layers`` 1-5; a first axis
such as ``data.mixing`` gives one column of panels per value). One row per recovery metric the runs have
(``mcc``, Pearson, and ``mcc_spearman``, the strong kind up to monotone distortions; ``affine_mcc``, the weak
one), one line per model label: the median over seeds (every data draw's seeds together) with its q25-q75
band. What an uninformed model gets is shaded grey: at each x, the range from the lowest to the highest of the
floors (the observations, their PCA, FastICA; over draws, their mean) and the median of each model's untrained
networks (``<metric>_untrained``); each of these is also drawn as a thin line. The first two model labels are
compared at every setting and metric drawn (`ica.reporting.comparisons`: draws pooled, corrected, by Holm
unless the options say otherwise, over all the comparisons in the figure; equivalence against the margin,
0.05 unless given): a star in the better model's colour marks a difference, "=" an equivalence within the
margin; nothing marks an inconclusive setting.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from ica.evaluation.corrections import NAMES
from ica.reporting import plots
from ica.reporting.comparisons import ComparisonOptions, compare_groups
from ica.reporting.figures import FigureFile, is_finite_number
from ica.reporting.experiment import Experiment
from ica.reporting.rundirs import CellRecord, RunRecord
from ica.reporting.draws import setting_groups
from ica.reporting.tables import comparison_groups

if TYPE_CHECKING:
    from matplotlib.artist import Artist
    from matplotlib.typing import LineStyleType

METRICS = (
    ("mcc", "MCC to sources (strong, Pearson)"),
    ("mcc_spearman", "Spearman MCC to sources (strong, monotone)"),
    ("affine_mcc", "MCC after an affine map (weak)"),
)
FLOORS: tuple[tuple[str, str, LineStyleType], ...] = (
    ("observations", "observations", ":"),
    ("pca", "PCA of observations", "-."),
    ("fastica", "FastICA", "--"),
)


@dataclass
class PhasePoint:
    x: float
    median: float
    q25: float
    q75: float


def numeric_group(run: RunRecord) -> float | None:
    """The run's x-axis value as a number (``"mixing_layers=3"`` -> 3.0), or None."""
    text = run.group.split("=", 1)[-1] if run.group else ""
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _x_of(run: RunRecord) -> float:
    """`numeric_group` of a run of a figure that `applies`: every run there has one."""
    x = numeric_group(run)
    if x is None:
        raise ValueError(f"{run.path} has no numeric value on the x axis")
    return x


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


def _cell(run: RunRecord, label: str) -> CellRecord | None:
    return next((c for c in run.cells if c.label == label), None)


def floor_value(run: RunRecord, metric: str, floor: str) -> float | None:
    """A per-cell floor of ``metric`` in this run (the same for every model of it)."""
    for cell in run.cells:
        value = ((cell.summary or {}).get("cell") or {}).get(f"{metric}_{floor}")
        if is_finite_number(value):
            return float(value)
    return None


def verdicts(
    exp: Experiment, metrics: list[str], options: ComparisonOptions = ComparisonOptions()
) -> dict[tuple[str, str], dict]:
    """(setting's first run directory, metric) -> the comparison row of the first two labels, corrected over
    every setting and metric of the figure (`ica.reporting.comparisons.compare_groups`); ``options`` give the
    margin and correction (its metrics narrow the figure's, never add to them)."""
    labels = exp.labels
    if len(labels) < 2:
        return {}
    rows = compare_groups(
        comparison_groups(exp),
        labels[0],
        labels[1],
        lambda sa, sb: [
            m
            for m in metrics
            if options.wants(m) and all(m in (s.get("stats") or {}) for s in (*sa.values(), *sb.values()))
        ],
        options.margin,
        options.correction,
    )
    return {(row["path"], row["metric"]): row for row in rows}


def phase_figure(
    exp: Experiment, colours: dict[str, str], options: ComparisonOptions = ComparisonOptions()
) -> FigureFile | None:
    """The phase diagram, or None where it does not apply (see the module docstring)."""
    if not applies(exp):
        return None
    panels = list(dict.fromkeys(r.panel for r in exp.runs))
    metrics = [(m, t) for m, t in METRICS if any(c.seed_values(m) for r in exp.runs for c in r.cells)]
    labels = exp.labels
    marks = verdicts(exp, [m for m, _ in metrics], options)
    margin = f"±{options.margin:g}" if options.margin is not None else "no margin (no equivalence test)"
    correction = NAMES[options.correction]
    first = {id(run): str(g.items[0].directory) for g in setting_groups(exp.runs) for run in g.items}
    columns = min(3, len(panels) + 1)  # legend columns that fit the figure's width
    legend_inches = 0.22 * math.ceil(10 / columns) + 0.3  # at most 10 entries
    height = 3.4 * len(metrics) + 0.5 + legend_inches
    fig = Figure(figsize=(max(4.8 * len(panels), 6.4), height), dpi=plots.DPI)
    axes = fig.subplots(len(metrics), len(panels), squeeze=False)
    starred = False
    for row, (metric, title) in enumerate(metrics):
        for column, panel in enumerate(panels):
            runs = sorted((r for r in exp.runs if r.panel == panel), key=_x_of)
            at_x = [(x, [r for r in runs if _x_of(r) == x]) for x in dict.fromkeys(map(_x_of, runs))]
            found = {x: marks.get((first[id(group[0])], metric)) for x, group in at_x}
            starred |= _draw_panel(axes[row][column], at_x, labels, colours, metric, found)
            axes[row][column].set_title(f"{panel + ': ' if panel else ''}{title}", fontsize=9.5)
            axes[row][column].set_ylabel(metric, fontsize=8.5)
            axes[row][column].set_xlabel(_x_name(exp), fontsize=8.5)
    handles: list[Artist] = [
        Line2D([], [], color=colours[label], marker="o", label=f"{label}: median, q25-q75 band") for label in labels
    ]
    handles += [Patch(color="0.85", label="range of the controls (floors, untrained networks)")]
    handles += [Line2D([], [], color="0.4", linestyle=style, label=name) for _, name, style in FLOORS]
    handles += [Line2D([], [], color="0.5", linestyle=(0, (1, 3)), linewidth=1, label="untrained (per model colour)")]
    if starred and len(labels) >= 2:
        handles.append(
            Line2D(
                [],
                [],
                color="black",
                marker="*",
                linestyle="none",
                label=f"{labels[0]} vs {labels[1]}: better (model's colour), {correction} p < 0.05",
            )
        )
        handles.append(
            Line2D(
                [],
                [],
                color="black",
                marker="$=$",
                linestyle="none",
                label=f"equivalent within {margin} (TOST, {correction})",
            )
        )
    fig.legend(handles=handles, loc="lower center", ncol=columns, fontsize=7.5, frameon=False)
    fig.suptitle("Recovery of the sources against the grid axis, with controls", fontsize=11)
    plots._tight(fig, (0, legend_inches / height, 1, 1 - 0.45 / height))
    caption = (
        f"Median over seeds (line) and q25-q75 (band) of MCC to the sources (Pearson, Spearman), before and "
        f"after an affine map, "
        f"on the {exp.split} split; grey: the range of the floors (observations, PCA, FastICA) and of each "
        f"model's untrained networks; seeds of every data draw together. Above each setting, {labels[0]} "
        f"against {labels[1] if len(labels) > 1 else '-'}: a star in the better model's colour where they "
        f"differ, '=' where they are equivalent within {margin}, nothing where inconclusive "
        f"(difference of means, Welch's t with a jackknife over seeds or a paired t over draws, and two "
        f"one-sided tests; {correction} over the {len(marks)} comparisons in this figure, α = 0.05)."
    )
    return FigureFile(
        "phase.png", "Fig. 2 as a phase diagram: recovery against the grid axis", caption, plots._png(fig)
    )


def _x_name(exp: Experiment) -> str:
    """The x axis's name: before the ``=`` of a group (two axes), else the experiment's axis."""
    group = exp.runs[0].group
    return group.split("=", 1)[0] if "=" in group else exp.axis


def _values(runs: list[RunRecord], label: str, metric: str) -> list[float]:
    """A label's per-seed values of ``metric`` over the runs (draws) of one setting, together."""
    return [v for r in runs if (c := _cell(r, label)) for v in _finite(c.seed_values(metric))]


def _floor(runs: list[RunRecord], metric: str, name: str) -> float | None:
    """A floor at one setting: its value, or over draws the mean of theirs."""
    found = [v for r in runs if (v := floor_value(r, metric, name)) is not None]
    return sum(found) / len(found) if found else None


def _draw_panel(
    ax,
    at_x: list[tuple[float, list[RunRecord]]],
    labels: list[str],
    colours: dict[str, str],
    metric: str,
    marks: dict[float, dict | None],
) -> bool:
    """One panel, each x with the runs (draws) of its setting; True when a verdict was marked."""
    xs = [x for x, _ in at_x]
    lows, highs = [], []
    for _, runs in at_x:
        controls = [_floor(runs, metric, name) for name, _, _ in FLOORS]
        controls += [
            (_point(0, _values(runs, label, f"{metric}_untrained")) or PhasePoint(0, math.nan, 0, 0)).median
            for label in labels
        ]
        found = [v for v in controls if v is not None and math.isfinite(v)]
        lows.append(min(found) if found else math.nan)
        highs.append(max(found) if found else math.nan)
    ax.fill_between(xs, lows, highs, color="0.85", zorder=0)
    for name, _, style in FLOORS:
        values = [_floor(runs, metric, name) for _, runs in at_x]
        if any(v is not None for v in values):
            ax.plot(xs, [math.nan if v is None else v for v in values], color="0.4", linestyle=style, linewidth=1)
    for label in labels:
        drawn = [p for x, runs in at_x if (p := _point(x, _values(runs, label, metric)))]
        if not drawn:
            continue
        colour = colours[label]
        ax.plot([p.x for p in drawn], [p.median for p in drawn], color=colour, marker="o", markersize=4)
        ax.fill_between([p.x for p in drawn], [p.q25 for p in drawn], [p.q75 for p in drawn], color=colour, alpha=0.2)
        untrained = [p for x, runs in at_x if (p := _point(x, _values(runs, label, f"{metric}_untrained")))]
        if untrained:
            ax.plot(
                [p.x for p in untrained],
                [p.median for p in untrained],
                color=colour,
                linestyle=(0, (1, 3)),
                linewidth=1,
            )
    marked = False
    for x in xs:
        row = marks.get(x)
        text = (row or {}).get("verdict", "")
        if text.endswith(" better"):
            ax.plot(
                [x],
                [1.02],
                marker="*",
                color=colours.get(text[: -len(" better")], "black"),
                linestyle="none",
                clip_on=False,
                markersize=9,
            )
            marked = True
        elif text.startswith("equivalent"):
            ax.plot([x], [1.02], marker="$=$", color="black", linestyle="none", clip_on=False, markersize=8)
            marked = True
    ax.set_ylim(0, 1.05)
    ax.set_xticks(sorted(set(xs)))
    ax.grid(alpha=0.3)
    return marked
