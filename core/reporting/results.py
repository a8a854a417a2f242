"""The table `ica results` shows: one row per (run, model label) with the settings that vary between the runs,
the seed counts and each metric's statistics, from the records `ica.reporting.runs.find_runs` reads.

Settings are dotted spec paths (``data.dim``); a model's own options are written ``models.*.…`` (the grid's
notation), so that the same option of the same label can be compared across runs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ica.reporting.runs import SEED_STATES, RunRecord

METRIC_ORDER = ("mcc", "cca_mcc_in", "cca_mcc_out", "grid_mcc_in", "grid_mcc_out", "cluster_ari",
                "elbo_train", "bpd_eval")
IGNORED_SETTINGS = ("spec_hash", "name", "$schema", "grid")


# ------------------------------------------------------------------------------------- settings
def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """``{"data": {"dim": 3}}`` -> ``{"data.dim": 3}``; lists and empty objects are values."""
    if isinstance(tree, dict) and tree:
        flat: dict[str, Any] = {}
        for key, value in tree.items():
            flat.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    return {prefix: tree}


def row_settings(record: RunRecord, label: str) -> dict[str, Any]:
    """Every setting of one model of one run as dotted paths; the model's own options as ``models.*.…``
    (the grid's notation), so that the same option of the same label can be compared across runs.
    Embeddings scored by ``ica score`` have no settings to compare: the method's name tells them apart."""
    if scored(record):
        return {}
    if record.spec is not None:
        return _spec_settings(record.spec, label)
    flat = _spec_settings(record.base_spec or {}, label)
    for path, value in record.settings.items():  # a pending grid cell: the grid's spec with its settings
        key = _model_path(path, label)
        if key is None:
            continue
        flat = {k: v for k, v in flat.items() if not (k == key or k.startswith(key + "."))}
        flat.update(flatten(value, key))
    return flat


def _spec_settings(spec: dict[str, Any], label: str) -> dict[str, Any]:
    shared = {k: v for k, v in spec.items() if k not in IGNORED_SETTINGS and k != "models"}
    flat = flatten(shared)
    options = (spec.get("models") or {}).get(label)
    if isinstance(options, dict):
        flat.update({k: v for k, v in flatten(options, "models.*").items() if k != "models.*.name"})
    return flat


def _model_path(path: str, label: str) -> str | None:
    """A grid axis path as seen from one label's row; None when it sets another label's option."""
    parts = path.split(".")
    if parts[0] != "models" or len(parts) < 2:
        return path
    if parts[1] in ("*", label):
        return ".".join(["models", "*", *parts[2:]])
    return None


MISSING = object()


def varying_settings(records: list[RunRecord]) -> list[str]:
    """The setting paths to show: a single grid's axes, or else the paths whose values differ between runs
    (a model option counts when it differs between runs for the same model label)."""
    axes = {r.grid_axes for r in records}
    if len(axes) == 1 and all(r.grid is not None for r in records) and next(iter(axes)):
        return list(next(iter(axes)))
    values: dict[tuple[str, str | None], dict[str, Any]] = {}  # (path, label or None) -> run -> value
    order: dict[str, None] = {}
    records = [r for r in records if not scored(r)]  # beside trained runs, scored embeddings vary in everything
    for record in records:
        for cell in record.cells:
            for path, value in row_settings(record, cell.label).items():
                scope = cell.label if path.startswith("models.*") else None
                values.setdefault((path, scope), {})[str(record.path)] = _key(value)
                order.setdefault(path, None)
    runs_of = {None: {str(r.path) for r in records if r.cells}}
    for record in records:
        for cell in record.cells:
            runs_of.setdefault(cell.label, set()).add(str(record.path))
    varying = set()
    for (path, scope), by_run in values.items():
        seen = {by_run.get(run, "<absent>") for run in runs_of.get(scope, ())}
        if len(seen) > 1:
            varying.add(path)
    shared = [p for p in order if p in varying and not p.startswith("models.*")]
    models = [p for p in order if p in varying and p.startswith("models.*")]
    return shared + models


def scored(record: RunRecord) -> bool:
    """Whether the run directory holds embeddings scored by ``ica score`` (`ica.trained.scored`)."""
    return bool((record.spec or {}).get("scored"))


def _key(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


# ---------------------------------------------------------------------------------------- table
@dataclass
class ResultsTable:
    """What `ica results` shows: the settings and metric columns, and one row object per (run, model)."""

    settings: list[str]
    metrics: list[str]
    rows: list[dict[str, Any]]


def metric_order(names: set[str] | list[str]) -> list[str]:
    known = [m for m in METRIC_ORDER if m in names]
    return known + sorted(set(names) - set(known))


def results_table(records: list[RunRecord]) -> ResultsTable:
    """One row per (run, model label): varying settings, seed counts, and each metric's statistics."""
    settings = varying_settings(records)
    rows = []
    for record in records:
        for cell in record.cells:
            flat = row_settings(record, cell.label)
            use_grid = record.grid is not None and set(settings) <= set(record.settings)
            shown = {p: (record.settings[p] if use_grid else flat.get(p)) for p in settings}
            rows.append({
                "run": record.shown,
                "path": str(record.path.resolve()),
                "name": (record.spec or {}).get("name"),
                "grid": str(record.grid.resolve()) if record.grid else None,
                "label": cell.label,
                "model": cell.model,
                "status": cell.status,
                "run_status": record.status,
                "partial": cell.partial,
                "settings": shown,
                "seeds": cell.counts(),
                "seed_status": {str(s): state for s, state in cell.seeds.items()},
                "metrics": cell.stats,
            })
        if not record.cells:  # a pending grid cell whose grid.json carries no spec
            rows.append({"run": record.shown, "path": str(record.path.resolve()), "name": None,
                         "grid": str(record.grid.resolve()) if record.grid else None, "label": None, "model": None,
                         "status": "pending", "run_status": "pending", "partial": False,
                         "settings": {p: record.settings.get(p) for p in settings},
                         "seeds": {"total": 0, **{s: 0 for s in SEED_STATES}}, "seed_status": {}, "metrics": {}})
    metrics = metric_order({m for row in rows for m in row["metrics"]})
    return ResultsTable(settings, metrics, rows)


def seeds_text(counts: dict[str, int]) -> str:
    """'8/10 done, 1 failed, 1 running' ('n stopped' for seeds interrupted and not being trained, 'n missing'
    for seeds not started)."""
    text = f"{counts['finished']}/{counts['total']} done"
    extra = [f"{counts[s]} {s}" for s in ("failed", "running", "stopped", "missing") if counts[s]]
    return ", ".join([text, *extra])
