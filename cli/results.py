"""``ica results DIR...``: one table over many runs (a rich table, ``--json`` or ``--csv``), and each
directory's ``index.json`` rewritten on the way (issue #5). Each metric carries its median and quartiles, the 95%
interval of its mean (jackknife over seeds, hierarchical over data draws) and its controls; ``--compare A B``
tests model A against model B in every setting, corrected over the comparisons shown, with a verdict.

Registered in `ica.cli.app` as ``app.command("results")(user_errors(results_command))``: an `IcaError`
raised here (missing directory, no runs, a corrupt file) becomes one message and exit code 2.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any, List, Optional, Tuple

import typer
from rich.markup import escape
from rich.table import Table

from ica.cli import render
from ica.evaluation.corrections import METHODS
from ica.reporting.runs import SEED_STATES
from ica.errors import IcaError

TWO_DECIMALS = ("elbo_train", "elbo_eval", "bpd_train", "bpd_eval")
STATS = ("median", "q25", "q75", "mean", "n", "n_failed")
CONTROL_LABELS = {"untrained": "untrained", "observations": "observations", "pca": "PCA", "fastica": "FastICA"}
COMPARISON_COLUMNS = ("run", "a", "b", "metric", "median_a", "median_b", "mean_a", "mean_b", "difference", "ci_low",
                      "ci_high", "level", "p_value", "p_adjusted", "margin", "p_equivalent", "p_equivalent_adjusted",
                      "p_noninferior", "verdict", "correction", "test", "n_draws", "n_a", "n_b")


def results_command(
    dirs: List[Path] = typer.Argument(..., help="Run directories, grids, or folders holding them (searched "
                                               "recursively, runs inside runs too; links to folders below them "
                                               "are not followed)."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON list of row objects (full precision)."),
    as_csv: bool = typer.Option(False, "--csv", help="Print CSV (full precision) instead of a table."),
    index: bool = typer.Option(True, "--index/--no-index",
                               help="Rewrite DIR/index.json for each directory given (default) or not."),
    compare: Optional[Tuple[str, str]] = typer.Option(
        None, "--compare", metavar="A B",
        help="Test model label A against B in every setting that has both (same data; draws pooled): per metric "
             "the effect mean(A) - mean(B) with its 95% interval, the two-sided p raw and corrected over every "
             "comparison shown, the equivalence (TOST) p against --margin, and a verdict. Shown below the table; "
             "with --json or --csv these comparisons are the output instead of the rows."),
    margin: float = typer.Option(0.05, "--margin", min=0.0,
                                 help="Equivalence margin δ of --compare, in the metric's units (0: no "
                                      "equivalence test)."),
    correction: str = typer.Option("holm", "--correction",
                                   help=f"Correction of --compare's p over the comparisons shown: "
                                        f"{', '.join(METHODS)} (bh: Benjamini-Hochberg)."),
    metric: Optional[List[str]] = typer.Option(
        None, "--metric", help="Compare only this metric (repeatable); the correction runs over what is shown."),
) -> None:
    """One row per setting and model (a setting's data draws pooled): the settings that vary, its seeds (done,
    failed, running, missing) and each metric's median, quartiles and n (seeds or seed pairs, failed ones named),
    the 95% interval of its mean, and the metric's controls beside it (untrained networks; observations, PCA,
    FastICA floors).
    The run directories are read every time; each DIR/index.json is rewritten from them (one of the user's by that
    name is left alone). Links to folders and unreadable folders below a DIR are passed over, each with a notice."""
    from ica.reporting.runs import find_runs
    from ica.reporting.results import compare_models, results_table
    from ica.reporting.index import write_index

    if as_json and as_csv:
        raise IcaError("choose one of --json and --csv", where="--json/--csv")
    options = comparison_options(margin, correction, metric)
    per_dir = [(Path(d), find_runs([Path(d)], render.notice)) for d in dirs]  # each checked before any output
    records, seen = [], set()
    for _, found in per_dir:
        for record in found:
            if record.path.resolve() not in seen:
                seen.add(record.path.resolve())
                records.append(record)
    table = results_table(records)
    compared = compare_models(records, *compare, options) if compare else None
    if as_json:
        typer.echo(json.dumps(table.rows if compared is None else compared, indent=2, allow_nan=False))
    elif as_csv:
        typer.echo(csv_text(table) if compared is None else comparison_csv(compared), nl=False)
    else:
        print_table(table)
        if compared is not None:
            print_comparison(compared, *compare, options)
    if index:
        for root, found in per_dir:
            try:
                write_index(root, found)
            except OSError as exc:  # a read-only share still shows its results
                render.warning(f"could not write {root / 'index.json'}: {exc.strerror or exc}")
            except IcaError as exc:  # a file of the user's called index.json
                render.warning(str(exc))


def csv_text(table: Any) -> str:
    """Settings as written (lists and objects as JSON), every statistic as its own column, full precision; each
    metric's interval (``*_ci_low``, ``*_ci_high``) and controls beside it (a floor is one value per run)."""
    columns = metric_columns(table)
    header = ["run", "name", "label", "model", "status", "partial", *table.settings,
              "seeds_total", *[f"seeds_{state}" for state in SEED_STATES], *[c[0] for c in columns]]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for row in table.rows:
        seeds = row["seeds"]
        writer.writerow([
            row["run"], row["name"] or "", row["label"] or "", row["model"] or "", row["status"],
            str(row["partial"]).lower(), *[_csv_value(row["settings"].get(p)) for p in table.settings],
            seeds["total"], *[seeds[state] for state in SEED_STATES],
            *[_csv_value(_column_value(row, name, what)) for _, name, what in columns],
        ])
    return buffer.getvalue()


def metric_columns(table: Any) -> list[tuple[str, str, str]]:
    """(header, metric or control, what) for every CSV column of the metrics, each followed by its controls."""
    floor_names = {n for row in table.rows for n in row.get("floors", {})}
    columns = []
    for metric in table.metrics:
        for name in (metric, *table.controls.get(metric, [])):
            if name in floor_names:
                columns.append((name, name, "floor"))
                continue
            columns += [(f"{name}_{s}", name, s) for s in STATS]
            columns += [(f"{name}_ci_low", name, "ci_low"), (f"{name}_ci_high", name, "ci_high")]
    return columns


def _column_value(row: dict[str, Any], name: str, what: str) -> Any:
    if what == "floor":
        return row["floors"].get(name)
    if what.startswith("ci_"):
        return (row["ci"].get(name) or {}).get(what[3:])
    return (row["metrics"].get(name) or {}).get(what)


def comparison_csv(rows: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COMPARISON_COLUMNS)
    for row in rows:
        writer.writerow([_csv_value(row[c]) for c in COMPARISON_COLUMNS])
    return buffer.getvalue()


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    if isinstance(value, float):
        return repr(value)
    return value


def print_table(table: Any) -> None:
    """A rich table; rows of models still training carry '*' on their (partial, ELBO-only) statistics."""
    from ica.reporting.collapse import collapse_text
    from ica.reporting.results import seeds_text

    out = Table(title="median, then quartiles and n over seeds (over seed pairs for pairwise metrics; a setting's "
                      "data draws pooled), n = seeds or pairs, failed ones counted and named; then the mean with its "
                      "95% interval (t, jackknife over seeds; over draws, the draws' means; 'too few seeds' below 2 "
                      "seeds, 3 for pairwise metrics); below, the metric's controls: untrained networks' median "
                      "(quartiles), the observations' (per seed for agreement metrics), floors of the observations, "
                      "their PCA and FastICA")
    out.add_column("run", overflow="fold")
    out.add_column("model", overflow="fold")
    for path in table.settings:
        out.add_column(escape(_short(path)), overflow="fold")
    out.add_column("seeds", overflow="fold")
    for metric in table.metrics:
        out.add_column(metric, overflow="fold")
    partial = False
    for row in table.rows:
        mark = " *" if row["partial"] else ""
        partial = partial or row["partial"]
        model = "-" if row["label"] is None else (
            row["label"] if row["label"] == row["model"] else f"{row['label']} ({row['model']})")
        seeds = "not started" if not row["seeds"]["total"] else seeds_text(row["seeds"])
        collapse = collapse_text(row.get("collapsed"))
        if collapse:
            seeds += f"\n{collapse}"
        if row.get("draws"):
            seeds = f"{len(row['draws'])} draws (data seeds {', '.join(map(str, row['draws']))}): {seeds}"
        out.add_row(
            escape(row["run"]), escape(model), *[escape(show_value(row["settings"].get(p))) for p in table.settings],
            seeds, *[escape(metric_text(row, m, table.controls.get(m, []), mark)) for m in table.metrics],
        )
    if partial:
        out.caption = ("* partial: a model still training; the ELBO of its seeds done so far only "
                       "(other metrics come with its summary.json)")
    render.console.print(out)


def metric_text(row: dict[str, Any], metric: str, controls: list[str], mark: str = "") -> str:
    """'0.712 [0.650, 0.780]' (median [interval]) / 'q 0.610 to 0.800 n=5 (1 failed)', then a line per control:
    'untrained 0.210 (q 0.180 to 0.250)' and the floors on one line 'observations 0.520, FastICA 0.610'."""
    from ica.reporting.results import split_control

    digits = 2 if metric in TWO_DECIMALS else 3
    stats = row["metrics"].get(metric)
    lines = [_median_text(stats, digits) + (mark if stats else "")]
    if stats and stats.get("median") is not None:
        lines.append(f"q {stats['q25']:.{digits}f} to {stats['q75']:.{digits}f} {_n_text(stats)}")
        lines.append(_mean_text(row["ci"].get(metric), digits))
    floors = []
    for name in controls:
        kind = CONTROL_LABELS.get(split_control(name)[1] or "", name)
        if name in row["floors"]:
            value = row["floors"][name]
            floors.append(f"{kind} {'failed' if value is None else f'{value:.{digits}f}'}")
        elif name in row["metrics"]:
            control = row["metrics"][name]
            shown = f"failed {_n_text(control)}" if control.get("median") is None else \
                f"{control['median']:.{digits}f} (q {control['q25']:.{digits}f} to {control['q75']:.{digits}f})"
            lines.append(f"{kind} {shown}")
    if floors:
        lines.append(", ".join(floors))
    return "\n".join(lines)


def _median_text(stats: dict[str, Any] | None, digits: int) -> str:
    if not stats:
        return "-"
    if stats.get("median") is None:
        return f"failed {_n_text(stats)}"
    return f"{stats['median']:.{digits}f}"


def _mean_text(ci: dict[str, Any] | None, digits: int) -> str:
    """'mean 0.705 [0.650, 0.780]', or why there is no interval."""
    if not ci:
        return "mean: too few seeds for an interval"
    draws = f" over {ci['n_draws']} draws" if ci.get("n_draws", 1) > 1 else ""
    return f"mean {ci['mean']:.{digits}f} [{ci['low']:.{digits}f}, {ci['high']:.{digits}f}]{draws}"


def _n_text(stats: dict[str, Any]) -> str:
    return f"n={stats['n']}" + (f" ({stats['n_failed']} failed)" if stats.get("n_failed") else "")


def comparison_options(margin: float, correction: str, metric: list[str] | None) -> Any:
    """``--margin``, ``--correction`` and ``--metric`` as `ica.reporting.comparisons.ComparisonOptions` (a margin
    of 0: no equivalence test), or an `IcaError` naming the option; ``ica results`` and ``ica report`` share it."""
    from ica.reporting.comparisons import ComparisonOptions

    if correction not in METHODS:
        raise IcaError(f"unknown correction {correction!r}; choose one of {', '.join(METHODS)}", where="--correction")
    if margin != margin or margin == float("inf"):
        raise IcaError(f"the margin must be a finite number, got {margin}", where="--margin")
    return ComparisonOptions(margin or None, correction, tuple(metric) if metric else None)


def print_comparison(rows: list[dict[str, Any]], a: str, b: str, options: Any) -> None:
    """The comparisons of ``--compare A B``: per setting and metric, both means, the effect with its interval,
    raw and corrected p, the equivalence p and the verdict; the caption says how each was made."""
    from ica.reporting.comparisons import caption, counts_text, effect_text, p_text

    margin = options.margin
    out = Table(title=escape(caption(a, b, margin, options.correction).format(n=len(rows))))
    for column in ("run", "metric", f"mean {a}", f"mean {b}", f"{a} - {b} [95%]", "p", "p adj.",
                   f"p equiv. (±{margin:g}) adj." if margin else "p equiv.", "verdict", "n"):
        out.add_column(escape(column), overflow="fold")
    for row in rows:
        out.add_row(escape(row["run"]), escape(row["metric"]), _number(row["mean_a"]), _number(row["mean_b"]),
                    effect_text(row), p_text(row["p_value"]), p_text(row["p_adjusted"]),
                    p_text(row["p_equivalent_adjusted"]), escape(row["verdict"]), counts_text(row))
    render.console.print(out)


def _number(value: float | None, signed: bool = False) -> str:
    return "-" if value is None else f"{value:+.3g}" if signed else f"{value:.3f}"


def _short(path: str) -> str:
    """'models.*.latent_dim' -> 'latent_dim'-like headers stay recognisable: drop 'models.*.' only."""
    return path[len("models.*."):] if path.startswith("models.*.") else path


def show_value(value: Any) -> str:
    """Readable cell text: components by name, lists joined, None as '-'."""
    if value is None:
        return "-"
    if isinstance(value, dict):
        return str(value.get("name", json.dumps(value, sort_keys=True)))
    if isinstance(value, list):
        return "[" + ", ".join(show_value(v) for v in value) + "]"
    return str(value)
