"""``ica results DIR...``: one table over many runs (a rich table, ``--json`` or ``--csv``), and each
directory's ``index.json`` rewritten on the way (issue #5).

Registered in `ica.cli.app` as ``app.command("results")(user_errors(results_command))``: an `IcaError`
raised here (missing directory, no runs, a corrupt file) becomes one message and exit code 2.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any, List

import typer
from rich.markup import escape
from rich.table import Table

from ica.cli import render
from ica.reporting.runs import SEED_STATES
from ica.errors import IcaError

TWO_DECIMALS = ("elbo_train", "elbo_eval", "bpd_train", "bpd_eval")


def results_command(
    dirs: List[Path] = typer.Argument(..., help="Run directories, grids, or folders holding them (searched "
                                               "recursively)."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON list of row objects (full precision)."),
    as_csv: bool = typer.Option(False, "--csv", help="Print CSV (full precision) instead of a table."),
    index: bool = typer.Option(True, "--index/--no-index",
                               help="Rewrite DIR/index.json for each directory given (default) or not."),
) -> None:
    """One row per run and model: the settings that vary, its seeds (done, failed, running, missing) and each
    metric's median, quartiles and n (seeds or seed pairs, failed ones named). The run directories are read
    every time; each DIR/index.json is rewritten from them."""
    from ica.reporting.runs import find_runs
    from ica.reporting.results import results_table
    from ica.reporting.index import write_index

    if as_json and as_csv:
        raise IcaError("choose one of --json and --csv", where="--json/--csv")
    per_dir = [(Path(d), find_runs([Path(d)])) for d in dirs]  # every directory checked before output
    records, seen = [], set()
    for _, found in per_dir:
        for record in found:
            if record.path.resolve() not in seen:
                seen.add(record.path.resolve())
                records.append(record)
    table = results_table(records)
    if as_json:
        typer.echo(json.dumps(table.rows, indent=2, allow_nan=False))
    elif as_csv:
        typer.echo(csv_text(table), nl=False)
    else:
        print_table(table)
    if index:
        for root, found in per_dir:
            try:
                write_index(root, found)
            except OSError as exc:  # a read-only share still shows its results
                render.errors.print(f"[yellow]warning:[/] could not write {escape(str(root / 'index.json'))}: "
                                    f"{escape(exc.strerror or str(exc))}", highlight=False, soft_wrap=True)


def csv_text(table: Any) -> str:
    """Settings as written (lists and objects as JSON), every statistic as its own column, full precision."""
    stats = ("median", "q25", "q75", "mean", "n", "n_failed")
    header = ["run", "name", "label", "model", "status", "partial", *table.settings,
              "seeds_total", *[f"seeds_{state}" for state in SEED_STATES],
              *[f"{m}_{s}" for m in table.metrics for s in stats]]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for row in table.rows:
        seeds = row["seeds"]
        writer.writerow([
            row["run"], row["name"] or "", row["label"] or "", row["model"] or "", row["status"],
            str(row["partial"]).lower(), *[_csv_value(row["settings"].get(p)) for p in table.settings],
            seeds["total"], *[seeds[state] for state in SEED_STATES],
            *[_csv_value((row["metrics"].get(m) or {}).get(s)) for m in table.metrics for s in stats],
        ])
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
    from ica.reporting.results import seeds_text

    out = Table(title="median \\[q25, q75] over seeds (over seed pairs for CCA-MCC), n = seeds or pairs; "
                      "failed ones are counted in n and named")
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
        out.add_row(
            escape(row["run"]), escape(model), *[escape(show_value(row["settings"].get(p))) for p in table.settings],
            seeds, *[_stat(row["metrics"].get(m), m) + (mark if m in row["metrics"] else "") for m in table.metrics],
        )
    if partial:
        out.caption = ("* partial: a model still training; the ELBO of its seeds done so far only "
                       "(other metrics come with its summary.json)")
    render.console.print(out)


def _stat(stats: dict[str, Any] | None, metric: str) -> str:
    return escape(render.fmt(stats, 2 if metric in TWO_DECIMALS else 3))


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
