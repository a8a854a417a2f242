"""What a run directory holds, read back: the one model that ``ica status``, ``ica results`` and ``ica report`` share.

`read_run` reads a run directory into a `RunRecord`: its spec.json and summary.json as their records
(`ica.rundir.schemas`) and, per model label, a `CellRecord` of its summary and its `SeedRecord` s (each seed's
result.json, whether it left a training log or checkpoint, and its training curve, read when first asked for).
Finding the runs below a folder is `ica.reporting.finder` (status, results, the index); arranging an experiment's
runs for a report is `ica.reporting.experiment`.

Numbers are never invented: a finished model's statistics are those of its summary; a model still training shows
only what its finished seeds' result.json hold (the ELBO), marked partial. A failed seed stays in every count
(``n_failed``), as in `ica.evaluation.seeds.quartiles`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from ica.evaluation.seeds import quartiles
from ica.rundir.damage import no_link
from ica.rundir.json_files import read_cell_summary, read_result, read_run_spec, read_run_summary
from ica.rundir.layout import RunLayout
from ica.rundir.metrics_log import read_metrics_lines
from ica.rundir.schemas import CellSummary, ResultFile, RunSpecFile, RunSummary
from ica.running.locks import lock_holder

SEED_STATES = ("finished", "failed", "running", "stopped", "missing")
"""A seed's states as ``ica status`` and ``ica results`` count them (`CellRecord.states`)."""
PARTIAL_ELBO = {"elbo_train": "train", "elbo_eval": "eval", "bpd_train": "bpd_train", "bpd_eval": "bpd_eval"}
LOG_ADVICE = "delete that line (or the file, losing the training curve) to make the report"


@dataclass
class SeedRecord:
    """One seed of one model, as its files show it.

    ``result`` is its result.json (None until it finished or failed), ``started`` whether it left a training log
    or a checkpoint without a result, ``recorded`` its status in the model's summary and ``values`` its metrics
    there. ``planned``: the spec asks for it (a report also lists seeds found only in the summary or as folders).
    """

    seed: int
    folder: Path
    result: ResultFile | None
    started: bool
    recorded: str | None = None
    values: dict[str, float | None] = field(default_factory=dict)
    planned: bool = True

    @property
    def status(self) -> str:
        """For the report: finished or failed (its result, else its summary's record), running (started) or
        not started."""
        if self.result is not None:
            return self.result.status
        if self.recorded is not None:
            return self.recorded
        return "running" if self.started else "not started"

    @property
    def elbo_train(self) -> float | None:
        """From result.json, for a summary without ``elbo_train``."""
        return None if self.result is None else (self.result.elbo or {}).get("train")

    @property
    def error(self) -> str | None:
        return None if self.result is None else self.result.error

    @cached_property
    def curve(self) -> list[dict[str, Any]]:
        """Its training log (`read_metrics`), read when first asked for."""
        return read_metrics(self.folder / "metrics.jsonl")


@dataclass
class CellRecord:
    """One model label of one run: its summary (None while it has none) and its seeds.

    ``status`` is 'finished' (it has a summary), 'running' (a process holds the model's lock now: training or
    evaluating it), 'stopped' (started, no summary, nobody working on it: ``ica run`` resumes it) or 'pending'
    (no seed started). ``stats`` are the summary's, or without one the ELBO of the finished seeds' result.json
    (``partial``) where the run evaluates the ELBO.
    """

    label: str
    model: str | None
    seeds: list[SeedRecord]
    folder: Path | None = None  # None for a grid cell not started
    record: CellSummary | None = None
    summary_path: Path | None = None
    computes_elbo: bool = True

    @cached_property
    def training(self) -> bool:
        """A process holds the model's training lock (`ica.running.locks`), asked once, when first needed."""
        return self.folder is not None and lock_holder(self.folder) is not None

    @cached_property
    def summary(self) -> dict[str, Any] | None:
        """The summary as its JSON object (`Record.plain`): metrics are its keys."""
        return None if self.record is None else self.record.plain()

    @property
    def status(self) -> str:
        if self.record is not None:
            return "finished"
        if self.training:
            return "running"
        return "stopped" if any(s != "missing" for s in self.states.values()) else "pending"

    @property
    def states(self) -> dict[int, str]:
        """Each seed of the spec and its state, as status and results count them: finished or failed (its
        result), running (started, and the model's lock is held), stopped (started, nobody training it: ``ica
        run`` resumes it) or missing (not started)."""
        return {
            s.seed: s.result.status
            if s.result is not None
            else ("running" if self.training else "stopped")
            if s.started
            else "missing"
            for s in self.seeds
            if s.planned
        }

    def counts(self) -> dict[str, int]:
        states = list(self.states.values())
        return {"total": len(states), **{s: states.count(s) for s in SEED_STATES}}

    def count(self, status: str) -> int:
        """How many seeds the report shows with ``status`` (`SeedRecord.status`)."""
        return sum(s.status == status for s in self.seeds)

    @cached_property
    def stats(self) -> dict[str, dict[str, Any]]:
        if self.summary is not None:
            return self.summary["stats"]
        results = {s.seed: s.result for s in self.seeds if s.planned and s.result is not None}
        return partial_elbo(results) if results and self.computes_elbo else {}

    @property
    def partial(self) -> bool:
        return self.record is None and bool(self.stats)

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


@dataclass
class RunRecord:
    """One run directory (a directory with spec.json), or a grid cell whose run has not started.

    ``shown`` is how status and results name it; ``setting``, ``panel`` and ``group`` how a report places it.
    ``settings`` are the grid cell's settings (axis path -> value) when a grid.json names this run. In a grid
    with data draws (`ica.spec.draws`), ``draw_axis`` is the setting that holds them and ``draw`` this run's
    data seed (both None otherwise): runs whose settings differ only there are draws of one setting
    (`ica.reporting.draws`). A grid cell not started has no spec of its own: ``base_spec`` is the grid's.
    """

    path: Path
    shown: str
    spec_record: RunSpecFile | None
    summary_record: RunSummary | None
    cells: list[CellRecord]
    grid: Path | None = None
    grid_axes: tuple[str, ...] = ()
    settings: dict[str, Any] = field(default_factory=dict)
    base_spec: dict[str, Any] | None = None
    draw_axis: str | None = None
    draw: int | None = None
    setting: str = ""  # one line for the report, e.g. "samples_per_segment=100"; "" for a lone run
    panel: str = ""  # its panel in the report's boxplots ("" for one panel), e.g. "data=mnist"
    group: str = ""  # its x-axis label there, e.g. "latent_dim=50"

    @cached_property
    def spec(self) -> dict[str, Any] | None:
        """spec.json as its JSON object (`Record.plain`), None for a grid cell not started."""
        return None if self.spec_record is None else self.spec_record.plain()

    @cached_property
    def summary(self) -> dict[str, Any] | None:
        return None if self.summary_record is None else self.summary_record.plain()

    @property
    def directory(self) -> Path:
        return self.path

    @property
    def finished(self) -> bool:
        return self.summary_record is not None

    @property
    def split(self) -> str | None:
        if self.summary_record is not None:
            return self.summary_record.split
        return None if self.spec_record is None else self.spec_record.evaluation.split

    @property
    def status(self) -> str:
        if self.finished:
            return "finished"
        states = {c.status for c in self.cells}
        if "running" in states:
            return "running"
        return "stopped" if states - {"pending"} else "pending"


def read_run(directory: Path, shown: str = "", *, all_seeds: bool = False) -> RunRecord:
    """The run in ``directory`` (which holds spec.json): every model label of its spec with its seeds; with
    ``all_seeds`` also seeds the spec does not name but the summary or a folder does (a report lists them).
    A damaged file is an `IcaError` naming it (`ica.rundir.json_files`)."""
    layout = RunLayout(Path(directory))
    spec = read_run_spec(layout.spec)
    summary = read_run_summary(layout.summary) if layout.summary.exists() else None
    elbo = spec.evaluation.metrics is None or any(m.name == "elbo" for m in spec.evaluation.metrics)
    cells = [
        read_cell(layout, label, options.name, spec.seed_list, summary, elbo, all_seeds)
        for label, options in spec.models.items()
    ]
    return RunRecord(layout.root, shown, spec, summary, cells)


def read_cell(
    layout: RunLayout,
    label: str,
    model: str,
    seeds: list[int],
    run_summary: RunSummary | None,
    computes_elbo: bool,
    all_seeds: bool = False,
) -> CellRecord:
    """One model of a run: its summary (its own file, else its entry in the run's) and each seed's files."""
    no_link(layout.cell(label), layout.cell(label) / "seeds")
    record, path = None, layout.cell_summary(label)
    if path.exists():
        record = read_cell_summary(path)
    elif run_summary is not None and label in run_summary.cells:
        record, path = run_summary.cells[label], layout.summary
    ids = list(seeds)
    if all_seeds:
        ids += [int(s) for s in (record.status if record else {}) if int(s) not in ids]
        ids += sorted(s for s in seed_folders(layout.cell(label) / "seeds") if s not in ids)
    found = [read_seed(layout, label, seed, record, seed in seeds) for seed in ids]
    return CellRecord(
        label,
        record.model if record else model,
        found,
        layout.cell(label),
        record,
        path if record else None,
        computes_elbo,
    )


def read_seed(
    layout: RunLayout, label: str, seed: int, summary: CellSummary | None, planned: bool = True
) -> SeedRecord:
    """One seed's files: its result.json (checked), whether it started, and what the model's summary says of it."""
    files = layout.seed(label, seed)
    no_link(files.root)
    result = read_result(files.result) if files.result.exists() else None
    started = result is None and (files.metrics.exists() or files.checkpoint.exists())
    recorded = summary.status.get(str(seed)) if summary else None
    values = summary.seeds.get(str(seed), {}) if summary else {}
    return SeedRecord(seed, files.root, result, started, recorded, values, planned)


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """The lines of a metrics.jsonl; a last line torn by a kill while it was written is skipped, any other line
    that is not one the trainer writes is an error naming the file and line (`ica.rundir.metrics_log`)."""
    if not path.exists():
        return []
    return [line for _, line in read_metrics_lines(path, LOG_ADVICE)]


def seed_folders(folder: Path) -> list[int]:
    """The seeds that have a folder in a model's ``seeds``."""
    if not folder.is_dir():
        return []
    return [int(p.name) for p in folder.iterdir() if p.name.isascii() and p.name.isdigit()]


def partial_elbo(results: dict[int, ResultFile]) -> dict[str, dict[str, Any]]:
    """ELBO statistics of the seeds done so far, as the `elbo` metric would give them: a failed seed
    (or a missing value) counts as a failure in ``n_failed``; seeds still training are not counted."""
    elbos = {seed: (r.elbo if r.status == "finished" else None) or {} for seed, r in results.items()}
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
