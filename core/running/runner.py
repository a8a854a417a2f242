"""``ica.run``: from a validated spec to a finished run directory.

For each model of the spec (a *cell*) every seed is trained, its representation of the evaluation
points saved, and the cell's metrics computed over all seeds. Finished seeds are never trained again:
running the same spec into the same directory resumes where it stopped. Building the parts lives in
`ica.running.building`, what seeds leave behind in `ica.running.outcomes`, which directory a run writes to
and claiming it for this spec in `ica.running.claims`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from ica.components.protocols import DataSplits, is_fitted_peer
from ica.components.registry import Registry, registry
from ica.errors import SpecError
from ica.evaluation.seeds import Evaluation, SeedOutcome, summarise
from ica.rundir.json_files import read_json
from ica.rundir.layout import RunLayout
from ica.rundir.writing import safe_dir, write_json
from ica.running.batching import seed_groups
from ica.running.building import build_metrics, build_model, fed, prepare_data, resolve_device, shared_data
from ica.running.controls import control_records, untrained_outcomes
from ica.running.claims import check_directory, claim_directory, claim_grid, confirm_claim, run_root
from ica.running.environment import environment
from ica.running.locks import training_lock
from ica.running import preprocessing
from ica.running.outcomes import finish_group, load_outcome, log_hparams
from ica.running.peers import fit_seed
from ica.spec.draws import grid_axes
from ica.spec.grid import has_grid
from ica.spec.load import load_spec, spec_hash
from ica.training.loop import Trainer
from ica.training.tensorboard import require_tensorboard

Event = Callable[..., None]


def run(spec: Any, out: str | Path | None = None, *, device: str | None = None,
        on_event: Event | None = None, reg: Registry | None = None, only: str | None = None) -> dict[str, Any]:
    """Train and evaluate every model and seed of ``spec`` into the run directory ``out``.

    Args:
        spec: a path to a JSON spec, a dict, or a validated spec.
        out: the run directory (default ``runs/<spec file stem>``); an existing one is resumed.
        device: overrides the spec's device ('auto', 'cpu', 'cuda').
        on_event: progress callback ``on_event(name, **info)``.
        only: train just this model label's unfinished seeds and return ``{}``, writing no summary (the
            unit of work of a worker process; a later plain call evaluates and summarises).

    Returns:
        The summary also written to ``<out>/summary.json``.

    Trains with this process's torch threads as it finds them, never changing them: the command ``ica run``
    chooses them (`ica.running.processes.threads_for`: one on the CPU for small models); from Python, call
    ``torch.set_num_threads`` first. env.json records the count and the compile decision.
    """
    reg = reg or registry()
    validated = load_spec(spec, reg)
    on_event = on_event or (lambda *a, **k: None)
    root = run_root(spec, out)
    if has_grid(validated):
        return run_grid(validated, root, device=device, on_event=on_event, reg=reg, only=only)
    if only is not None and only not in validated.models:
        raise SpecError(f"no model labelled {only!r}; the spec has {', '.join(validated.models)}", where="only")
    torch_device = resolve_device(device or validated.device)
    if validated.training.logger == "tensorboard":
        require_tensorboard()
    layout = RunLayout(root)
    check_directory(layout, validated)
    data = prepare_data(validated, reg)
    metrics = build_metrics(validated, reg, data)
    for label, options in validated.models.items():  # fail before training anything if a model cannot be built
        build_model(reg, options, data, validated.seed_list[:1], label)
    claim_directory(layout, validated)  # only now: a spec that fails its checks leaves no directory behind
    write_json(layout.env, environment(torch_device, reg, validated.training, len(data.train)))
    preprocessing.keep_record(layout, data)
    on_event("run_start", out=str(layout.root), cells=list(validated.models), seeds=validated.seed_list)
    cells = {}
    device_data = DataSplits(data.train.to(torch_device), data.eval.to(torch_device), data.n_u, data.info)
    if only is not None:
        train_seeds(reg, validated, only, validated.models[only], device_data, layout, on_event)
        return {}
    for label, options in validated.models.items():
        cells[label] = run_cell(reg, validated, label, options, device_data, metrics, layout, on_event)
    confirm_claim(layout, validated)
    summary = {
        "name": validated.name,
        "spec_hash": spec_hash(validated),
        "device": str(torch_device),
        "split": validated.evaluation.split,
        "data": {"name": validated.data.name, "x_shape": list(data.x_shape), "n_u": data.n_u,
                 "n_train": len(data.train), "n_eval": len(data.eval),
                 "generated": preprocessing.generated_record(data.info)},
        "cells": cells,
    }
    write_json(layout.summary, summary)
    on_event("run_end", out=str(layout.root), summary=summary)
    return summary


def run_grid(spec: Any, root: Path, *, device: str | None, on_event: Event, reg: Registry,
             only: str | None = None) -> dict[str, Any]:
    """Run every cell of a grid as an ordinary run in ``root/<cell directory>``; ``grid.json`` lists them.

    Each cell resumes on its own, so running the grid again finishes only what is missing. A root made
    from a different grid spec is refused.
    """
    with shared_data():  # the pre-flight check and the runs build each distinct data set once
        cells = claim_grid(spec, root, reg)
        from ica.running.packing import train_packs

        train_packs(reg, cells, root, device=device, on_event=on_event, only=only)
        summaries = {}
        for i, cell in enumerate(cells):
            on_event("grid_cell", cell_name=cell.name, index=i, total=len(cells), out=str(root / cell.directory))
            safe_dir(root, cell.directory)  # a cell's directory is never followed out of the grid's
            summaries[cell.name] = run(cell.spec, root / cell.directory, device=device, on_event=on_event,
                                       reg=reg, only=only)
    digest = spec_hash(spec)
    return {"name": spec.name, "spec_hash": digest, "grid": grid_axes(spec),
            "runs": {c.name: {"dir": c.directory, "settings": c.settings, "summary": summaries[c.name]}
                     for c in cells}}


def run_cell(reg: Registry, spec: Any, label: str, options: Any, data: DataSplits,
             metrics: list[tuple[str, Any]], layout: RunLayout, on_event: Event) -> dict[str, Any]:
    """Train the seeds of one model that are not finished yet, then evaluate all of them (holding the
    model's lock throughout, so that ``ica status`` calls it running until its summary is written)."""
    with model_lock(layout, label, on_event):
        seeds = spec.seed_list
        confirm_claim(layout, spec)
        outcomes = _train_unfinished(reg, spec, label, options, data, layout, on_event)
        ordered = [outcomes[s] for s in seeds]
        cpu_data = _cpu(data)
        controls = spec.evaluation.controls
        evaluation = Evaluation(data=cpu_data, split=spec.evaluation.split, seeds=ordered,
                                floors="observations" in controls)
        # A default metric list leaves out metrics this cell's outcomes cannot feed (named ones always run).
        present = {"requires_grid": any(o.grid_shape is not None for o in ordered),
                   "requires_assignments": any(o.assignments is not None for o in ordered),
                   "requires_elbo": any(o.elbo for o in ordered) or not any(o.status == "finished" for o in ordered)}
        chosen = [m for _, m in metrics if spec.evaluation.metrics is not None or fed(m, present)]
        records = [r for metric in chosen for r in metric(evaluation)]
        if "untrained" in controls and any(getattr(m, "controlled", False) for m in chosen):
            untrained = untrained_outcomes(reg, spec, label, options, cpu_data)
            if untrained:
                control = Evaluation(data=cpu_data, split=spec.evaluation.split, seeds=untrained,
                                     control="untrained", floors=False)
                records += control_records(chosen, control)
        if spec.training.logger == "tensorboard":
            log_hparams(layout, label, options, spec, ordered, records)
        cell = {"model": options.name, **summarise(records)}
        cell["status"] = {str(o.seed): o.status for o in ordered}
        confirm_claim(layout, spec)
        write_json(layout.cell_summary(label), cell)
        on_event("cell_end", cell=label, summary=cell)
        return cell


def train_seeds(reg: Registry, spec: Any, label: str, options: Any, data: DataSplits, layout: RunLayout,
                on_event: Event) -> dict[int, SeedOutcome]:
    """Every seed's outcome for one model: loaded when finished earlier, trained (or resumed) otherwise.

    Idempotent: the unit of work of every executor, safe to call again after any interruption, and safe
    to call from two processes at once (the second waits for the first's lock, then finds its seeds done).
    """
    with model_lock(layout, label, on_event):
        confirm_claim(layout, spec)
        return _train_unfinished(reg, spec, label, options, data, layout, on_event)


def model_lock(layout: RunLayout, label: str, on_event: Event) -> Any:
    """One process at a time trains (and summarises) a model of a run: `ica.running.locks.training_lock`."""
    return training_lock(layout.cell(label), lambda message: on_event("notice", cell=label, message=message))


def _train_unfinished(reg: Registry, spec: Any, label: str, options: Any, data: DataSplits, layout: RunLayout,
                      on_event: Event) -> dict[int, SeedOutcome]:
    outcomes: dict[int, SeedOutcome] = {}
    todo = []
    for seed in spec.seed_list:
        seed_dir(layout, label, seed, create=False)  # what is read back, and written next, is inside the run
        done = load_outcome(layout.seed(label, seed))
        if done is not None:
            outcomes[seed] = done
        else:
            todo.append(seed)
    on_event("cell_start", cell=label, seeds=spec.seed_list, todo=todo)
    points = data.eval if spec.evaluation.split == "eval" else data.train
    for group, model in seed_groups(reg, options, data, todo, spec.training.batch_seeds, label, on_event):
        files = [layout.seed(label, s) for s in group]
        for s in group:
            seed_dir(layout, label, s)
        cell_event = lambda name, **info: on_event(name, cell=label, **info)  # noqa: E731
        if is_fitted_peer(model):  # a fitted estimator, one seed at a time: no loop, no ELBO (`ica.running.peers`)
            outcomes[group[0]] = fit_seed(model, group[0], data, points, files[0], label, cell_event)
            continue
        model = model.to(data.train.x.device)
        trainer = Trainer(model, data.train, group, spec.training, files, on_event=cell_event)
        statuses = trainer.run()
        for outcome in finish_group(model, statuses, trainer, data, points, files, layout):
            outcomes[outcome.seed] = outcome
            if any(st.seed == outcome.seed and st.failed for st in statuses) and spec.training.retry_nan:
                outcomes[outcome.seed] = retry_diverged(reg, spec, label, options, data, layout, outcome.seed,
                                                        on_event)
    return outcomes


def seed_dir(layout: RunLayout, label: str, seed: int, create: bool = True) -> None:
    """``<run>/<label>/seeds/<seed>``, made (or only checked) without following a symbolic link."""
    safe_dir(layout.root, label, "seeds", str(seed), create=create)


def retry_diverged(reg: Registry, spec: Any, label: str, options: Any, data: DataSplits, layout: RunLayout,
                   seed: int, on_event: Event) -> SeedOutcome:
    """Train a diverged seed again, alone and from the start, at a lower learning rate, up to ``retry_nan``
    times; every attempt is recorded in its result.json (and the last one counts, finished or failed)."""
    files = layout.seed(label, seed)
    points = data.eval if spec.evaluation.split == "eval" else data.train
    attempts = [read_json(files.result)]
    outcome = None
    for attempt in range(1, spec.training.retry_nan + 1):
        lr = spec.training.lr * spec.training.retry_lr_factor**attempt
        on_event("notice", cell=label, message=f"{label}: seed {seed} diverged; attempt {attempt + 1} with lr {lr:g}")
        for stale in (*files.checkpoints(spec.training.checkpoint_keep), files.metrics, files.result):
            stale.unlink(missing_ok=True)
        training = spec.training.model_copy(update={"lr": lr})
        model = build_model(reg, options, data, [seed], label).to(data.train.x.device)
        trainer = Trainer(model, data.train, [seed], training, [files],
                          on_event=lambda name, **info: on_event(name, cell=label, **info))
        (outcome,) = finish_group(model, trainer.run(), trainer, data, points, [files], layout)
        result = read_json(files.result)
        write_json(files.result, {**result, "lr": lr, "earlier_attempts": attempts})
        if outcome.status == "finished":
            break
        attempts.append(result)
    return outcome


def _cpu(data: DataSplits) -> DataSplits:
    return DataSplits(data.train.to("cpu"), data.eval.to("cpu"), data.n_u, data.info)
