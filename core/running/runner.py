"""From a validated spec to a finished run directory, in this process.

For each model of the spec (a *cell*) every seed is trained, its representation of the evaluation
points saved, and the cell's metrics computed over all seeds. Finished seeds are never trained again:
running the same spec into the same directory resumes where it stopped. Building the parts lives in
`ica.running.building`, what seeds leave behind in `ica.running.outcomes`, which directory a run writes to
and claiming it for this spec in `ica.running.claims`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable

from ica.components.protocols import DataSplits
from ica.components.registry import Registry, component_of, registry
from ica.components.support import check_likelihood_data
from ica.errors import SpecError
from ica.evaluation.seeds import Evaluation, summarise
from ica.rundir.layout import RunLayout
from ica.rundir.record import write_record
from ica.rundir.schemas import CellSummary, EnvFile, RunSummary
from ica.rundir.writing import safe_dir
from ica.running.building import build_metrics, build_model, prepare_data, requirements_met, resolve_device, shared_data
from ica.running.controls import control_records, untrained_outcomes
from ica.running.claims import check_directory, claim_directory, claim_grid, confirm_claim, run_root
from ica.running.environment import batched_seeds, environment
from ica.running import preprocessing
from ica.running.outcomes import log_hparams
from ica.running.seed_training import model_lock, train_seeds, train_unfinished
from ica.spec.draws import grid_axes
from ica.spec.grid import has_grid
from ica.spec.load import load_spec, spec_hash
from ica.training.compile_choice import planned_models
from ica.training.tensorboard import require_tensorboard
from ica.spec.experiment import ExperimentSpec, SpecSource

Event = Callable[..., None]


def run(
    spec: SpecSource,
    out: str | Path | None = None,
    *,
    device: str | None = None,
    on_event: Event | None = None,
    reg: Registry | None = None,
) -> dict[str, Any]:
    """Train and evaluate every model and seed of ``spec`` (every cell of its grid) in this process, into the
    run directory ``out`` (default ``runs/<spec file stem>``; an existing one is resumed), and write the
    summaries.

    The summary of a plain run, or a grid's ``{"name", "spec_hash", "grid", "runs"}``, as written to
    summary.json and grid.json. `ica.running.dispatch.execute` (which ``ica.run`` and ``ica run`` call) decides
    the threads, workers and executor and calls this for the part that runs here; it trains with this
    process's torch threads as it finds them.
    """
    reg = reg or registry()
    validated = load_spec(spec, reg)
    root = run_root(spec, out)
    with planned_models(models_trained(validated)):  # the cold compile is paid once for all of them
        if has_grid(validated):
            return run_grid(validated, root, device=device, on_event=on_event or _ignore, reg=reg)
        return run_single(validated, root, device=device, on_event=on_event or _ignore, reg=reg)


def models_trained(spec: ExperimentSpec) -> int:
    """How many models a run of ``spec`` trains in one process: each model of each grid cell (cells that pack
    train fewer, so this is the most)."""
    return math.prod(len(values) for values in grid_axes(spec).values()) * len(spec.models)


def run_single(
    spec: ExperimentSpec, root: Path, *, device: str | None, on_event: Event, reg: Registry
) -> dict[str, Any]:
    """A spec without a grid: train what is unfinished, evaluate every model, write summary.json."""
    layout, torch_device, data, device_data, metrics = _prepare(spec, root, device, on_event, reg)
    cells = {
        label: run_cell(reg, spec, label, options, device_data, metrics, layout, on_event)
        for label, options in spec.models.items()
    }
    confirm_claim(layout, spec)
    summary = RunSummary(
        name=spec.name,
        spec_hash=spec_hash(spec),
        device=str(torch_device),
        split=spec.evaluation.split,
        data={
            "name": component_of(spec.data)[1],
            "x_shape": list(data.x_shape),
            "n_u": data.n_u,
            **({} if data.u_dim is None else {"u_dim": data.u_dim}),  # a continuous u's columns
            "n_train": len(data.train),
            "n_eval": len(data.eval),
            "generated": preprocessing.generated_record(data.info),
        },
        cells=cells,
    )
    write_record(layout.summary, summary)
    on_event("run_end", out=str(layout.root), summary=summary.plain())
    return summary.plain()


def train_label(
    spec: SpecSource,
    out: str | Path,
    label: str,
    *,
    device: str | None = None,
    on_event: Event | None = None,
    reg: Registry | None = None,
) -> None:
    """Train the unfinished seeds of model ``label`` (of every grid cell), evaluating nothing and writing no
    summary: the unit of work of a worker process; a later `run` evaluates and summarises."""
    reg = reg or registry()
    validated = load_spec(spec, reg)
    root = run_root(spec, out)
    on_event = on_event or _ignore
    if label not in validated.models:
        raise SpecError(f"no model labelled {label!r}; the spec has {', '.join(validated.models)}", where="only")
    if has_grid(validated):
        with shared_data():
            cells = claim_grid(validated, root, reg)
            from ica.running.packing import train_packs

            train_packs(reg, cells, root, device=device, on_event=on_event, only=label)
            for cell in cells:
                safe_dir(root, cell.directory)
                train_label(cell.spec, root / cell.directory, label, device=device, on_event=on_event, reg=reg)
        return
    layout, _, _, device_data, _ = _prepare(validated, root, device, on_event, reg)
    train_seeds(reg, validated, label, validated.models[label], device_data, layout, on_event)


def _prepare(
    spec: ExperimentSpec, root: Path, device: str | None, on_event: Event, reg: Registry
) -> tuple[RunLayout, Any, DataSplits, DataSplits, list[tuple[str, Any]]]:
    """Check the directory, build the data, the metrics and every model once (a spec that fails its checks
    leaves no directory behind), claim the directory, write env.json: the layout, the device, the data (on the
    CPU and on the device) and the metrics."""
    torch_device = resolve_device(device or spec.device)
    if spec.training.logger == "tensorboard":
        require_tensorboard()
    layout = RunLayout(root)
    check_directory(layout, spec)
    data = prepare_data(spec, reg)
    metrics = build_metrics(spec, reg, data)
    for label, options in spec.models.items():  # fail before training anything if a model cannot be built
        check_likelihood_data(reg, options, data, component_of(spec.data)[1], f"models.{label}")
        build_model(reg, options, data, spec.seed_list[:1], label)
    claim_directory(layout, spec)
    environment_record = environment(torch_device, reg, spec.training, len(data.train), batched_seeds(spec))
    write_record(layout.env, EnvFile(**environment_record))
    preprocessing.keep_record(layout, data)
    on_event("run_start", out=str(layout.root), cells=list(spec.models), seeds=spec.seed_list)
    device_data = data.to(torch_device)
    return layout, torch_device, data, device_data, metrics


def run_grid(spec: ExperimentSpec, root: Path, *, device: str | None, on_event: Event, reg: Registry) -> dict[str, Any]:
    """Run every cell of a grid as an ordinary run in ``root/<cell directory>``; ``grid.json`` lists them.

    Each cell resumes on its own, so running the grid again finishes only what is missing. A root made
    from a different grid spec is refused.
    """
    with shared_data():  # the pre-flight check and the runs build each distinct data set once
        cells = claim_grid(spec, root, reg)
        from ica.running.packing import train_packs

        train_packs(reg, cells, root, device=device, on_event=on_event)
        summaries = {}
        for i, cell in enumerate(cells):
            on_event("grid_cell", cell_name=cell.name, index=i, total=len(cells), out=str(root / cell.directory))
            safe_dir(root, cell.directory)  # a cell's directory is never followed out of the grid's
            summaries[cell.name] = run_single(
                load_spec(cell.spec, reg), root / cell.directory, device=device, on_event=on_event, reg=reg
            )
    digest = spec_hash(spec)
    return {
        "name": spec.name,
        "spec_hash": digest,
        "grid": grid_axes(spec),
        "runs": {c.name: {"dir": c.directory, "settings": c.settings, "summary": summaries[c.name]} for c in cells},
    }


def _ignore(*args: Any, **info: Any) -> None:
    """No progress callback."""


def run_cell(
    reg: Registry,
    spec: ExperimentSpec,
    label: str,
    options: Any,
    data: DataSplits,
    metrics: list[tuple[str, Any]],
    layout: RunLayout,
    on_event: Event,
) -> CellSummary:
    """Train the seeds of one model that are not finished yet, then evaluate all of them (holding the
    model's lock throughout, so that ``ica status`` calls it running until its summary is written)."""
    with model_lock(layout, label, on_event):
        seeds = spec.seed_list
        confirm_claim(layout, spec)
        outcomes = train_unfinished(reg, spec, label, options, data, layout, on_event)
        ordered = [outcomes[s] for s in seeds]
        cpu_data = _cpu(data)
        controls = spec.evaluation.controls
        evaluation = Evaluation(
            data=cpu_data, split=spec.evaluation.split, seeds=ordered, floors="observations" in controls
        )
        # A default metric list leaves out metrics this cell's outcomes cannot feed (named ones always run).
        present = {
            "requires_grid": any(o.grid_shape is not None for o in ordered),
            "requires_assignments": any(o.assignments is not None for o in ordered),
            "requires_elbo": any(o.elbo for o in ordered) or not any(o.status == "finished" for o in ordered),
        }
        chosen = [m for _, m in metrics if spec.evaluation.metrics is not None or requirements_met(m, present)]
        records = [r for metric in chosen for r in metric(evaluation)]
        if "untrained" in controls and any(getattr(m, "controlled", False) for m in chosen):
            untrained = untrained_outcomes(reg, spec, label, options, cpu_data)
            if untrained:
                control = Evaluation(
                    data=cpu_data, split=spec.evaluation.split, seeds=untrained, control="untrained", floors=False
                )
                records += control_records(chosen, control)
        if spec.training.logger == "tensorboard":
            log_hparams(layout, label, options, spec, ordered, records)
        status = {str(o.seed): o.status for o in ordered}
        cell = CellSummary.model_validate({"model": options.name, **summarise(records), "status": status})
        confirm_claim(layout, spec)
        write_record(layout.cell_summary(label), cell)
        on_event("cell_end", cell=label, summary=cell.plain())
        return cell


def _cpu(data: DataSplits) -> DataSplits:
    return data.to("cpu")
