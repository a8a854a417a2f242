"""The boxplot figures of `ica report`: MCC to the sources (Fig. 2), pairwise-seed CCA-MCC in and out of
sample (Figs. 4-6) and the agreement of the learnt clusterings between seeds (§3).

Layout: x groups are the model labels of a lone run (Fig. 2), else the values of the grid axis; with two or
more axes the first one (e.g. the data set) gets a panel per value, as in Figs. 4-6. A failed seed or pair
is never dropped: every legend and caption counts it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable

from ica.reporting import plots
from ica.reporting.figures import FigureFile
from ica.reporting.experiment import Experiment
from ica.reporting.rundirs import CellRecord, RunRecord

PAIR_FAMILIES = (("cca_mcc", "CCA-MCC"), ("grid_mcc", "grid MCC (median over latent grid positions)"))
Values = Callable[[CellRecord], list[float | None] | None]
"""Which values of a model's cell a box shows (None where the cell has no such values)."""


@dataclass
class Part:
    """One kind of box in a boxplot figure: which values of a model's cell, and how the box is drawn."""

    values_of: Values
    suffix: str = ""  # appended to the model label, e.g. " in"
    hatch: str = ""
    faded: bool = False


def pair_values(metric: str) -> Values:
    """A cell's values of the pairwise ``metric``, one per pair of seeds."""
    return lambda cell: cell.pair_values(metric)


def _cell(run: RunRecord, label: str) -> CellRecord | None:
    return next((c for c in run.cells if c.label == label), None)


def _cells(runs: list[RunRecord], label: str) -> list[CellRecord]:
    """The cells of model ``label`` in ``runs`` (one setting's draws)."""
    return [c for c in (_cell(r, label) for r in runs) if c is not None]


def _only_label(run: RunRecord, shown: str) -> Callable[[str], list[CellRecord]]:
    """A lone run's x group ``shown``: the cell of that model label, and nothing for the others."""
    return lambda label: _cells([run], label) if label == shown else []


def box_panels(
    exp: Experiment, colours: dict[str, str], parts: list[Part], title: str, ylabel: str
) -> list[plots.BoxPanel]:
    """One panel per value of the first grid axis (when there are two or more), x groups = the other axes'
    values (or the model labels of a lone run, Fig. 2's layout), a box per model (and part) in each group. A
    setting's data draws share its group: their seeds are pooled in one box, as the tables pool them."""
    panels = []
    for key in dict.fromkeys(r.panel for r in exp.runs):
        runs = [r for r in exp.runs if r.panel == key]
        cells_at: list[Callable[[str], list[CellRecord]]]
        if exp.kind == "run":
            groups, cells_at = exp.labels, [_only_label(runs[0], g) for g in exp.labels]
        else:
            groups = list(dict.fromkeys(r.group for r in runs))
            cells_at = [functools.partial(_cells, [r for r in runs if r.group == g]) for g in groups]
        series = []
        for label in exp.labels:
            for part in parts:
                values = []
                for cells_of in cells_at:
                    found = [v for v in (part.values_of(c) for c in cells_of(label)) if v is not None]
                    values.append([x for v in found for x in v] if found else None)
                if any(v is not None for v in values):
                    series.append(plots.Series(label + part.suffix, colours[label], values, part.hatch, part.faded))
        if series:
            shown, series = _present(groups, series)
            panels.append(plots.BoxPanel(f"{key}: {title}" if key else title, ylabel, shown, series, _xlabel(exp)))
    return panels


def _present(groups: list[str], series: list[plots.Series]) -> tuple[list[str], list[plots.Series]]:
    """Leave out x groups where no series has values (a lone run's model without this metric)."""
    keep = [g for g in range(len(groups)) if any(s.values[g] is not None for s in series)]
    for s in series:
        s.values = [s.values[g] for g in keep]
    return [groups[g] for g in keep], series


def label_counts(exp: Experiment, values_of: Values) -> dict[str, tuple[int, int]]:
    """Per model label, over every run: (values that are numbers, values in all, failed ones included)."""
    counts = {}
    for label in exp.labels:
        found = [values_of(c) for r in exp.runs for c in r.cells if c.label == label]
        if any(v is not None for v in found):
            values = [x for v in found if v is not None for x in v]
            counts[label] = (len(plots.finite(values)), len(values))
    return counts


def _legend(counts: dict[str, tuple[int, int]], colours: dict[str, str], unit: str) -> list[tuple[str, str, str, bool]]:
    return [(f"{label} ({plots.count_text(*n, unit)})", colours[label], "", False) for label, n in counts.items()]


def _legend_counts(per_label: dict[str, tuple[int, int]], unit: str) -> str:
    return "; ".join(f"{label} {plots.count_text(*n, unit)}" for label, n in per_label.items())


def _xlabel(exp: Experiment) -> str:
    return "model" if exp.kind == "run" else exp.axis


def _per(exp: Experiment) -> str:
    if exp.kind == "run":
        return "per model"
    panels = len({r.panel for r in exp.runs})
    return f"per model and {exp.axis}" + (f" (one panel per {_panel_axis(exp)})" if panels > 1 else "")


def _panel_axis(exp: Experiment) -> str:
    first = next(r.panel for r in exp.runs)
    return ", ".join(part.split("=")[0] for part in first.split(" "))


def mcc_figure(exp: Experiment, colours: dict[str, str]) -> FigureFile | None:
    """Fig. 2: MCC of each seed's latents to the ground-truth sources, a box per model and setting."""
    values_of = lambda c: c.seed_values("mcc")  # noqa: E731
    panels = box_panels(
        exp, colours, [Part(values_of)], f"one point per seed, {exp.split} split", "MCC to sources (0-1, unitless)"
    )
    if not panels:
        return None
    counts = label_counts(exp, values_of)
    legend = _legend(counts, colours, "seeds")
    png = plots.boxplots(panels, "MCC between learnt latents and ground-truth sources", legend)
    caption = (
        f"MCC between each seed's latents and the true sources on the {exp.split} split, "
        f"{_per(exp)}: {_legend_counts(counts, 'seeds')}."
    )
    return FigureFile("mcc.png", "MCC to the ground-truth sources (Fig. 2)", caption, png)


def pairwise_figure(exp: Experiment, colours: dict[str, str]) -> FigureFile | None:
    """Figs. 4-6: CCA-MCC between every pair of seeds, in sample (hatched) beside out of sample (solid)."""
    panels, names = [], []
    counts: dict[str, tuple[int, int]] = {}
    for family, title in PAIR_FAMILIES:
        parts = [
            Part(pair_values(f"{family}_{part}"), f" {part}", hatch, faded)
            for part, hatch, faded in (("in", "///", True), ("out", "", False))
        ]
        found = box_panels(
            exp,
            colours,
            parts,
            f"{title}, one point per pair of seeds, {exp.split} split",
            f"{title.split(' (')[0]} (0-1, unitless)",
        )
        if found:
            panels += found
            names.append(title.split(" (")[0])
            counts = counts or label_counts(exp, pair_values(f"{family}_out"))
    if not panels:
        return None
    legend = _legend(counts, colours, "pairs") + [
        ("in sample (CCA fitted on these points)", "0.6", "///", True),
        ("out of sample (held-out points)", "0.6", "", False),
    ]
    png = plots.boxplots(panels, "Agreement between seeds after linear (CCA) alignment", legend)
    caption = (
        f"{' and '.join(names)} between every pair of seeds, in sample (hatched) and out of sample (solid), "
        f"{exp.split} split, {_per(exp)}: {_legend_counts(counts, 'pairs')}."
    )
    return FigureFile("pairwise_mcc.png", "Pairwise-seed CCA-MCC (Figs. 4-6)", caption, png)


def cluster_figure(exp: Experiment, colours: dict[str, str]) -> FigureFile | None:
    """Do two seeds learn the same partition? ARI and NMI between every pair of seeds' cluster assignments."""
    panels = []
    counts: dict[str, tuple[int, int]] = {}
    for metric, title in (("cluster_ari", "adjusted Rand index"), ("cluster_nmi", "normalised mutual information")):
        values_of = pair_values(metric)
        panels += box_panels(
            exp,
            colours,
            [Part(values_of)],
            f"{title} between the clusterings of two seeds, {exp.split} split",
            f"{metric.split('_')[1].upper()} (1 = same partition)",
        )
        counts = counts or label_counts(exp, values_of)
    if not panels:
        return None
    legend = _legend(counts, colours, "pairs")
    png = plots.boxplots(panels, "Agreement of the learnt clusterings (u) between seeds", legend)
    given = sorted({c.label for r in exp.runs for c in r.cells if c.model == "ivae" and c.label in counts})
    note = f" ({', '.join(given)}: u is given, not learnt, so 1 by construction)" if given else ""
    caption = (
        f"Cluster ARI and NMI between the assignments of every pair of seeds on the {exp.split} split, "
        f"{_per(exp)}: {_legend_counts(counts, 'pairs')}{note}."
    )
    return FigureFile("cluster_agreement.png", "Agreement of learnt clusterings between seeds (§3)", caption, png)
