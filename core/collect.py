"""Many run directories as one table, and an index of them that can always be rebuilt (issue #5).

The run directories are the only source of truth: `find_runs` scans them every time, and `write_index`
writes a convenience summary (``index.json``) that nobody needs to read. The index is only ever
rewritten whole and atomically (`ica.results.write_json`), never appended to, so machines sharing a
file system can all rewrite it: the last complete write wins and readers never see half of one.

Numbers are never invented: a finished model's statistics are those of its ``summary.json``; a model
still training shows only what its finished seeds' ``result.json`` hold (the ELBO), marked partial.
A failed seed stays in every count (``n_failed``), as in `ica.evaluate.quartiles`.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ica.errors import IcaError
from ica.evaluate import quartiles
from ica.locks import lock_holder
from ica.results import RunLayout, write_json
from ica.run_files import no_link, read_cell_summary, read_grid, read_result, read_run_spec, read_run_summary

INDEX_NAME = "index.json"
INDEX_FORMAT = 1
SEED_STATES = ("finished", "failed", "running", "stopped", "missing")
METRIC_ORDER = ("mcc", "cca_mcc_in", "cca_mcc_out", "grid_mcc_in", "grid_mcc_out", "cluster_ari",
                "elbo_train", "bpd_eval")
IGNORED_SETTINGS = ("spec_hash", "name", "$schema", "grid")
PARTIAL_ELBO = {"elbo_train": "train", "elbo_eval": "eval", "bpd_train": "bpd_train", "bpd_eval": "bpd_eval"}


# ------------------------------------------------------------------------------------- records
@dataclass
class CellRecord:
    """One model label of one run: each seed's state and the statistics known so far.

    ``status`` is 'finished' (its summary.json exists), 'running' (a process holds the model's lock now:
    training or evaluating it), 'stopped' (started, no summary, nobody working on it: ``ica run`` resumes it)
    or 'pending' (no seed started). ``partial`` marks statistics
    computed from the finished seeds' result.json (ELBO only) instead of a summary.
    """

    label: str
    model: str | None
    seeds: dict[int, str]
    status: str
    stats: dict[str, dict[str, Any]] = field(default_factory=dict)
    partial: bool = False
    summary: Path | None = None

    def counts(self) -> dict[str, int]:
        states = list(self.seeds.values())
        return {"total": len(states), **{s: states.count(s) for s in SEED_STATES}}


@dataclass
class RunRecord:
    """One run directory (a directory with spec.json), or a grid cell whose directory is not made yet.

    ``settings`` are the grid cell's settings (axis path -> value) when a grid.json names this run.
    """

    path: Path
    shown: str
    spec: dict[str, Any] | None
    cells: list[CellRecord]
    finished: bool
    grid: Path | None = None
    grid_axes: tuple[str, ...] = ()
    settings: dict[str, Any] = field(default_factory=dict)
    base_spec: dict[str, Any] | None = None  # a pending grid cell: the grid's spec, which its settings modify

    @property
    def status(self) -> str:
        if self.finished:
            return "finished"
        states = {c.status for c in self.cells}
        if "running" in states:
            return "running"
        return "stopped" if states - {"pending"} else "pending"


# ------------------------------------------------------------------------------------- scanning
def find_runs(dirs: list[Path] | Path) -> list[RunRecord]:
    """Every run under ``dirs`` (recursively), each model label's seeds and statistics.

    A directory with ``spec.json`` is a run (not searched further); one with ``grid.json`` is a grid,
    whose cells are listed in its order and get their settings from it. Raises `IcaError` (naming the
    directory or file) when a directory does not exist or holds no runs, or a file is corrupt.
    """
    if isinstance(dirs, (str, Path)):
        dirs = [Path(dirs)]
    records: list[RunRecord] = []
    seen: set[Path] = set()
    for root in map(Path, dirs):
        if not root.exists():
            raise IcaError("no such directory", where=str(root))
        if not root.is_dir():
            raise IcaError("not a directory (give the run directory, not a file in it)", where=str(root))
        found = _scan(root, str(root), None)
        if not found:
            raise IcaError("holds no runs (no spec.json in it or below it)", where=str(root))
        for record in found:
            key = record.path.resolve()
            if key not in seen:
                seen.add(key)
                records.append(record)
    return records


def _scan(directory: Path, shown: str, grid: tuple[Path, dict[str, Any]] | None,
          settings: dict[str, Any] | None = None) -> list[RunRecord]:
    layout = RunLayout(directory)
    if layout.spec.exists():
        return [_run_record(directory, shown, grid, settings or {})]
    if (directory / "grid.json").exists():
        return _scan_grid(directory, shown)
    found = []
    for child in _subdirectories(directory):
        found += _scan(child, _join(shown, child.name), None)
    return found


def _scan_grid(directory: Path, shown: str) -> list[RunRecord]:
    """A grid's cells in grid.json's order (each ``dir`` a sub-directory of the grid: `ica.run_files.read_grid`),
    then runs put into the grid's directory by hand."""
    _, grid = read_grid(directory)
    found, listed = [], set()
    for cell in grid["cells"]:
        listed.add(cell["dir"])
        cell_dir, settings = directory / cell["dir"], dict(cell.get("settings") or {})
        if RunLayout(cell_dir).spec.exists():
            found += _scan(cell_dir, _join(shown, cell["dir"]), (directory, grid), settings)
        else:
            found.append(_pending_cell(cell_dir, _join(shown, cell["dir"]), directory, grid, settings))
    for child in _subdirectories(directory):  # runs put there by hand: shown too, without grid settings
        if child.name not in listed:
            found += _scan(child, _join(shown, child.name), None)
    return found


def _subdirectories(directory: Path) -> list[Path]:
    try:
        entries = sorted(os.scandir(directory), key=lambda e: e.name)
    except OSError as exc:
        raise IcaError(f"cannot list the directory: {exc.strerror or exc}", where=str(directory)) from None
    return [Path(e.path) for e in entries if not e.name.startswith(".") and e.is_dir(follow_symlinks=False)]


def _join(shown: str, name: str) -> str:
    return str(Path(shown) / name)


def _run_record(directory: Path, shown: str, grid: tuple[Path, dict[str, Any]] | None,
                settings: dict[str, Any]) -> RunRecord:
    layout = RunLayout(directory)
    checked, spec = read_run_spec(layout.spec)  # raises IcaError naming a damaged file
    run_summary = read_run_summary(layout.summary)[1] if layout.summary.exists() else None
    cells = [_cell_record(layout, label, options, checked.seed_list, spec, run_summary)
             for label, options in spec["models"].items()]
    return RunRecord(directory, shown, spec, cells, finished=run_summary is not None,
                     grid=grid[0] if grid else None, grid_axes=_axes(grid), settings=settings)


def _pending_cell(directory: Path, shown: str, grid_dir: Path, grid: dict[str, Any],
                  settings: dict[str, Any]) -> RunRecord:
    """A grid cell that has not started: its labels and seeds from the grid's spec, every seed missing."""
    base = grid.get("spec")
    models = (base or {}).get("models") or {}
    seeds = _seed_list(base["seeds"]) if base else []
    cells = [CellRecord(label, m["name"], {s: "missing" for s in seeds}, "pending") for label, m in models.items()]
    return RunRecord(directory, shown, None, cells, finished=False, grid=grid_dir,
                     grid_axes=_axes((grid_dir, grid)), settings=settings, base_spec=base)


def _axes(grid: tuple[Path, dict[str, Any]] | None) -> tuple[str, ...]:
    if grid is None:
        return ()
    axes = grid[1].get("axes")
    if isinstance(axes, dict):
        return tuple(axes)
    cells = grid[1].get("cells") or []
    return tuple(dict.fromkeys(k for c in cells for k in (c.get("settings") or {})))


def _seed_list(seeds: int | list[int]) -> list[int]:
    """A spec's ``seeds`` (already checked: a count or a list of seeds) as the list of seeds."""
    return list(range(seeds)) if isinstance(seeds, int) else list(seeds)


def _cell_record(layout: RunLayout, label: str, options: Any, seeds: list[int], spec: dict[str, Any],
                 run_summary: dict[str, Any] | None) -> CellRecord:
    model = options["name"]
    results: dict[int, dict[str, Any]] = {}
    states: dict[int, str] = {}
    no_link(layout.cell(label), layout.cell(label) / "seeds")
    training = lock_holder(layout.cell(label)) is not None  # a process trains this model right now
    for seed in seeds:
        files = layout.seed(label, seed)
        no_link(files.root)
        if files.result.exists():
            result = read_result(files.result)[1]
            results[seed] = result
            states[seed] = result["status"]
        elif files.metrics.exists() or files.checkpoint.exists():
            states[seed] = "running" if training else "stopped"
        else:
            states[seed] = "missing"
    summary_path = layout.cell_summary(label)
    summary = None
    if summary_path.exists():
        summary = read_cell_summary(summary_path)[1]
    elif run_summary is not None and label in run_summary["cells"]:
        summary_path, summary = layout.summary, run_summary["cells"][label]
    if summary is not None:
        return CellRecord(label, summary["model"], states, "finished", summary["stats"], False, summary_path)
    started = any(s != "missing" for s in states.values())
    stats = _partial_elbo(results) if results and _computes_elbo(spec) else {}
    status = "running" if training else "stopped" if started else "pending"
    return CellRecord(label, model, states, status, stats, bool(stats))


def _computes_elbo(spec: dict[str, Any]) -> bool:
    """The ELBO metric is in the run's evaluation (every metric is when the spec names none)."""
    metrics = (spec.get("evaluation") or {}).get("metrics")
    return metrics is None or any(m["name"] == "elbo" for m in metrics)


def _partial_elbo(results: dict[int, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """ELBO statistics of the seeds done so far, as the `elbo` metric would give them: a failed seed
    (or a missing value) counts as a failure in ``n_failed``; seeds still training are not counted."""
    elbos = {seed: (r.get("elbo") if r.get("status") == "finished" else None) or {} for seed, r in results.items()}
    discrete = any("bpd_train" in e for e in elbos.values())
    stats = {}
    for metric, key in PARTIAL_ELBO.items():
        if key.startswith("bpd") and not discrete:
            continue
        values = [_number(e.get(key)) for _, e in sorted(elbos.items())]
        stats[metric] = quartiles(values)
    return stats


def _number(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else math.nan


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
    (the grid's notation), so that the same option of the same label can be compared across runs."""
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


# ---------------------------------------------------------------------------------------- index
def index_json(root: Path, records: list[RunRecord]) -> dict[str, Any]:
    """What ``index.json`` holds: each run's status and the paths of its files, relative to ``root``."""
    root = Path(root)

    def rel(path: Path | None) -> str | None:
        if path is None:
            return None
        try:
            return str(path.resolve().relative_to(root.resolve())) or "."
        except ValueError:
            return str(path.resolve())

    runs = []
    for record in records:
        layout = RunLayout(record.path)
        runs.append({
            "dir": rel(record.path),
            "name": (record.spec or {}).get("name"),
            "spec_hash": (record.spec or {}).get("spec_hash"),
            "status": record.status,
            "spec": rel(layout.spec) if record.spec is not None else None,
            "summary": rel(layout.summary) if record.finished else None,
            "grid": rel(record.grid / "grid.json") if record.grid else None,
            "settings": record.settings,
            "models": {
                c.label: {"model": c.model, "status": c.status, "summary": rel(c.summary),
                          "seeds": {str(s): state for s, state in c.seeds.items()}}
                for c in record.cells
            },
        })
    return {
        "format": INDEX_FORMAT,
        "about": "a convenience listing rebuilt from the run directories (the source of truth) by "
                 "`ica results`; it is rewritten whole, never edited",
        "written": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "root": str(root.resolve()),
        "runs": runs,
    }


def write_index(root: Path, records: list[RunRecord] | None = None) -> dict[str, Any]:
    """Rewrite ``root/index.json`` from the runs under ``root`` (scanned again unless given), atomically.

    Rebuilding is calling it again; an old, stale or corrupt index.json is never read, only replaced.
    """
    root = Path(root)
    if records is None:
        records = find_runs([root])
    index = index_json(root, records)
    write_json(root / INDEX_NAME, index)
    return index
