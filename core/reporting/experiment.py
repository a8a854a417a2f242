"""The runs ``ica report`` shows, read from one directory and placed for its tables and figures: `load_experiment`.

A directory is one run (spec.json), a grid (grid.json: its cells in its order, each placed by its settings), or a
folder of runs side by side (placed by the spec options that differ between them). Each run is read into the
model status and results read too (`ica.reporting.rundirs.read_run`), with every seed found: a run still training
is read from what is there (a missing summary is ``None``, a seed's status is told by its files), so a report can
be made at any time and a failed seed is never dropped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ica.errors import IcaError
from ica.reporting.rundirs import RunRecord, read_run
from ica.reporting.settings import Placement, axis_texts, flatten, named, sort_key
from ica.rundir.json_files import read_grid
from ica.rundir.layout import RunLayout

MAX_AXES = 3
"""Runs side by side that differ in more spec options than this are labelled by their directory names."""


@dataclass
class Experiment:
    root: Path
    name: str
    kind: str  # run | grid | runs
    axis: str  # what the settings are, for the x axis
    runs: list[RunRecord]

    @property
    def labels(self) -> list[str]:
        return list(dict.fromkeys(c.label for r in self.runs for c in r.cells))

    @property
    def split(self) -> str:
        splits = {r.split for r in self.runs if r.split}
        return splits.pop() if len(splits) == 1 else "mixed" if splits else "unknown"


def load_experiment(directory: Path) -> Experiment:
    """Every run under ``directory``; an IcaError with one message when there is none."""
    directory = Path(directory)
    if not directory.is_dir():
        raise IcaError("no such directory", where=str(directory))
    if (directory / "grid.json").exists():
        return _load_grid(directory)
    if (directory / "spec.json").exists():
        run = load_run(directory, "")
        return Experiment(directory, (run.summary or {}).get("name") or directory.name, "run", "model", [run])
    subdirs = sorted(p for p in directory.iterdir() if p.is_dir() and (p / "spec.json").exists())
    if not subdirs:
        raise IcaError(
            "no run found here: expected a spec.json (one run), a grid.json (a grid) or "
            "sub-directories holding a spec.json",
            where=str(directory),
        )
    return _load_runs(directory, subdirs)


def _load_grid(root: Path) -> Experiment:
    grid = read_grid(root)  # each cell's dir a sub-directory of the grid
    # A linked axis ("data, models.vade.prior.components") is one axis of several paths.
    axes = [[p.strip() for p in key.split(",")] for key in (grid.axes or {})]
    if not axes and grid.cells:
        axes = [[path] for path in grid.cells[0].settings or {}]
    axes = [axis for axis in axes if axis != [grid.draw_axis]]  # draws are replicates, not places
    texts = axis_texts(axes, [cell.settings or {} for cell in grid.cells])
    runs = []
    for cell in grid.cells:
        settings = cell.settings or {}
        setting = cell.name or " ".join(named(axis, settings, texts) for axis in axes) or cell.dir
        run = load_run(root / cell.dir, setting, Placement.of(axes, settings, texts))
        run.settings, run.draw_axis = dict(settings), grid.draw_axis
        run.draw = settings.get(run.draw_axis) if run.draw_axis else None
        runs.append(run)
    return Experiment(root, grid.name or root.name, "grid", Placement.axis_name(axes), runs)


def _load_runs(root: Path, subdirs: list[Path]) -> Experiment:
    """Runs side by side without grid.json: the settings are the spec options that differ between them."""
    found = [load_run(d, d.name) for d in subdirs]
    flats = [flatten(run.spec or {}) for run in found]
    keys = sorted(set().union(*flats) - {"name", "spec_hash", "$schema"})
    varying = [k for k in keys if len({json.dumps(f.get(k), sort_keys=True) for f in flats}) > 1]
    order = sorted(
        range(len(subdirs)), key=lambda i: tuple(sort_key(flats[i].get(k)) for k in varying) + (subdirs[i].name,)
    )
    axes = [[k] for k in varying]
    readable = 0 < len(varying) <= MAX_AXES  # else the runs are told apart by their directory names
    texts = axis_texts(axes, [{k: f.get(k) for k in varying} for f in flats])
    runs = []
    for i in order:
        settings = {k: flats[i].get(k) for k in varying}
        run = found[i]
        run.setting = (
            " ".join(dict.fromkeys(named(axis, settings, texts) for axis in axes)) if readable else subdirs[i].name
        )
        place = Placement.of(axes, settings, texts) if readable else Placement("", subdirs[i].name)
        run.panel, run.group = place.panel, place.group
        runs.append(run)
    return Experiment(root, root.name, "runs", Placement.axis_name(axes) if readable else "run", runs)


def load_run(directory: Path, setting: str, place: Placement | None = None) -> RunRecord:
    """One run directory with every seed it has (a grid cell not started: no models yet), placed for the report;
    every seed's training log is read now, so a damaged one fails the report before anything is drawn."""
    place = place or Placement("", "")
    if not RunLayout(directory).spec.exists():
        return RunRecord(
            directory, str(directory), None, None, [], setting=setting, panel=place.panel, group=place.group
        )
    run = read_run(directory, str(directory), all_seeds=True)
    run.setting, run.panel, run.group = setting, place.panel, place.group
    for cell in run.cells:
        for seed in cell.seeds:
            seed.curve  # noqa: B018 - read (and checked) now
    return run
