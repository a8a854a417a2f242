"""The table `ica results` shows: one row per (setting, model label) with the settings that vary between the
runs, the seed counts and each metric's statistics, from the records `ica.reporting.finder.find_runs` reads. The runs of
one setting's data draws (`ica.spec.draws`) make one row: statistics over every draw's seeds together.

Settings are dotted spec paths (``data.dim``); a model's own options are written ``models.*.…`` (the grid's
notation), so that the same option of the same label can be compared across runs.

Metrics are ordered and named by the measures their metrics declare (`ica.components.measures`, read from the
registry); a record no metric declares comes after them, by name.

Each metric gets the 95% interval of its mean (`ica.evaluation.inference`: a jackknife over seeds, hierarchical
over draws) from the per-seed and per-pair values of the model's summary.json; a metric's null controls
(``<metric>_untrained``, per seed or pair) and floors (``<metric>_observations``, ``_pca``, ``_fastica``, one value
per cell) are grouped under it, so that adding controls adds no columns of their own. Runs from before controls
existed simply have none.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable

from ica.components.measures import CONTROLS, Measures
from ica.components.registry import registry
from ica.errors import IcaError
from ica.evaluation.inference import CI_LEVEL
from ica.reporting.comparisons import (
    ComparisonOptions,
    Group,
    compare_groups,
    compared_metrics,
    pooled_estimate,
    pooled_stats,
)
from ica.reporting.collapse import collapsed
from ica.reporting.draws import DrawGroup, group_name, labels_of, members, setting_groups
from ica.reporting.rundirs import SEED_STATES, RunRecord
from ica.reporting.settings import flatten

IGNORED_SETTINGS = ("spec_hash", "name", "$schema", "grid")
CONTROL_SUFFIXES = tuple(f"_{control}" for control in CONTROLS)
"""Names of a metric's controls: its value on the untrained networks (per seed or pair), and its floors
(per cell): the raw observations, their PCA, FastICA. Shown in this order beside the metric."""
FLOORS = CONTROLS[1:]


def known_measures() -> Measures:
    """The measures of every metric of the loaded registry: how each record is named and ordered."""
    return registry().measures()


# ------------------------------------------------------------------------------------- settings
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
    (a model option counts when it differs between runs for the same model label). The axis of data draws
    (`ica.spec.draws`) is never one: its runs are replicates of one setting (`ica.reporting.draws`)."""
    draw_axes = {r.draw_axis for r in records if r.draw_axis}
    axes = {r.grid_axes for r in records}
    if len(axes) == 1 and all(r.grid is not None for r in records) and next(iter(axes)):
        return [axis for axis in next(iter(axes)) if axis not in draw_axes]
    values: dict[tuple[str, str | None], dict[str, Any]] = {}  # (path, label or None) -> run -> value
    order: dict[str, None] = {}
    records = [r for r in records if not scored(r)]  # beside trained runs, scored embeddings vary in everything
    for record in records:
        for cell in record.cells:
            for path, value in row_settings(record, cell.label).items():
                scope = cell.label if path.startswith("models.*") else None
                values.setdefault((path, scope), {})[str(record.path)] = _key(value)
                order.setdefault(path, None)
    runs_of: dict[str | None, set[str]] = {None: {str(r.path) for r in records if r.cells}}
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
    return [p for p in shared + models if p not in draw_axes]


def scored(record: RunRecord) -> bool:
    """Whether the run directory holds embeddings scored by ``ica score`` (`ica.trained.score_directory`)."""
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


def metric_order(names: set[str] | list[str], measures: Measures | None = None) -> list[str]:
    """The metrics by their measures' order (`Measures.order`: declared ones first, then the rest by name); each
    metric followed by its controls."""
    names = set(names)
    bases = {split_control(n)[0] for n in names}
    ordered = (measures or known_measures()).order(bases)
    return [n for base in ordered for n in (base, *(base + s for s in CONTROL_SUFFIXES)) if n in names]


def intervals(summary: dict[str, Any] | None, level: float = CI_LEVEL) -> dict[str, dict[str, float]]:
    """Each metric's interval of its mean (`interval`), where it has one."""
    found = {m: interval(summary, m, level) for m in (summary or {}).get("stats", {})}
    return {m: ci for m, ci in found.items() if ci is not None}


def interval(summary: dict[str, Any] | None, metric: str, level: float = CI_LEVEL) -> dict[str, Any] | None:
    """``{"mean", "low", "high", "level", ...}`` of one metric's mean (`ica.evaluation.inference.estimate`) from its
    per-seed or per-pair values; None with too few seeds with values or without such values (per-cell)."""
    return pooled_estimate({None: summary}, metric, level) if summary else None


def floors(summary: dict[str, Any] | None) -> dict[str, float | None]:
    """The per-cell floors of the summary (``mcc_observations``...; None where one failed)."""
    cell = (summary or {}).get("cell", {})
    return {k: v for k, v in cell.items() if split_control(k)[1] in FLOORS and not isinstance(v, (dict, list))}


def results_table(records: list[RunRecord]) -> ResultsTable:
    """One row per (setting, model label): varying settings, seed counts, and each metric's statistics."""
    settings = varying_settings(records)
    rows = []
    for group in setting_groups(records):
        record = group.items[0]
        for label in labels_of(group):
            rows.append(_row(group, label, record, settings))
        if not record.cells:  # a pending grid cell whose grid.json carries no spec
            rows.append(
                {
                    "run": record.shown,
                    "path": str(record.path.resolve()),
                    "name": None,
                    "grid": str(record.grid.resolve()) if record.grid else None,
                    "label": None,
                    "model": None,
                    "status": "pending",
                    "run_status": "pending",
                    "partial": False,
                    "settings": {p: record.settings.get(p) for p in settings},
                    "draws": None,
                    "seeds": {"total": 0, **{s: 0 for s in SEED_STATES}},
                    "seed_status": {},
                    "metrics": {},
                    "ci": {},
                    "floors": {},
                    "collapsed": None,
                }
            )
    measures = known_measures()
    names = metric_order({m for row in rows for m in (*row["metrics"], *row["floors"])}, measures)
    metrics = metric_order({split_control(n)[0] for n in names}, measures)
    controls = {m: [n for n in names if n != m and split_control(n)[0] == m] for m in metrics}
    return ResultsTable(settings, metrics, rows, controls)


def _row(group: DrawGroup[RunRecord], label: str, record: RunRecord, settings: list[str]) -> dict[str, Any]:
    found = members(group, label)
    cell = found[0][2]
    flat = row_settings(record, label)
    use_grid = record.grid is not None and set(settings) <= set(record.settings)
    summaries = {draw: c.summary for draw, _, c in found}
    done = {d: s for d, s in summaries.items() if s is not None}
    drawn = len(found) > 1
    counts = {k: sum(c.counts()[k] for *_, c in found) for k in ("total", *SEED_STATES)}
    names = dict.fromkeys(m for *_, c in found for m in c.stats)
    return {
        "run": group_name(group) if drawn else record.shown,
        "path": str(record.path.resolve()),
        "name": (record.spec or {}).get("name"),
        "grid": str(record.grid.resolve()) if record.grid else None,
        "label": label,
        "model": cell.model,
        "status": _status([c.status for *_, c in found]),
        "run_status": _status([r.status for _, r, _ in found]),
        "partial": any(c.partial for *_, c in found) or (drawn and len(done) < len(found)),
        "settings": {p: (record.settings[p] if use_grid else flat.get(p)) for p in settings},
        "draws": [d for d, *_ in found] if drawn else None,
        "seeds": counts,
        "seed_status": {(f"{d}/{s}" if drawn else str(s)): state for d, _, c in found for s, state in c.states.items()},
        "metrics": ({m: pooled for m in names if (pooled := pooled_stats(done, m))} if drawn and done else cell.stats),
        "ci": {m: ci for m in names if (ci := pooled_estimate(done, m)) is not None} if done else {},
        "floors": _mean_floors([floors(s) for s in done.values()]),
        "collapsed": collapsed(done),
    }


def _status(states: list[str]) -> str:
    """A setting's status over its draws: finished when all are, else the first of running, stopped, pending."""
    for state in ("running", "stopped", "pending", "failed"):
        if state in states and any(s != "finished" for s in states):
            return state
    return states[0] if len(set(states)) == 1 else "stopped"


def _mean_floors(found: list[dict[str, float | None]]) -> dict[str, float | None]:
    """The floors of one draw, or over draws their mean (a failed floor in any draw: None)."""
    if len(found) <= 1:
        return found[0] if found else {}
    names = dict.fromkeys(n for f in found for n in f)
    values = {n: [f.get(n) for f in found] for n in names}
    return {n: None if None in vs else sum(v for v in vs if v is not None) / len(vs) for n, vs in values.items()}


# ----------------------------------------------------------------------------------- comparison
def comparable(metric: str, measures: Measures | None = None) -> bool:
    """A model's own result: not a control (untrained, floors, observations) and not a description of the
    representation (a measure with no direction, such as the effective rank's), which is shown and never compared:
    each comparison shown widens the correction of every other."""
    found = (measures or known_measures()).get(metric)
    return split_control(metric)[1] is None and found.higher_is_better is not None


def metrics_compared(options: ComparisonOptions) -> Callable[[dict, dict], list[str]]:
    """For `compare_groups`: the metrics two models' summaries (by draw) share, in table order, without controls
    or diagnostics, and only those ``options`` asks for."""
    measures = known_measures()

    def chosen(sa: dict, sb: dict) -> list[str]:
        shared = metric_order(compared_metrics(sa, sb, lambda m: not comparable(m, measures)), measures)
        return [m for m in shared if options.wants(m)]

    return chosen


def compare_models(
    records: list[RunRecord], a: str, b: str, options: ComparisonOptions = ComparisonOptions()
) -> list[dict[str, Any]]:
    """Model label ``a`` against ``b`` in every setting that has both (same data, draws pooled): one row per setting
    and metric (`ica.reporting.comparisons.compare_groups`: effect, interval, raw and corrected p, TOST p against
    the margin, verdict), corrected over all rows. ``options.metrics`` limits the metrics (and so the family
    corrected over). Raises `IcaError` naming ``--compare`` when no finished run has both."""
    if a == b:
        raise IcaError(f"compare two different model labels, not {a!r} with itself", where="--compare")
    groups = []
    for group in setting_groups(records):
        found = Group(group_name(group), str(group.items[0].path.resolve()))
        for label in (a, b):
            found.summaries[label] = {d: c.summary for d, _, c in members(group, label)}
        if all(found.draws(label) for label in (a, b)):
            groups.append(found)
    rows = compare_groups(groups, a, b, metrics_compared(options), options.margin, options.correction)
    if not rows:
        labels = sorted({c.label for r in records for c in r.cells})
        asked = f" among {', '.join(options.metrics)}" if options.metrics else ""
        raise IcaError(
            f"no finished run has both models {a!r} and {b!r} with a metric in common{asked} (model "
            f"labels: {', '.join(labels) or 'none'})",
            where="--compare",
        )
    return rows


def seed_counts_text(counts: dict[str, int]) -> str:
    """'8/10 done, 1 failed, 1 running' ('n stopped' for seeds interrupted and not being trained, 'n missing'
    for seeds not started)."""
    text = f"{counts['finished']}/{counts['total']} done"
    extra = [f"{counts[s]} {s}" for s in ("failed", "running", "stopped", "missing") if counts[s]]
    return ", ".join([text, *extra])
