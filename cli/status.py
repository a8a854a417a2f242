"""``ica status DIR...``: which runs, models and seeds are finished, failed, running, stopped or missing.

"running" means a process holds the model's training lock now (`ica.running.locks`), wherever it runs; "stopped"
means started and interrupted, with nobody training it: ``ica run`` on the same spec resumes it.

What a sweep needs before it is resubmitted: the run directories are read (they are the only record),
so the answer is right however many machines wrote into them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, List

import typer
from rich.markup import escape
from rich.table import Table

from ica.cli import render
from ica.reporting.rundirs import SEED_STATES as STATES
from ica.running.locks import lock_holder


def status_rows(dirs: list[Path]) -> list[dict[str, Any]]:
    """One row per run and model label: its status, its seeds grouped by state, and who is training it
    (host, pid, since; None when nobody is)."""
    from ica.reporting.finder import find_runs

    rows = []
    for record in find_runs(dirs, render.notice):
        for cell in record.cells:
            seeds = {state: sorted(s for s, st in cell.states.items() if st == state) for state in STATES}
            holder = lock_holder(record.path / cell.label) if cell.status == "running" else None
            rows.append(
                {
                    "run": record.shown,
                    "path": str(record.path),
                    "model": cell.label,
                    "status": cell.status,
                    "seeds": seeds,
                    "holder": holder,
                }
            )
    return rows


def status_command(
    dirs: List[Path] = typer.Argument(..., help="Run directories, grids, or folders holding them."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Which cells and seeds are finished, failed, running (being trained now), stopped (interrupted: run the
    spec again to resume) or missing (not started)."""
    rows = status_rows(list(dirs))
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(title="ica status: seeds per state, read from the run directories")
    for column in ("run", "model", "status", *STATES):
        table.add_column(column, overflow="fold")
    for r in rows:
        cells = [", ".join(map(str, r["seeds"][state])) or "-" for state in STATES]
        holder = r["holder"]
        status = f"{r['status']} (pid {holder.get('pid')} on {holder.get('host')})" if holder else r["status"]
        table.add_row(escape(r["run"]), escape(r["model"]), escape(status), *cells)
    render.console.print(table)
    totals = {state: sum(len(r["seeds"][state]) for r in rows) for state in STATES}
    render.console.print(", ".join(f"{n} {state}" for state, n in totals.items()) + " seeds")
