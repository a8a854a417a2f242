"""``ica results DIR...``: one table over many runs (a rich table, ``--json`` or ``--csv``), and each
directory's ``index.json`` rewritten on the way. Each metric carries its median and quartiles, the 95%
interval of its mean (jackknife over seeds, hierarchical over data draws) and its controls; ``--compare A B``
tests model A against model B in every setting, corrected over the comparisons shown, with a verdict.

The table shows the headline metrics (those their metric declares so, `ica.plugin.Measure.headline`), one row per
model and metric (`ica.cli.render_results`); ``--metrics`` picks others and ``--all`` shows every one. ``--json``
and ``--csv`` always hold every metric.

Registered in `ica.cli.app` as ``app.command("results")(user_errors(results_command))``: an `IcaError`
raised here (missing directory, no runs, a corrupt file) becomes one message and exit code 2.
"""

from __future__ import annotations

import csv
import difflib
import io
import json
from pathlib import Path
from typing import Any, List, Optional, Tuple

import typer
from rich.markup import escape

from ica.cli import render
from ica.cli.render_results import hidden_text, print_comparison, print_results
from ica.components.measures import Measures
from ica.evaluation.corrections import METHODS
from ica.reporting.rundirs import SEED_STATES
from ica.errors import IcaError

STATS = ("median", "q25", "q75", "mean", "n", "n_failed")
COMPARISON_COLUMNS = (
    "run",
    "a",
    "b",
    "metric",
    "median_a",
    "median_b",
    "mean_a",
    "mean_b",
    "difference",
    "ci_low",
    "ci_high",
    "level",
    "p_value",
    "p_adjusted",
    "margin",
    "p_equivalent",
    "p_equivalent_adjusted",
    "p_noninferior",
    "verdict",
    "correction",
    "test",
    "n_draws",
    "n_a",
    "n_b",
)


def results_command(
    dirs: List[Path] = typer.Argument(
        ...,
        help="Run directories, grids, or folders holding them (searched "
        "recursively, runs inside runs too; links to folders below them "
        "are not followed).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON list of row objects (full precision)."),
    as_csv: bool = typer.Option(False, "--csv", help="Print CSV (full precision) instead of a table."),
    index: bool = typer.Option(
        True, "--index/--no-index", help="Rewrite DIR/index.json for each directory given (default) or not."
    ),
    compare: Optional[Tuple[str, str]] = typer.Option(
        None,
        "--compare",
        metavar="A B",
        help="Test model label A against B in every setting that has both (same data; draws pooled): per metric "
        "the effect mean(A) - mean(B) with its 95% interval, the two-sided p raw and corrected over every "
        "comparison shown, the equivalence (TOST) p against --margin, and a verdict. Shown below the table; "
        "with --json or --csv these comparisons are the output instead of the rows.",
    ),
    margin: float = typer.Option(
        0.05,
        "--margin",
        min=0.0,
        help="Equivalence margin δ of --compare, in the metric's units (0: no equivalence test).",
    ),
    correction: str = typer.Option(
        "holm",
        "--correction",
        help=f"Correction of --compare's p over the comparisons shown: {', '.join(METHODS)} (bh: Benjamini-Hochberg).",
    ),
    metric: Optional[List[str]] = typer.Option(
        None, "--metric", help="Compare only this metric (repeatable); the correction runs over what is shown."
    ),
    metrics: Optional[str] = typer.Option(
        None,
        "--metrics",
        metavar="NAME,...",
        help="The metrics the table shows, as summary.json names them, comma-separated (e.g. mcc,mcc_spearman,"
        "elbo_eval); default: the headline ones. --json and --csv always hold every metric.",
    ),
    show_all: bool = typer.Option(False, "--all", help="Show every metric in the table (per-position values too)."),
) -> None:
    """One section per setting and model (a setting's data draws pooled): the settings that vary and its seeds (done,
    failed, running, missing), then a row per metric shown (the headline ones unless --metrics or --all say
    otherwise): median, quartiles and n (seeds or seed pairs, failed ones named), the 95% interval of its mean, and
    its controls beside it (untrained networks; observations, PCA, FastICA floors).
    The run directories are read every time; each DIR/index.json is rewritten from them (one of the user's by that
    name is left alone). Links to folders and unreadable folders below a DIR are passed over, each with a notice."""
    from ica.components.registry import registry
    from ica.reporting.finder import find_runs
    from ica.reporting.results import compare_models, results_table
    from ica.reporting.index import write_index

    if as_json and as_csv:
        raise IcaError("choose one of --json and --csv", where="--json/--csv")
    if metrics is not None and show_all:
        raise IcaError("choose one of --metrics and --all", where="--metrics/--all")
    options = comparison_options(margin, correction, metric)
    per_dir = [(Path(d), find_runs([Path(d)], render.notice)) for d in dirs]  # each checked before any output
    records, seen = [], set()
    for _, found in per_dir:
        for record in found:
            if record.path.resolve() not in seen:
                seen.add(record.path.resolve())
                records.append(record)
    table = results_table(records)
    measures = registry().measures()
    shown = shown_metrics(table.metrics, measures, metrics, show_all)  # a name these runs lack is an error anyway
    compared = compare_models(records, *compare, options) if compare else None
    if as_json:
        typer.echo(json.dumps(table.rows if compared is None else compared, indent=2, allow_nan=False))
    elif as_csv:
        typer.echo(csv_text(table) if compared is None else comparison_csv(compared), nl=False)
    else:
        print_results(table, shown, measures)
        hidden = hidden_text(table, shown, measures)
        if hidden:
            render.console.print(escape(hidden), highlight=False)
        if compare and compared is not None:  # compared exactly when compare is given
            print_comparison(compared, *compare, options)
    if index:
        for root, found in per_dir:
            try:
                write_index(root, found)
            except OSError as exc:  # a read-only share still shows its results
                render.warning(f"could not write {root / 'index.json'}: {exc.strerror or exc}")
            except IcaError as exc:  # a file of the user's called index.json
                render.warning(str(exc))


def shown_metrics(found: list[str], measures: Measures, chosen: str | None, everything: bool) -> list[str]:
    """The metrics the table shows, in table order: every one (``--all``), those named (``--metrics a,b``; an
    `IcaError` naming one these runs do not have), or the headline ones (every metric where the runs have none)."""
    if everything:
        return list(found)
    if chosen is None:
        return measures.headline(found) or [m for m in found if measures.family(m) is None]
    names = [n.strip() for n in chosen.split(",") if n.strip()]
    if not names:
        raise IcaError("name at least one metric, e.g. --metrics mcc,elbo_train", where="--metrics")
    for name in names:
        if name not in found:
            close = difflib.get_close_matches(name, found, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            listing = ", ".join(m for m in found if measures.family(m) is None)
            raise IcaError(
                f"these runs have no metric {name!r}{hint} (metrics: {listing or 'none'})", where="--metrics"
            )
    return [m for m in found if m in names]


def csv_text(table: Any) -> str:
    """Settings as written (lists and objects as JSON), every statistic as its own column, full precision; each
    metric's interval (``*_ci_low``, ``*_ci_high``) and controls beside it (a floor is one value per run)."""
    columns = metric_columns(table)
    header = [
        "run",
        "name",
        "label",
        "model",
        "status",
        "partial",
        *table.settings,
        "seeds_total",
        *[f"seeds_{state}" for state in SEED_STATES],
        *[c[0] for c in columns],
    ]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for row in table.rows:
        seeds = row["seeds"]
        writer.writerow(
            [
                row["run"],
                row["name"] or "",
                row["label"] or "",
                row["model"] or "",
                row["status"],
                str(row["partial"]).lower(),
                *[_csv_value(row["settings"].get(p)) for p in table.settings],
                seeds["total"],
                *[seeds[state] for state in SEED_STATES],
                *[_csv_value(_column_value(row, name, what)) for _, name, what in columns],
            ]
        )
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


def comparison_options(margin: float, correction: str, metric: list[str] | None) -> Any:
    """``--margin``, ``--correction`` and ``--metric`` as `ica.reporting.comparisons.ComparisonOptions` (a margin
    of 0: no equivalence test), or an `IcaError` naming the option; ``ica results`` and ``ica report`` share it."""
    from ica.reporting.comparisons import ComparisonOptions

    if correction not in METHODS:
        raise IcaError(f"unknown correction {correction!r}; choose one of {', '.join(METHODS)}", where="--correction")
    if margin != margin or margin == float("inf"):
        raise IcaError(f"the margin must be a finite number, got {margin}", where="--margin")
    return ComparisonOptions(margin or None, correction, tuple(metric) if metric else None)
