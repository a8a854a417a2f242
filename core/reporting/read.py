"""Reading an experiment directory for `ica report` (issue #5): runs, grid.json, summaries, seed statuses and
metrics.jsonl (layout in ``ica.rundir.writing``), into plain dataclasses the figures and tables share.

A run still training is read from what is there: a missing summary is ``None`` and a seed's status is
guessed from its files, so a report can be made at any time and a failed seed is never dropped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ica.errors import IcaError
from ica.reporting.settings import Placement, axis_texts, flatten, named, sort_key
from ica.rundir.damage import no_link
from ica.rundir.json_files import read_cell_summary, read_grid, read_result, read_run_spec, read_run_summary
from ica.rundir.metrics_log import read_metrics_lines

MAX_AXES = 3
"""Runs side by side that differ in more spec options than this are labelled by their directory names."""


@dataclass
class Seed:
    seed: int
    status: str  # finished | failed | running | not started
    values: dict[str, float | None]  # this seed's metrics in the summary (None = failed)
    elbo_train: float | None = None  # from result.json where the summary has no elbo_train
    error: str | None = None
    curve: list[dict[str, Any]] = field(default_factory=list)  # metrics.jsonl lines


@dataclass
class Cell:
    """One model label of one run."""

    label: str
    model: str
    summary: dict[str, Any] | None  # None while the model is still training
    seeds: list[Seed]

    @property
    def pairs(self) -> list[dict[str, Any]]:
        return (self.summary or {}).get("pairs", [])

    def seed_values(self, metric: str) -> list[float | None] | None:
        """One value per seed (None for a failed one), or None when the summary has no such metric."""
        if self.summary is None or not any(metric in s.values for s in self.seeds):
            return None
        return [s.values.get(metric) for s in self.seeds]

    def pair_values(self, metric: str) -> list[float | None] | None:
        if not any(metric in p for p in self.pairs):
            return None
        return [p.get(metric) for p in self.pairs]

    def count(self, status: str) -> int:
        return sum(s.status == status for s in self.seeds)


@dataclass
class Run:
    directory: Path
    setting: str  # one line, e.g. "samples_per_segment=100"; "" for a lone run
    panel: str  # the panel of this run in the boxplots ("" for one panel), e.g. "data=mnist"
    group: str  # its x-axis label there, e.g. "latent_dim=50"
    summary: dict[str, Any] | None
    cells: list[Cell]
    split: str | None
    settings: dict[str, Any] = field(default_factory=dict)  # a grid cell's (axis path -> value), from grid.json
    draw_axis: str | None = None  # with data draws (`ica.spec.draws`): the setting that holds them
    draw: int | None = None  # and this run's data seed; runs differing only there: `ica.reporting.draws`


@dataclass
class Experiment:
    root: Path
    name: str
    kind: str  # run | grid | runs
    axis: str  # what the settings are, for the x axis
    runs: list[Run]

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
        raise IcaError("no run found here: expected a spec.json (one run), a grid.json (a grid) or "
                       "sub-directories holding a spec.json", where=str(directory))
    return _load_runs(directory, subdirs)


def _load_grid(root: Path) -> Experiment:
    _, grid = read_grid(root)  # each cell's dir a sub-directory of the grid
    cells = grid["cells"]
    # A linked axis ("data, models.vade.prior.components") is one axis of several paths.
    axes = [[p.strip() for p in key.split(",")] for key in (grid.get("axes") or {})]
    if not axes and cells:
        axes = [[path] for path in cells[0].get("settings") or {}]
    axes = [axis for axis in axes if axis != [grid.get("draw_axis")]]  # draws are replicates, not places
    texts = axis_texts(axes, [cell.get("settings") or {} for cell in cells])
    runs = []
    for cell in cells:
        settings = cell.get("settings") or {}
        setting = cell.get("name") or " ".join(named(axis, settings, texts) for axis in axes) or cell["dir"]
        run = load_run(root / cell["dir"], setting, Placement.of(axes, settings, texts))
        run.settings, run.draw_axis = dict(settings), grid.get("draw_axis")
        run.draw = settings.get(run.draw_axis) if run.draw_axis else None
        runs.append(run)
    return Experiment(root, grid.get("name") or root.name, "grid", Placement.axis_name(axes), runs)


def _load_runs(root: Path, subdirs: list[Path]) -> Experiment:
    """Runs side by side without grid.json: the settings are the spec options that differ between them."""
    flats = [flatten(read_run_spec(d / "spec.json")[1]) for d in subdirs]
    keys = sorted(set().union(*flats) - {"name", "spec_hash", "$schema"})
    varying = [k for k in keys if len({json.dumps(f.get(k), sort_keys=True) for f in flats}) > 1]
    order = sorted(range(len(subdirs)), key=lambda i: tuple(sort_key(flats[i].get(k)) for k in varying)
                   + (subdirs[i].name,))
    axes = [[k] for k in varying]
    readable = 0 < len(varying) <= MAX_AXES  # else the runs are told apart by their directory names
    texts = axis_texts(axes, [{k: f.get(k) for k in varying} for f in flats])
    runs = []
    for i in order:
        settings = {k: flats[i].get(k) for k in varying}
        setting = (" ".join(dict.fromkeys(named(axis, settings, texts) for axis in axes)) if readable
                   else subdirs[i].name)
        place = Placement.of(axes, settings, texts) if readable else Placement("", subdirs[i].name)
        runs.append(load_run(subdirs[i], setting, place))
    return Experiment(root, root.name, "runs", Placement.axis_name(axes) if readable else "run", runs)


def _read_if_there(path: Path, reader: Any, default: Any = None) -> Any:
    """A file a run may not have written yet (still training, or never started), checked by ``reader``."""
    return reader(path)[1] if path.exists() else default


def load_run(directory: Path, setting: str, place: Placement | None = None) -> Run:
    """One run directory: its summary (or the per-model summaries written so far) and every seed's files."""
    spec = _read_if_there(directory / "spec.json", read_run_spec, {})
    summary = _read_if_there(directory / "summary.json", read_run_summary)
    labels = list((summary or {}).get("cells", {})) or list(spec.get("models", {}))
    cells = []
    for label in labels:
        no_link(directory / label, directory / label / "seeds")
        cell_summary = (summary or {}).get("cells", {}).get(label)
        if cell_summary is None:
            cell_summary = _read_if_there(directory / label / "summary.json", read_cell_summary)
        model = (cell_summary or {}).get("model") or spec.get("models", {}).get(label, {}).get("name", label)
        cells.append(Cell(label, model, cell_summary, _load_seeds(directory / label, spec, cell_summary)))
    split = (summary or {}).get("split") or spec.get("evaluation", {}).get("split")
    place = place or Placement("", "")
    return Run(directory, setting, place.panel, place.group, summary, cells, split)


def _load_seeds(cell_dir: Path, spec: dict[str, Any], summary: dict[str, Any] | None) -> list[Seed]:
    """Every seed the spec asks for, the summary knows or has a folder, with its status from what it wrote."""
    seeds_spec = spec.get("seeds", [])
    ids = list(range(seeds_spec)) if isinstance(seeds_spec, int) else list(seeds_spec)
    ids += [int(s) for s in (summary or {}).get("status", {}) if int(s) not in ids]
    if (cell_dir / "seeds").is_dir():
        found = (int(p.name) for p in (cell_dir / "seeds").iterdir() if p.name.isascii() and p.name.isdigit())
        ids += sorted(s for s in found if s not in ids)
    seeds = []
    for seed in ids:
        folder = no_link(cell_dir / "seeds" / str(seed))
        result = _read_if_there(folder / "result.json", read_result) or {}
        status = result.get("status") or (summary or {}).get("status", {}).get(str(seed))
        if status is None:
            started = (folder / "metrics.jsonl").exists() or (folder / "checkpoint.pt").exists()
            status = "running" if started else "not started"
        values = (summary or {}).get("seeds", {}).get(str(seed), {})
        elbo = (result.get("elbo") or {}).get("train")
        seeds.append(Seed(seed, status, values, elbo, result.get("error"), read_metrics(folder / "metrics.jsonl")))
    return seeds


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """The lines of a metrics.jsonl; a last line torn by a kill while it was written is skipped, any other line
    that is not one the trainer writes is an error naming the file and line (`ica.rundir.metrics_log`)."""
    if not path.exists():
        return []
    return [line for _, line in read_metrics_lines(path, "delete that line (or the file, losing the training "
                                                         "curve) to make the report")]
