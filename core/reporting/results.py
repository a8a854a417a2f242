"""The table `ica results` shows: one row per (run, model label) with the settings that vary between the runs,
the seed counts and each metric's statistics, from the records `ica.reporting.runs.find_runs` reads.

Settings are dotted spec paths (``data.dim``); a model's own options are written ``models.*.…`` (the grid's
notation), so that the same option of the same label can be compared across runs.

Each median gets its 95% interval (`ica.evaluation.significance`: a bootstrap over seeds) from the per-seed and
per-pair values of the model's summary.json; a metric's null controls (``<metric>_untrained``, per seed or pair)
and floors (``<metric>_observations``, ``_pca``, ``_fastica``, one value per cell) are grouped under it, so that
adding controls adds no columns of their own. Runs from before controls existed simply have none.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ica.errors import IcaError
from ica.evaluation.significance import CI_LEVEL, bootstrap_median_ci, compare, metric_values
from ica.reporting.runs import SEED_STATES, CellRecord, RunRecord
from ica.rundir.json_files import read_cell_summary, read_run_summary
from ica.rundir.layout import RunLayout

METRIC_ORDER = ("mcc", "cca_mcc_in", "cca_mcc_out", "grid_mcc_in", "grid_mcc_out", "cluster_ari",
                "elbo_train", "bpd_eval")
IGNORED_SETTINGS = ("spec_hash", "name", "$schema", "grid")
CONTROL_SUFFIXES = ("_untrained", "_observations", "_pca", "_fastica")
"""Names of a metric's controls: its value on the untrained networks (per seed or pair), and its floors
(per cell): the raw observations, their PCA, FastICA. Shown in this order beside the metric."""
FLOORS = ("observations", "pca", "fastica")


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
    metrics: list[str]  # the metrics themselves; their controls are in ``controls``
    rows: list[dict[str, Any]]
    controls: dict[str, list[str]] = field(default_factory=dict)  # metric -> its control and floor names


def split_control(name: str) -> tuple[str, str | None]:
    """``"cca_mcc_out_untrained"`` -> ``("cca_mcc_out", "untrained")``; ``"mcc"`` -> ``("mcc", None)``."""
    for suffix in CONTROL_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)], suffix[1:]
    return name, None


def metric_order(names: set[str] | list[str], known: tuple[str, ...] = METRIC_ORDER) -> list[str]:
    """The ``known`` metrics first, then the rest by name; each metric followed by its controls."""
    names = set(names)
    bases = {split_control(n)[0] for n in names}
    ordered = [m for m in known if m in bases] + sorted(bases - set(known))
    return [n for base in ordered for n in (base, *(base + s for s in CONTROL_SUFFIXES)) if n in names]


def cell_summary(record: RunRecord, cell: CellRecord) -> dict[str, Any] | None:
    """The model's summary.json entry (its own file, or its entry in the run's), None while it has none."""
    if cell.summary is None:
        return None
    if cell.entry is not None:
        return cell.entry
    if cell.summary == RunLayout(record.path).summary:
        return read_run_summary(cell.summary)[1]["cells"].get(cell.label)
    return read_cell_summary(cell.summary)[1]


def intervals(summary: dict[str, Any] | None, level: float = CI_LEVEL) -> dict[str, dict[str, float]]:
    """Each metric's bootstrap interval of the median (`ica.evaluation.significance`), where it has one."""
    found = {m: interval(summary, m, level) for m in (summary or {}).get("stats", {})}
    return {m: ci for m, ci in found.items() if ci is not None}


def interval(summary: dict[str, Any] | None, metric: str, level: float = CI_LEVEL) -> dict[str, float] | None:
    """``{"low", "high", "level"}`` of one metric's median, from its per-seed or per-pair values; None without
    enough seeds with values (`ica.evaluation.significance.MIN_SEEDS`) or without such values (per-cell)."""
    values = metric_values(summary or {}, metric)
    ci = bootstrap_median_ci(values, level) if values else None
    return None if ci is None else {"low": ci.low, "high": ci.high, "level": level}


def floors(summary: dict[str, Any] | None) -> dict[str, float | None]:
    """The per-cell floors of the summary (``mcc_observations``...; None where one failed)."""
    cell = (summary or {}).get("cell", {})
    return {k: v for k, v in cell.items() if split_control(k)[1] in FLOORS and not isinstance(v, (dict, list))}


def results_table(records: list[RunRecord]) -> ResultsTable:
    """One row per (run, model label): varying settings, seed counts, and each metric's statistics."""
    settings = varying_settings(records)
    rows = []
    for record in records:
        for cell in record.cells:
            flat = row_settings(record, cell.label)
            use_grid = record.grid is not None and set(settings) <= set(record.settings)
            shown = {p: (record.settings[p] if use_grid else flat.get(p)) for p in settings}
            summary = cell_summary(record, cell)
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
                "ci": intervals(summary),
                "floors": floors(summary),
            })
        if not record.cells:  # a pending grid cell whose grid.json carries no spec
            rows.append({"run": record.shown, "path": str(record.path.resolve()), "name": None,
                         "grid": str(record.grid.resolve()) if record.grid else None, "label": None, "model": None,
                         "status": "pending", "run_status": "pending", "partial": False,
                         "settings": {p: record.settings.get(p) for p in settings},
                         "seeds": {"total": 0, **{s: 0 for s in SEED_STATES}}, "seed_status": {}, "metrics": {},
                         "ci": {}, "floors": {}})
    names = metric_order({m for row in rows for m in (*row["metrics"], *row["floors"])})
    metrics = metric_order({split_control(n)[0] for n in names})
    controls = {m: [n for n in names if n != m and split_control(n)[0] == m] for m in metrics}
    return ResultsTable(settings, metrics, rows, controls)


# ----------------------------------------------------------------------------------- comparison
def compare_summaries(a: dict[str, Any], b: dict[str, Any]) -> list[tuple[str, Any]]:
    """``(metric, Comparison or None)`` for every metric the two models' summaries share (their controls left
    out: an untrained network is no result of either model), tested by `ica.evaluation.significance.compare`."""
    shared = [m for m in metric_order(set(a.get("stats", {})) & set(b.get("stats", {}))) if split_control(m)[1] is None]
    found = []
    for metric in shared:
        va, vb = metric_values(a, metric), metric_values(b, metric)
        if va and vb and isinstance(next(iter(va)), tuple) == isinstance(next(iter(vb)), tuple):
            found.append((metric, compare(va, vb)))
    return found


def compare_models(records: list[RunRecord], a: str, b: str) -> list[dict[str, Any]]:
    """Model label ``a`` against ``b`` in every run that has both (same data, so comparable): one row per run and
    metric with both medians, their difference (a - b), the test and its two-sided p-value (None where the
    test cannot be made: too few seeds). Raises `IcaError` naming ``--compare`` when no finished run has both."""
    if a == b:
        raise IcaError(f"compare two different model labels, not {a!r} with itself", where="--compare")
    rows = []
    for record in records:
        cells = {c.label: c for c in record.cells}
        if a not in cells or b not in cells:
            continue
        sa, sb = cell_summary(record, cells[a]), cell_summary(record, cells[b])
        if sa is None or sb is None:
            continue
        for metric, result in compare_summaries(sa, sb):
            rows.append({"run": record.shown, "path": str(record.path.resolve()), "a": a, "b": b, "metric": metric,
                         "median_a": sa["stats"][metric]["median"], "median_b": sb["stats"][metric]["median"],
                         "difference": None if result is None else result.difference,
                         "p_value": None if result is None else result.p_value,
                         "test": None if result is None else result.test,
                         "statistic": None if result is None else result.statistic,
                         "value": None if result is None else result.value,
                         "n_a": None if result is None else result.n_a, "n_b": None if result is None else result.n_b})
    if not rows:
        labels = sorted({c.label for r in records for c in r.cells})
        raise IcaError(f"no finished run has both models {a!r} and {b!r} with a metric in common (model labels: "
                       f"{', '.join(labels) or 'none'})", where="--compare")
    return rows


def seeds_text(counts: dict[str, int]) -> str:
    """'8/10 done, 1 failed, 1 running' ('n stopped' for seeds interrupted and not being trained, 'n missing'
    for seeds not started)."""
    text = f"{counts['finished']}/{counts['total']} done"
    extra = [f"{counts[s]} {s}" for s in ("failed", "running", "stopped", "missing") if counts[s]]
    return ", ".join([text, *extra])
