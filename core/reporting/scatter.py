"""The scatter figures of `ica report`, one point per seed or pair with a least-squares line, its 95% band
(through five points or more: `ica.reporting.line_fit.line_to_draw`) and Pearson r: ELBO against MCC (Fig. 3:
is a better fit more identifiable?) and cluster ARI against CCA-MCC (§3: the same partition should give the
same representation).
"""

from __future__ import annotations

from typing import Any

from ica.reporting import line_fit, plots
from ica.reporting.figures import FigureFile, is_finite_number
from ica.reporting.experiment import Experiment
from ica.reporting.rundirs import CellRecord


def _no_line(n: int) -> str:
    """A caption's note where a model's points are too few for a line (`ica.reporting.line_fit.line_to_draw`)."""
    return f" ({line_fit.no_line_text(n)})" if 0 < n < line_fit.MIN_LINE_POINTS else ""


def finite_pairs(xs: list[Any], ys: list[Any]) -> tuple[list[float], list[float]]:
    """The (x, y) points where both are finite numbers: a failed seed or pair has no point (but is counted)."""
    both = [(x, y) for x, y in zip(xs, ys) if is_finite_number(x) and is_finite_number(y)]
    return [x for x, _ in both], [y for _, y in both]


def seed_mean_pairwise(cell: CellRecord, metric: str = "cca_mcc_out") -> list[float | None]:
    """Each seed's mean pairwise ``metric`` over the pairs it is in (None when it has no finite one)."""
    out = []
    for seed in cell.seeds:
        vals = plots.finite([p.get(metric) for p in cell.pairs if seed.seed in p.get("seeds", [])])
        out.append(float(vals.mean()) if vals.size else None)
    return out


def elbo_points(cell: CellRecord) -> tuple[list[float | None], list[float | None], str] | None:
    """(ELBO train per seed, MCC per seed, y label): MCC to sources, or the mean pairwise CCA-MCC out."""
    if cell.summary is None:
        return None
    elbo = cell.seed_values("elbo_train") or [s.elbo_train for s in cell.seeds]
    mcc = cell.seed_values("mcc")
    if mcc is not None:
        return elbo, mcc, "MCC to sources (0-1)"
    if cell.pair_values("cca_mcc_out") is None:
        return None
    return elbo, seed_mean_pairwise(cell), "mean pairwise CCA-MCC out of sample\nof the seed (no sources)"


def elbo_figure(exp: Experiment, colours: dict[str, str]) -> FigureFile | None:
    """Fig. 3: ELBO on the training data against MCC, per model (and setting): is a better fit more identifiable?"""
    panels, notes = [], []
    for run in exp.runs:
        for cell in run.cells:
            found = elbo_points(cell)
            if found is None:
                continue
            elbo, mcc, ylabel = found
            xs, ys = finite_pairs(elbo, mcc)
            group = plots.PointGroup(cell.label, colours[cell.label], xs, ys, len(cell.seeds), "seeds")
            where = f"{cell.label}" + (f", {run.setting}" if run.setting else "")
            panels.append(plots.ScatterPanel(where, "ELBO on the training split (nats per example)", ylabel, [group]))
            fit = line_fit.fit_line(xs, ys)
            seeds = plots.count_text(len(xs), len(cell.seeds), "seeds")
            notes.append(f"{where}: {line_fit.pearson_text(fit)}, {seeds}{_no_line(len(xs))}")
    if not panels:
        return None
    # One row per panel of the boxplots (e.g. per data set) when that fits, else one column per model.
    per_row = len(exp.labels) * sum(r.panel == exp.runs[0].panel for r in exp.runs) if exp.runs[0].panel else 99
    png = plots.scatter_fits(
        panels,
        "ELBO (train) against MCC, one point per seed; least-squares line and 95% CI of the fitted mean "
        f"(through {line_fit.MIN_LINE_POINTS} points or more)",
        columns=per_row if per_row <= 6 else len(exp.labels),
    )
    caption = (
        "ELBO on the training split against MCC per seed (MCC to sources where the data has them, else "
        "the seed's mean pairwise CCA-MCC out of sample), least-squares line and 95% t-interval of the "
        f"fitted mean (drawn through {line_fit.MIN_LINE_POINTS} points or more), and Pearson r: "
        + "; ".join(notes)
        + "."
    )
    return FigureFile("elbo_vs_mcc.png", "ELBO against MCC (Fig. 3)", caption, png)


def cluster_scatter_figure(exp: Experiment, colours: dict[str, str]) -> FigureFile | None:
    """§3's claim, pair by pair: the same partition (ARI near 1) goes with the same representation (CCA-MCC)."""
    panels, notes = [], []
    for run in exp.runs:
        groups = []
        for cell in run.cells:
            ari, cca = cell.pair_values("cluster_ari"), cell.pair_values("cca_mcc_out")
            if ari is None or cca is None:
                continue
            xs, ys = finite_pairs(ari, cca)
            groups.append(plots.PointGroup(cell.label, colours[cell.label], xs, ys, len(ari), "pairs"))
            fit = line_fit.fit_line(xs, ys)
            notes.append(
                f"{cell.label}"
                + (f" ({run.setting})" if run.setting else "")
                + f" {plots.count_text(len(xs), len(ari), 'pairs')}, {line_fit.pearson_text(fit)}{_no_line(len(xs))}"
            )
        if groups:
            panels.append(
                plots.ScatterPanel(
                    run.setting or "all models",
                    "cluster ARI between the two seeds",
                    "CCA-MCC out of sample between the two seeds",
                    groups,
                )
            )
    if not panels:
        return None
    png = plots.scatter_fits(
        panels, "Same partition, same representation? One point per pair of seeds", columns=min(3, len(panels))
    )
    caption = (
        "Cluster ARI against CCA-MCC out of sample for every pair of seeds, least-squares line with 95% "
        f"band (drawn through {line_fit.MIN_LINE_POINTS} points or more) and Pearson r per model: "
        + "; ".join(notes)
        + "."
    )
    return FigureFile("cluster_ari_vs_cca_mcc.png", "Cluster agreement against CCA-MCC (§3)", caption, png)
