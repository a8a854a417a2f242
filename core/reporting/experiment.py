"""The runs ``ica report`` shows, read from one directory and placed for its tables and figures: `load_experiment`
(several directories: `load_experiments`).

A directory is one run (spec.json), a grid (grid.json: its cells in its order, each placed by its settings), or a
folder of runs side by side (placed by the spec options that differ between them); the runs of several
directories are placed side by side too. Each run is read into the
model status and results read too (`ica.reporting.rundirs.read_run`), with every seed found: a run still training
is read from what is there (a missing summary is ``None``, a seed's status is told by its files), so a report can
be made at any time and a failed seed is never dropped.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

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
    directories: list[Path] = field(default_factory=list)  # the directories named, when several (else root)

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
        run.settings, run.draw_axis, run.grid = dict(settings), grid.draw_axis, root  # draws pool within a grid
        run.draw = settings.get(run.draw_axis) if run.draw_axis else None
        runs.append(run)
    return Experiment(root, grid.name or root.name, "grid", Placement.axis_name(axes), runs)


def _load_runs(root: Path, subdirs: list[Path]) -> Experiment:
    """Runs side by side without grid.json: the settings are the spec options that differ between them."""
    runs, axis = side_by_side([load_run(d, d.name) for d in subdirs], [d.name for d in subdirs])
    return Experiment(root, root.name, "runs", axis, runs)


def side_by_side(found: list[RunRecord], names: list[str]) -> tuple[list[RunRecord], str]:
    """Runs placed by the spec options that differ between them (not a data draw's seed: draws are replicates),
    in the order of those settings, and the axis's name; beyond `MAX_AXES` options, or with none, each run is
    told apart by its name. A run without spec.json yet (a grid cell not started) comes last, by its name."""
    flats = [flatten(run.spec) if run.spec is not None else None for run in found]
    draws = {run.draw_axis for run in found if run.draw_axis}
    present = [f for f in flats if f is not None]
    keys = sorted(set().union(*present) - {"name", "spec_hash", "$schema"} - draws) if present else []
    varying = [k for k in keys if len({json.dumps(f.get(k), sort_keys=True) for f in present}) > 1]
    order = sorted(
        range(len(found)),
        key=lambda i: (flats[i] is None, tuple(sort_key((flats[i] or {}).get(k)) for k in varying), names[i]),
    )
    axes = [[k] for k in varying]
    readable = 0 < len(varying) <= MAX_AXES  # else the runs are told apart by their directory names
    texts = axis_texts(axes, [{k: f.get(k) for k in varying} for f in present])
    runs = []
    for i in order:
        run, flat = found[i], flats[i]
        if readable and flat is not None:
            settings = {k: flat.get(k) for k in varying}
            run.setting = " ".join(dict.fromkeys(named(axis, settings, texts) for axis in axes))
            place = Placement.of(axes, settings, texts)
        else:
            run.setting, place = names[i], Placement("", names[i])
        run.panel, run.group = place.panel, place.group
        runs.append(run)
    return runs, Placement.axis_name(axes) if readable else "run"


def load_experiments(directories: Sequence[Path]) -> Experiment:
    """The runs of one directory (`load_experiment`) or of several, reported together as ``ica results`` tables
    them: every run each holds (itself, a grid's cells, a folder's runs; one found twice is read once), placed
    side by side by the spec options that differ between them (`side_by_side`) and named by their paths below
    the directories' common folder."""
    given = list(dict.fromkeys(Path(d) for d in directories))
    if not given:
        raise IcaError("name at least one run directory", where="DIRECTORIES")
    if len(given) == 1:
        return load_experiment(given[0])
    parts = [load_experiment(d) for d in given]  # each checked: a missing directory or one without runs fails
    try:
        root = Path(os.path.commonpath([p.root.resolve() for p in parts]))
    except ValueError:  # different drives: no common folder
        root = Path(os.path.abspath(os.sep))
    found, seen = [], set()
    for part in parts:
        for run in part.runs:
            if run.path.resolve() not in seen:
                seen.add(run.path.resolve())
                found.append(run)
    if len(found) == 1 and len(parts[0].runs) == 1:  # the same run named twice (e.g. through a link)
        return parts[0]
    names = [_below(root, run.path) for run in found]
    runs, axis = side_by_side(found, names)
    name = " + ".join(p.name for p in parts) if len(parts) <= 3 else f"{len(parts)} directories"
    return Experiment(root, name, "runs", axis, runs, [p.root for p in parts])


def _below(root: Path, path: Path) -> str:
    try:
        relative = path.resolve().relative_to(root).as_posix()
    except ValueError:
        return str(path)
    return relative if relative != "." else path.name


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
