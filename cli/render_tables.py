"""The table ``ica run`` ends with: each model's headline measures, then the floors measured on the same points.

The columns are the headline measures the run has (`ica.plugin.Measure.headline`, declared by each metric, a
third-party one included), in their order, headed by their short names; each cell is ``median [q25, q75] n=N`` by
the one rule of `ica.components.measures.stats_text`.
"""

from __future__ import annotations

import sys
from typing import Any

from rich.markup import escape
from rich.table import Table

from ica.cli.output import console
from ica.components.measures import CONTROL_NAMES, CONTROLS, Measures, stats_text
from ica.components.registry import registry


def summary_table(summary: dict[str, Any], measures: Measures | None = None) -> None:
    """The run's summary.json as a table: one row per model, one column per headline measure."""
    measures = measures or registry().measures()
    cells = summary["cells"]
    shown = measures.headline({m for c in cells.values() for m in c["stats"]})
    title = escape(
        f"{summary.get('name') or 'run'}: median [q25, q75] over seeds (over seed pairs for pairwise "
        f"metrics), on the {summary['split']} split"
    )
    table = Table(title=title)
    table.add_column("model")
    for key in shown:
        table.add_column(escape(measures.get(key).header))
    for label, cell in cells.items():
        table.add_row(escape(f"{label} ({cell['model']})"), *[stats_text(cell["stats"].get(k)) for k in shown])
    console.print(table)
    floors = floors_text(cells, shown, measures)
    if floors:
        console.print(escape(f"floors (same evaluation points): {floors}"))
    sys.stdout.flush()


def floors_text(cells: dict[str, Any], shown: list[str], measures: Measures) -> str:
    """'MCC to sources: observations 0.512, FastICA 0.610': the per-run floors of the measures shown."""
    values: dict[str, Any] = {}
    for cell in cells.values():
        values.update(cell.get("cell") or {})
    parts = []
    for key in shown:
        found = [
            f"{CONTROL_NAMES[c]} {values[f'{key}_{c}']:.3f}"
            for c in CONTROLS[1:]
            if values.get(f"{key}_{c}") is not None
        ]
        if found:
            parts.append(f"{measures.get(key).header}: " + ", ".join(found))
    return "; ".join(parts)
