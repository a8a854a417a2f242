"""The tables of `ica report`: every metric per setting and model (median [q25, q75] n=..., equal to
summary.json's statistics; metrics named and ordered by the measures their metrics declare), the reference values
computed once per run (Fig. 2's floors), and the list of failed seeds, so a failure is always spelled out and never
silently dropped.

Significance: each metric beside its controls (the untrained networks, the floors of the observations,
their PCA and FastICA) with a sentence wherever the model's median lies within a control's range, and the
comparison of every two models of each setting, draws pooled, corrected over the whole table
(`ica.reporting.comparisons`).
"""

from __future__ import annotations

from typing import Any

from ica.components.measures import fmt_number, stats_text
from ica.reporting.collapse import collapse_text, collapsed
from ica.reporting.comparisons import (
    ComparisonOptions,
    Group,
    compare_groups,
    correct,
    counts_text,
    effect_text,
    p_text,
    pooled_stats,
)
from ica.reporting.draws import DrawGroup, setting_groups
from ica.reporting.experiment import Experiment
from ica.reporting.rundirs import CellRecord as Cell, RunRecord as Run
from ica.reporting.results import FLOORS, interval, known_measures, metric_order, metrics_compared, split_control

Table = tuple[list[str], list[list[str]]]

FLOOR_TOLERANCE = 0.05
"""A median within this much of a floor (one value per cell: the raw observations, their PCA, FastICA) is
said to be at the floor. An absolute difference: the metrics with floors are correlations, R² and agreements
on a 0-1 scale, where 0.05 is a small difference."""
CONTROL_TEXT = {
    "untrained": "the untrained networks'",
    "observations": "the raw observations'",
    "pca": "PCA's",
    "fastica": "FastICA's",
}


def table_metrics(exp: Experiment) -> list[str]:
    """Metrics of the summaries, the paper's first, then the rest; per-position grid values and controls
    (``*_untrained``: `controls_table` shows them beside their metric) left out."""
    found = {m for r in exp.runs for c in r.cells for m in (c.summary or {}).get("stats", {}) if "[" not in m}
    return [m for m in metric_order(found) if split_control(m)[1] is None]


def _setting(exp: Experiment, run: Run | None = None) -> list[str]:
    """The setting column, which a lone run has no use for: its header (no run given), or this run's cell."""
    if exp.kind == "run":
        return []
    return ["setting"] if run is None else [run.setting]


def metrics_table(exp: Experiment) -> Table:
    """One row per setting and model: a setting's data draws pooled (every draw's seeds or pairs together)."""
    metrics = table_metrics(exp)
    header = _setting(exp) + ["model", "seeds"] + [known_measures().title(m) for m in metrics]
    rows = []
    for group in setting_groups(exp.runs):
        if len(group.items) == 1:
            run = group.items[0]
            for cell in run.cells:
                stats = (cell.summary or {}).get("stats", {})
                row = _setting(exp, run) + [_model_text(cell), seed_status_text(cell)]
                rows.append(row + [stats_text(stats.get(m)) if cell.summary else "(no summary yet)" for m in metrics])
            continue
        for label in dict.fromkeys(c.label for run in group.items for c in run.cells):
            drawn = [(d, c) for d, run in zip(group.draws, group.items) for c in run.cells if c.label == label]
            cells = [c for _, c in drawn]
            summaries = {d: c.summary for d, c in drawn if c.summary is not None}
            seeds = f"{len(cells)} draws × " + "; ".join(dict.fromkeys(seed_status_text(c) for c in cells))
            row = [setting_text(group)] + [_model_text(cells[0]), seeds]
            rows.append(
                row + [stats_text(pooled_stats(summaries, m)) if summaries else "(no summary yet)" for m in metrics]
            )
    return header, rows


def reference_table(exp: Experiment) -> Table | None:
    """One value per run (e.g. MCC of the observations themselves, of FastICA): floors for Fig. 2."""
    rows = []
    for run in exp.runs:
        values: dict[str, Any] = {}
        for cell in run.cells:
            values.update((cell.summary or {}).get("cell", {}))
        rows += [
            _setting(exp, run) + [k, "failed" if v is None else fmt_number(v)]
            for k, v in values.items()
            if not isinstance(v, (dict, list))
        ]
    if not rows:
        return None
    return _setting(exp) + ["quantity", "value"], rows


def seed_status_text(cell: Cell) -> str:
    parts = [f"{cell.count('finished')} finished"]
    for status in ("failed", "running", "not started"):
        if cell.count(status):
            parts.append(f"{cell.count(status)} {status}")
    return f"{len(cell.seeds)}: " + ", ".join(parts)


def _model_text(cell: Cell) -> str:
    return cell.label if cell.model == cell.label else f"{cell.label} ({cell.model})"


def failures(exp: Experiment) -> list[str]:
    """One line per failed seed, with where it ran and its error."""
    out = []
    for run in exp.runs:
        for cell in run.cells:
            for seed in cell.seeds:
                if seed.status == "failed":
                    where = f"{run.setting}, " if run.setting else ""
                    out.append(f"{where}{cell.label} seed {seed.seed}: {seed.error or 'failed'}")
    return out


# ------------------------------------------------------------------------------------ controls
def _controls_of(summary: dict[str, Any], metric: str) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """The untrained networks' statistics of ``metric`` (or None) and its floors present ({kind: value}); for an
    agreement metric, whose observation control is measured per seed, the observations' median over seeds."""
    cell, stats = summary.get("cell", {}), summary.get("stats", {})
    floors = {kind: cell[f"{metric}_{kind}"] for kind in FLOORS if f"{metric}_{kind}" in cell}
    per_seed = stats.get(f"{metric}_observations")
    if "observations" not in floors and per_seed is not None:
        floors["observations"] = per_seed.get("median")
    return stats.get(f"{metric}_untrained"), floors


def _controlled(exp: Experiment) -> list[tuple[Run, Cell, str, dict[str, Any]]]:
    """(run, cell, metric, the cell's summary) for every metric of a summary that has at least one control; none
    for old runs."""
    found, metrics = [], table_metrics(exp)
    for run in exp.runs:
        for cell in run.cells:
            summary = cell.summary
            if summary is None:
                continue
            for metric in metrics:
                untrained, floors = _controls_of(summary, metric)
                if metric in summary.get("stats", {}) and (untrained or floors):
                    found.append((run, cell, metric, summary))
    return found


def controls_table(exp: Experiment) -> Table | None:
    """Each metric beside its controls: the model's median [95% interval], the untrained networks' median
    [q25, q75], and the floors. None when no run has controls (runs from before they existed)."""
    found = _controlled(exp)
    if not found:
        return None
    header = _setting(exp) + [
        "model",
        "metric",
        "median; mean [95% interval]",
        "untrained networks",
        "observations",
        "PCA",
        "FastICA",
    ]
    rows, measures = [], known_measures()
    for run, cell, metric, summary in found:
        stats = summary["stats"][metric]
        ci = interval(summary, metric)
        median = (
            "all failed"
            if stats.get("median") is None
            else fmt_number(stats["median"])
            + (
                f"; {fmt_number(ci['mean'])} [{fmt_number(ci['low'])}, {fmt_number(ci['high'])}]"
                if ci
                else "; too few seeds for an interval"
            )
        )
        untrained, floors = _controls_of(summary, metric)
        rows.append(
            _setting(exp, run)
            + [_model_text(cell), measures.title(metric), median, stats_text(untrained)]
            + ["-" if k not in floors else "failed" if floors[k] is None else fmt_number(floors[k]) for k in FLOORS]
        )
    return header, rows


def control_sentences(exp: Experiment) -> list[str]:
    """One sentence per (run, model, metric) whose median lies within a control's range: between the untrained
    networks' quartiles, or within `FLOOR_TOLERANCE` of a floor."""
    out = []
    for run, cell, metric, summary in _controlled(exp):
        median = summary["stats"][metric].get("median")
        if median is None:
            continue
        where = f"{run.setting}, " if run.setting else ""
        said = f"{where}{cell.label}: median {metric} {fmt_number(median)} is within"
        untrained, floors = _controls_of(summary, metric)
        if untrained and untrained.get("median") is not None and untrained["q25"] <= median <= untrained["q75"]:
            out.append(
                f"{said} {CONTROL_TEXT['untrained']} range (q25–q75 {fmt_number(untrained['q25'])}–"
                f"{fmt_number(untrained['q75'])})"
            )
        for kind, value in floors.items():
            if value is not None and abs(median - value) <= FLOOR_TOLERANCE:
                out.append(f"{said} {FLOOR_TOLERANCE:g} of {CONTROL_TEXT[kind]} {fmt_number(value)}")
    for run in exp.runs:
        for cell in run.cells:
            text = collapse_text(collapsed({None: cell.summary})) if cell.summary else None
            if text:
                out.append(f"{run.setting + ', ' if run.setting else ''}{cell.label}: {text}")
    return out


# ---------------------------------------------------------------------------------- comparison
def setting_text(group: DrawGroup[Run]) -> str:
    """How a setting is named: its run's setting, or with draws that of its first draw without the draw
    (the innermost axis, last in the name) and how many draws there are."""
    first = group.items[0]
    name = first.setting or str(first.directory)
    if len(group.items) == 1:
        return name
    drawn = f"{(first.draw_axis or '').split('.')[-1]}={first.draw}"
    name = name[: -len(drawn)].rstrip() if name.endswith(drawn) else name
    return f"{name} ({len(group.items)} draws)".strip()


def comparison_groups(exp: Experiment) -> list[Group]:
    """Each setting as a `Group`: every finished model's summary per draw."""
    found = []
    for group in setting_groups(exp.runs):
        first = group.items[0]
        g = Group(setting_text(group), str(first.directory))
        for draw, run in zip(group.draws, group.items):
            for cell in run.cells:
                if cell.summary is not None:
                    g.summaries.setdefault(cell.label, {})[draw] = cell.summary
        found.append(g)
    return found


def comparisons(exp: Experiment, options: ComparisonOptions = ComparisonOptions()) -> list[dict[str, Any]]:
    """Every two models of every setting on each metric they share (``options.metrics`` only, where given),
    corrected together over everything returned (`ica.reporting.comparisons.correct`)."""
    groups = comparison_groups(exp)
    labels = exp.labels
    chosen = metrics_compared(options)
    rows = [
        row
        for i, a in enumerate(labels)
        for b in labels[i + 1 :]
        for row in compare_groups(groups, a, b, chosen, options.margin, options.correction)
    ]
    return correct(rows, options.correction)


def comparison_table(exp: Experiment, options: ComparisonOptions = ComparisonOptions()) -> Table | None:
    """`comparisons` as a table: one row per setting, model pair and metric. None when no setting has two
    finished models."""
    rows = comparisons(exp, options)
    if not rows:
        return None
    header = _setting(exp) + [
        "models",
        "metric",
        "effect [95% interval]",
        "p",
        "p adj.",
        "p equiv. adj.",
        "verdict",
        "n",
    ]
    out, measures = [], known_measures()
    for row in rows:
        out.append(
            [
                row["run"],
                f"{row['a']} − {row['b']}",
                measures.title(row["metric"]),
                effect_text(row, "+.3g"),
                p_text(row["p_value"]),
                p_text(row["p_adjusted"]),
                p_text(row["p_equivalent_adjusted"]),
                row["verdict"],
                counts_text(row),
            ]
        )
    return ["setting", *header[len(_setting(exp)) :]], out
