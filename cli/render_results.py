"""How ``ica results`` prints its table: one row per model and metric (a long format), so that any number of
metrics fits a terminal of 120 columns, and ``--compare``'s comparisons below it.

Each (run, model) is one section: its run, model, varying settings and seeds on its first line, then one line per
metric shown, named by the metric's measure (`ica.plugin.Measure.header`): the median, quartiles and n, the mean
with its 95% interval, and beside it the metric's controls (untrained networks; observations, PCA, FastICA).
Numbers are shown at each measure's decimals.
"""

from __future__ import annotations

import json
from typing import Any

from rich.markup import escape
from rich.table import Table

from ica.cli.output import console
from ica.components.measures import CONTROL_NAMES, Measure, Measures

TITLE = (
    "median, then quartiles and n over seeds (over seed pairs for pairwise metrics; a setting's data draws "
    "pooled), failed ones counted and named; then the mean with its 95% interval (t, jackknife over seeds; over "
    "draws, the draws' means; 'too few seeds' below 2 seeds, 3 for pairwise metrics); beside it, the metric's "
    "controls: untrained networks' median (quartiles), the observations' (per seed for agreement metrics), "
    "floors of the observations, their PCA and FastICA"
)


def print_results(table: Any, shown: list[str], measures: Measures) -> None:
    """The rows of `ica.reporting.results.results_table` with the metrics ``shown``; rows of models still
    training carry '*' on their (partial, ELBO-only) statistics."""
    from ica.reporting.collapse import collapse_text
    from ica.reporting.results import seed_counts_text

    out = Table(title=TITLE)
    for column in ("run", "model", *[_short(path) for path in table.settings], "seeds"):
        out.add_column(escape(column), overflow="fold")
    out.add_column("metric", no_wrap=True)  # at most 14 characters: the other columns wrap first
    out.add_column("median, q, mean [95%]", no_wrap=True)
    out.add_column("controls", overflow="fold")
    partial = False
    for row in table.rows:
        mark = " *" if row["partial"] else ""
        partial = partial or row["partial"]
        model = (
            "-"
            if row["label"] is None
            else (row["label"] if row["label"] == row["model"] else f"{row['label']} ({row['model']})")
        )
        seeds = "not started" if not row["seeds"]["total"] else seed_counts_text(row["seeds"])
        collapse = collapse_text(row.get("collapsed"))
        if collapse:
            seeds += f"\n{collapse}"
        if row.get("draws"):
            seeds = f"{len(row['draws'])} draws (data seeds {', '.join(map(str, row['draws']))}): {seeds}"
        settings = [escape(show_value(row["settings"].get(p))) for p in table.settings]
        first = [escape(row["run"]), escape(model), *settings, escape(seeds)]
        controls = table.controls
        metrics = [m for m in shown if m in row["metrics"] or any(c in row["floors"] for c in controls.get(m, []))]
        lines = [
            [
                escape(measures.get(m).header),
                escape(metric_text(row, m, measures.get(m), mark)),
                escape(controls_text(row, controls.get(m, []), measures.get(m))),
            ]
            for m in metrics
        ]
        for i, line in enumerate(lines or [["-", "-", ""]]):
            out.add_row(*(first if i == 0 else [""] * len(first)), *line, end_section=i == max(len(lines), 1) - 1)
    if partial:
        out.caption = (
            "* partial: a model still training; the ELBO of its seeds done so far only "
            "(other metrics come with its summary.json)"
        )
    console.print(out)


def hidden_text(table: Any, shown: list[str], measures: Measures) -> str | None:
    """'also measured: mcc_spearman, elbo_eval, grid_mcc_in<index> (16 values) (--metrics NAME,... shows them, ...)'
    for the metrics the table leaves out; None when it shows them all."""
    hidden = [m for m in table.metrics if m not in shown]
    if not hidden:
        return None
    plain = [m for m in hidden if measures.family(m) is None]
    families: dict[str, int] = {}
    for m in hidden:
        if (family := measures.family(m)) is not None:
            families[family.key] = families.get(family.key, 0) + 1
    parts = plain + [f"{key}<index> ({n} values)" for key, n in families.items()]
    return f"also measured: {', '.join(parts)} (--metrics NAME,... shows them, --all shows every one)"


def metric_text(row: dict[str, Any], metric: str, measure: Measure, mark: str = "") -> str:
    """'0.712' (median), 'q 0.610 to 0.800 n=5 (1 failed)', 'mean 0.705 [0.650, 0.780]', one per line."""
    stats = row["metrics"].get(metric)
    lines = [_median_text(stats, measure) + (mark if stats else "")]
    if stats and stats.get("median") is not None:
        lines.append(f"q {measure.number(stats['q25'])} to {measure.number(stats['q75'])} {_n_text(stats)}")
        lines.append(_mean_text(row["ci"].get(metric), measure))
    return "\n".join(lines)


def controls_text(row: dict[str, Any], controls: list[str], measure: Measure) -> str:
    """A line per control measured per seed ('untrained 0.210 (q 0.180 to 0.250)'), then the floors on one line
    ('observations 0.520, PCA 0.480, FastICA 0.610')."""
    lines, floors = [], []
    for name in controls:
        kind = CONTROL_NAMES.get(name.rpartition("_")[2], name)
        if name in row["floors"]:
            floors.append(f"{kind} {measure.number(row['floors'][name])}")
        elif name in row["metrics"]:
            control = row["metrics"][name]
            shown = (
                f"failed {_n_text(control)}"
                if control.get("median") is None
                else f"{measure.number(control['median'])} (q {measure.number(control['q25'])} to "
                f"{measure.number(control['q75'])})"
            )
            lines.append(f"{kind} {shown}")
    if floors:
        lines.append(", ".join(floors))
    return "\n".join(lines)


def _median_text(stats: dict[str, Any] | None, measure: Measure) -> str:
    if not stats:
        return "-"
    if stats.get("median") is None:
        return f"failed {_n_text(stats)}"
    return measure.number(stats["median"])


def _mean_text(ci: dict[str, Any] | None, measure: Measure) -> str:
    """'mean 0.705 [0.650, 0.780]', or why there is no interval."""
    if not ci:
        return "mean: too few seeds for an interval"
    draws = f" over {ci['n_draws']} draws" if ci.get("n_draws", 1) > 1 else ""
    return f"mean {measure.number(ci['mean'])} [{measure.number(ci['low'])}, {measure.number(ci['high'])}]{draws}"


def _n_text(stats: dict[str, Any]) -> str:
    return f"n={stats['n']}" + (f" ({stats['n_failed']} failed)" if stats.get("n_failed") else "")


def print_comparison(rows: list[dict[str, Any]], a: str, b: str, options: Any) -> None:
    """The comparisons of ``--compare A B``: per setting and metric, both means, the effect with its interval,
    raw and corrected p, the equivalence p and the verdict; the caption says how each was made."""
    from ica.reporting.comparisons import caption, counts_text, effect_text, p_text

    margin = options.margin
    out = Table(title=escape(caption(a, b, margin, options.correction).format(n=len(rows))))
    for column in (
        "run",
        "metric",
        f"mean {a}",
        f"mean {b}",
        f"{a} - {b} [95%]",
        "p",
        "p adj.",
        f"p equiv. (±{margin:g}) adj." if margin else "p equiv.",
        "verdict",
        "n",
    ):
        out.add_column(escape(column), overflow="fold")
    for row in rows:
        out.add_row(
            escape(row["run"]),
            escape(row["metric"]),
            _number(row["mean_a"]),
            _number(row["mean_b"]),
            effect_text(row),
            p_text(row["p_value"]),
            p_text(row["p_adjusted"]),
            p_text(row["p_equivalent_adjusted"]),
            escape(row["verdict"]),
            counts_text(row),
        )
    console.print(out)


def _number(value: float | None, signed: bool = False) -> str:
    return "-" if value is None else f"{value:+.3g}" if signed else f"{value:.3f}"


def _short(path: str) -> str:
    """'models.*.latent_dim' -> 'latent_dim'-like headers stay recognisable: drop 'models.*.' only."""
    return path[len("models.*.") :] if path.startswith("models.*.") else path


def show_value(value: Any) -> str:
    """Readable cell text: components by name, lists joined, None as '-'."""
    if value is None:
        return "-"
    if isinstance(value, dict):
        return str(value.get("name", json.dumps(value, sort_keys=True)))
    if isinstance(value, list):
        return "[" + ", ".join(show_value(v) for v in value) + "]"
    return str(value)
