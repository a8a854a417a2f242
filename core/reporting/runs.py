"""Finding run directories and reading back each model's seed states and statistics (issue #5).

The run directories are the only source of truth: `find_runs` scans them every time (``ica status``,
``ica results``), a grid directory's cells in grid.json's order, a cell not started yet as a pending record.
A run put inside another run's directory is listed after it. Below each directory named, links to folders are
not followed and folders that cannot be read are skipped, each told in a one-line notice; the system's
``/proc``, ``/sys`` and ``/dev`` are never searched.

Numbers are never invented: a finished model's statistics are those of its ``summary.json``; a model
still training shows only what its finished seeds' ``result.json`` hold (the ELBO), marked partial.
A failed seed stays in every count (``n_failed``), as in `ica.evaluation.seeds.quartiles`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ica.errors import IcaError
from ica.evaluation.seeds import quartiles
from ica.running.locks import lock_holder
from ica.rundir.layout import RunLayout
from ica.rundir.damage import no_link
from ica.reporting.walk import Walk, check_root, stderr_notice, subdirectories
from ica.rundir.json_files import read_cell_summary, read_grid, read_result, read_run_spec, read_run_summary

SEED_STATES = ("finished", "failed", "running", "stopped", "missing")
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
    entry: dict[str, Any] | None = field(default=None, repr=False)  # the summary's parsed entry, read once

    def counts(self) -> dict[str, int]:
        states = list(self.seeds.values())
        return {"total": len(states), **{s: states.count(s) for s in SEED_STATES}}


@dataclass
class RunRecord:
    """One run directory (a directory with spec.json), or a grid cell whose directory is not made yet.

    ``settings`` are the grid cell's settings (axis path -> value) when a grid.json names this run. In a grid with
    data draws (`ica.spec.draws`), ``draw_axis`` is the setting that holds them and ``draw`` this run's data seed
    (both None otherwise): runs whose settings differ only there are draws of one setting
    (`ica.reporting.draws`).
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
    draw_axis: str | None = None
    draw: int | None = None

    @property
    def status(self) -> str:
        if self.finished:
            return "finished"
        states = {c.status for c in self.cells}
        if "running" in states:
            return "running"
        return "stopped" if states - {"pending"} else "pending"


# ------------------------------------------------------------------------------------- scanning
def find_runs(dirs: list[Path] | Path, notice: Callable[[str], None] | None = None) -> list[RunRecord]:
    """Every run under ``dirs`` (recursively), each model label's seeds and statistics.

    A directory with ``spec.json`` is a run; one with ``grid.json`` is a grid, whose cells are listed in its
    order and get their settings from it. Folders a run's directory holds besides its models' are searched too,
    so a run put inside another is listed, not hidden. Links to folders below a directory named are not followed
    and unreadable folders below it are skipped: ``notice`` (default: a line on stderr) is told of each kind
    once. Raises `IcaError` (naming the directory or file) when a directory does not exist, cannot be read, is
    a system folder or holds no runs, or a file is corrupt.
    """
    if isinstance(dirs, (str, Path)):
        dirs = [Path(dirs)]
    records: list[RunRecord] = []
    seen: set[Path] = set()
    for root in map(Path, dirs):
        check_root(root)
        walk = Walk(root)
        found = _scan(root, str(root), None, walk)
        for message in walk.notices():
            (notice or stderr_notice)(message)
        if not found:
            raise IcaError("holds no runs (no spec.json in it or below it)", where=str(root))
        for record in found:
            key = record.path.resolve()
            if key not in seen:
                seen.add(key)
                records.append(record)
    return records


def _kind(directory: Path, walk: Walk) -> str | None:
    """'run' (spec.json), 'grid' (grid.json) or 'folder'; None for a folder that cannot be read (told of)."""
    try:
        if RunLayout(directory).spec.exists():
            return "run"
        return "grid" if (directory / "grid.json").exists() else "folder"
    except OSError as exc:
        walk.cannot_read(directory, exc)
        return None


def _scan(directory: Path, shown: str, grid: tuple[Path, dict[str, Any]] | None, walk: Walk,
          settings: dict[str, Any] | None = None) -> list[RunRecord]:
    kind = _kind(directory, walk)
    if kind == "run":
        record = _run_record(directory, shown, grid, settings or {})
        return [record, *_runs_inside(record, walk)]
    if kind == "grid":
        return _scan_grid(directory, shown, walk)
    found = []
    for child in subdirectories(directory, walk) if kind else []:
        found += _scan(child, _join(shown, child.name), None, walk)
    return found


def _runs_inside(record: RunRecord, walk: Walk) -> list[RunRecord]:
    """Runs put inside a run's directory (by hand, or saved there): in its folders other than its models', and
    in its models' folders beside their ``seeds`` (the seeds' own folders, its record, are not searched)."""
    labels = {c.label for c in record.cells}
    found = []
    for child in subdirectories(record.path, walk):
        shown = _join(record.shown, child.name)
        if child.name not in labels:
            found += _scan(child, shown, None, walk)
            continue
        for folder in subdirectories(child, walk):
            if folder.name != "seeds":
                found += _scan(folder, _join(shown, folder.name), None, walk)
    return found


def _scan_grid(directory: Path, shown: str, walk: Walk) -> list[RunRecord]:
    """A grid's cells in grid.json's order (each ``dir`` a sub-directory of the grid:
    `ica.rundir.json_files.read_grid`), then runs put into the grid's directory by hand."""
    _, grid = read_grid(directory)
    found, listed = [], set()
    for cell in grid["cells"]:
        listed.add(cell["dir"])
        cell_dir, settings = directory / cell["dir"], dict(cell.get("settings") or {})
        kind = _kind(cell_dir, walk)
        if kind == "run":
            found += _scan(cell_dir, _join(shown, cell["dir"]), (directory, grid), walk, settings)
        elif kind is not None:
            found.append(_pending_cell(cell_dir, _join(shown, cell["dir"]), directory, grid, settings))
    for child in subdirectories(directory, walk):  # runs put there by hand: shown too, without grid settings
        if child.name not in listed:
            found += _scan(child, _join(shown, child.name), None, walk)
    return found


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
                     grid=grid[0] if grid else None, grid_axes=_axes(grid), settings=settings, **_draw(grid, settings))


def _pending_cell(directory: Path, shown: str, grid_dir: Path, grid: dict[str, Any],
                  settings: dict[str, Any]) -> RunRecord:
    """A grid cell that has not started: its labels and seeds from the grid's spec, every seed missing."""
    base = grid.get("spec")
    models = (base or {}).get("models") or {}
    seeds = _seed_list(base["seeds"]) if base else []
    cells = [CellRecord(label, m["name"], {s: "missing" for s in seeds}, "pending") for label, m in models.items()]
    return RunRecord(directory, shown, None, cells, finished=False, grid=grid_dir,
                     grid_axes=_axes((grid_dir, grid)), settings=settings, base_spec=base, **_draw(grid, settings))


def _draw(grid: tuple[Path, dict[str, Any]] | dict[str, Any] | None, settings: dict[str, Any]) -> dict[str, Any]:
    """``draw_axis`` and ``draw`` of a grid cell (grid.json's ``draw_axis``, checked to be in every cell's settings
    by `ica.rundir.json_files.read_grid`)."""
    record = grid[1] if isinstance(grid, tuple) else grid or {}
    axis = record.get("draw_axis")
    return {"draw_axis": axis, "draw": settings.get(axis)} if axis else {}


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
        return CellRecord(label, summary["model"], states, "finished", summary["stats"], False, summary_path, summary)
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
