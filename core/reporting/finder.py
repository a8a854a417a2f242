"""Finding the run directories below the folders named to ``ica status`` and ``ica results``, each read into a
`RunRecord` (`ica.reporting.rundirs`).

The run directories are the only source of truth: `find_runs` scans them every time, a grid directory's cells in
grid.json's order, a cell not started yet as a pending record. A run put inside another run's directory is listed
after it. Below each directory named, links to folders are not followed and folders that cannot be read are
skipped, each told in a one-line notice; the system's ``/proc``, ``/sys`` and ``/dev`` are never searched
(`ica.reporting.walk`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from ica.errors import IcaError
from ica.reporting.rundirs import CellRecord, RunRecord, SeedRecord, read_run
from ica.reporting.walk import Walk, check_root, stderr_notice, subdirectories
from ica.rundir.json_files import read_grid
from ica.rundir.layout import RunLayout
from ica.rundir.schemas import GridFile

GRID_FILE = "grid.json"


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
        return "grid" if (directory / GRID_FILE).exists() else "folder"
    except OSError as exc:
        walk.cannot_read(directory, exc)
        return None


def _scan(
    directory: Path, shown: str, grid: tuple[Path, GridFile] | None, walk: Walk, settings: dict[str, Any] | None = None
) -> list[RunRecord]:
    kind = _kind(directory, walk)
    if kind == "run":
        record = read_run(directory, shown)  # raises IcaError naming a damaged file
        if grid is not None:
            in_grid(record, *grid, settings or {})
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
    grid = read_grid(directory)
    found, listed = [], set()
    for cell in grid.cells:
        listed.add(cell.dir)
        cell_dir, settings = directory / cell.dir, dict(cell.settings or {})
        kind = _kind(cell_dir, walk)
        if kind == "run":
            found += _scan(cell_dir, _join(shown, cell.dir), (directory, grid), walk, settings)
        elif kind is not None:
            found.append(pending_cell(cell_dir, _join(shown, cell.dir), directory, grid, settings))
    for child in subdirectories(directory, walk):  # runs put there by hand: shown too, without grid settings
        if child.name not in listed:
            found += _scan(child, _join(shown, child.name), None, walk)
    return found


def _join(shown: str, name: str) -> str:
    return str(Path(shown) / name)


def in_grid(record: RunRecord, grid_dir: Path, grid: GridFile, settings: dict[str, Any]) -> RunRecord:
    """``record`` as a cell of the grid in ``grid_dir``: its axes, its ``settings``, and its data draw where the
    grid has draws (grid.json's ``draw_axis``, in every cell's settings: `ica.rundir.json_files.read_grid`)."""
    record.grid, record.grid_axes, record.settings = grid_dir, grid_axes(grid), settings
    if grid.draw_axis:
        record.draw_axis, record.draw = grid.draw_axis, settings.get(grid.draw_axis)
    return record


def pending_cell(directory: Path, shown: str, grid_dir: Path, grid: GridFile, settings: dict[str, Any]) -> RunRecord:
    """A grid cell that has not started: its labels and seeds from the grid's spec, every seed missing."""
    base = grid.spec
    seeds = base.seed_list if base else []
    cells = [
        CellRecord(label, m.name, [SeedRecord(s, directory / label / "seeds" / str(s), None, False) for s in seeds])
        for label, m in (base.models if base else {}).items()
    ]
    record = RunRecord(directory, shown, None, None, cells, base_spec=base.plain() if base else None)
    return in_grid(record, grid_dir, grid, settings)


def grid_axes(grid: GridFile) -> tuple[str, ...]:
    """The grid's axes: grid.json's ``axes``, or (a grid.json without them) the paths its cells set."""
    if grid.axes is not None:
        return tuple(grid.axes)
    return tuple(dict.fromkeys(k for c in grid.cells for k in (c.settings or {})))
