"""``ica.run``: from a validated spec to a finished run directory.

For each model of the spec (a *cell*) every seed is trained, its representation of the evaluation
points saved, and the cell's metrics computed over all seeds. Finished seeds are never trained again:
running the same spec into the same directory resumes where it stopped. Building the parts lives in
`ica.building`, what seeds leave behind in `ica.outcomes`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from ica.building import (  # noqa: F401  (re-exported: the names users and plugins import from ica.runner)
    CPU_BATCHING_LIMIT, build_metrics, build_model, model_context, prepare_data, resolve_device, seed_groups,
    shared_data, standardized,
)
from ica.environment import environment
from ica.errors import IcaError, SpecError
from ica.evaluate import Evaluation, SeedOutcome, summarise
from ica.grid import grid_cells, grid_json, has_grid
from ica.locks import training_lock
from ica.outcomes import bits_per_dim, finish_group, load_outcome, log_hparams  # noqa: F401
from ica.plugin_registry import Registry, registry
from ica.protocols import DataSplits
from ica.results import RunLayout, create_exclusive, json_bytes, read_json, safe_dir, write_json
from ica.spec import load_spec, spec_hash, spec_json
from ica.tblog import require_tensorboard
from ica.train import Trainer

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
    write_json(layout.env, environment(torch_device, reg))
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
                 "n_train": len(data.train), "n_eval": len(data.eval)},
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
        from ica.packing import train_packs

        train_packs(reg, cells, root, device=device, on_event=on_event, only=only)
        summaries = {}
        for i, cell in enumerate(cells):
            on_event("grid_cell", cell_name=cell.name, index=i, total=len(cells), out=str(root / cell.directory))
            safe_dir(root, cell.directory)  # a cell's directory is never followed out of the grid's
            summaries[cell.name] = run(cell.spec, root / cell.directory, device=device, on_event=on_event,
                                       reg=reg, only=only)
    digest = spec_hash(spec)
    return {"name": spec.name, "spec_hash": digest, "grid": dict(spec.grid),
            "runs": {c.name: {"dir": c.directory, "settings": c.settings, "summary": summaries[c.name]}
                     for c in cells}}


def claim_grid(spec: Any, root: Path, reg: Registry) -> list:
    """Validate and check every cell (data, models, metrics), then claim ``root`` for this grid (grid.json).

    A root made from a different grid spec, or holding a plain run, is refused; nothing is trained or
    written before all checks pass. grid.json is created exclusively (`ica.results.create_exclusive`), so
    of two different grids started at once on one new directory exactly one wins.
    """
    cells = grid_cells(spec, reg)
    digest = spec_hash(spec)
    grid_file = root / GRID_FILE
    check_grid_directory(root, digest)
    for cell in cells:
        safe_dir(root, cell.directory, create=False)  # an existing cell directory must not be a link
    for cell in cells:
        data = prepare_data(cell.spec, reg)
        build_metrics(cell.spec, reg, data)
        for label, options in cell.spec.models.items():
            build_model(reg, options, data, cell.spec.seed_list[:1], f"{label} (grid cell '{cell.name}')")
    root.mkdir(parents=True, exist_ok=True)
    if create_exclusive(grid_file, json_bytes({**grid_json(spec, cells, digest), "spec": spec_json(spec)})):
        if (root / "spec.json").exists():  # a plain run claimed it at the same moment: it keeps it
            grid_file.unlink()
            raise _plain_run_there(root)
    else:
        check_grid_directory(root, digest)  # another grid claimed it first: refused unless the same spec
    return cells


GRID_FILE = "grid.json"


def check_grid_directory(root: Path, digest: str) -> None:
    """Refuse a grid's directory that holds a plain run, or a grid of another spec."""
    if (root / "spec.json").exists():
        raise _plain_run_there(root)
    grid_file = root / GRID_FILE
    if grid_file.exists() and claimed_hash(grid_file) != digest:
        raise SpecError("this directory holds a grid made from a different spec; choose another --out "
                        "or remove it", where=str(root))


def _plain_run_there(root: Path) -> IcaError:
    return IcaError("this directory holds a plain run (spec.json), not a grid; a grid spec cannot run into it: "
                    "choose another --out", where=str(root))


def claimed_hash(path: Path) -> str:
    """The ``spec_hash`` a run's spec.json (or a grid's grid.json) records; a damaged file is one error."""
    data = read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("spec_hash"), str):
        raise IcaError("is damaged: expected a JSON object with a string \"spec_hash\"; restore it, or remove the "
                       "run directory and run again", where=str(path))
    return data["spec_hash"]


def run_root(spec: Any, out: str | Path | None) -> Path:
    """The run directory: ``out``, which must name a directory, or ``runs/<spec file stem>``."""
    return default_out(spec) if out is None else check_out(out)


def check_out(out: str | Path) -> Path:
    """Refuse an --out that names no directory of its own: empty, '.', '..', '...' (the current directory or
    one above it would be filled with run files, mixing with whatever is there)."""
    text = str(out)
    if not text.strip() or not Path(text).name.strip(".").strip():
        raise IcaError(f"must name a run directory, not {text!r} (empty, '.' and '..' would write into an existing "
                       "folder)", where="--out")
    return Path(out)


def default_out(spec: Any) -> Path:
    """``runs/<spec file stem>``; a stem that is not a plain directory name ('...json' gives '..') is refused."""
    stem = Path(spec).stem if isinstance(spec, (str, Path)) else "run"
    if not plain_name(stem):
        raise IcaError(f"the spec file's name gives no plain run directory name (runs/{stem}); give --out",
                       where=str(spec))
    return Path("runs") / stem


def plain_name(name: str) -> bool:
    """A directory name of its own: not empty, not only dots, no separator or NUL."""
    return bool(name.strip()) and bool(name.strip(".")) and not any(c in name for c in ("/", "\\", "\0"))


def check_directory(layout: RunLayout, spec: Any) -> None:
    """Refuse a run directory made from another spec, or a grid's directory (an existing run of this very
    spec is resumed)."""
    if (layout.root / GRID_FILE).exists():
        raise IcaError("this directory holds a grid (grid.json); a plain spec cannot run into it: choose another "
                       "--out", where=str(layout.root))
    if layout.spec.exists() and claimed_hash(layout.spec) != spec_hash(spec):
        raise IcaError("this run directory was made from a different spec; choose another --out, or delete it",
                       where=str(layout.root))


def claim_directory(layout: RunLayout, spec: Any) -> None:
    """Write spec.json, or check that the directory was made from this very spec (to resume it).

    spec.json is created exclusively (`ica.results.create_exclusive`): of two different specs started at
    once on one new directory exactly one claims it, and the other is refused here.
    """
    check_directory(layout, spec)
    if layout.spec.exists():
        return
    layout.root.mkdir(parents=True, exist_ok=True)
    if not create_exclusive(layout.spec, json_bytes({**spec_json(spec), "spec_hash": spec_hash(spec)})):
        check_directory(layout, spec)  # claimed a moment ago by another run: fine only if of the same spec


def confirm_claim(layout: RunLayout, spec: Any) -> None:
    """Before each write that depends on the claim (training a model, writing summaries): spec.json must
    still carry this spec's hash, and no grid have claimed the directory meanwhile."""
    if not layout.spec.exists():
        raise IcaError("spec.json was removed while this run was using the directory; run again to start it "
                       "afresh", where=str(layout.root))
    check_directory(layout, spec)


def run_cell(reg: Registry, spec: Any, label: str, options: Any, data: DataSplits,
             metrics: list[tuple[str, Any]], layout: RunLayout, on_event: Event) -> dict[str, Any]:
    """Train the seeds of one model that are not finished yet, then evaluate all of them (holding the
    model's lock throughout, so that ``ica status`` calls it running until its summary is written)."""
    with model_lock(layout, label, on_event):
        seeds = spec.seed_list
        confirm_claim(layout, spec)
        outcomes = _train_unfinished(reg, spec, label, options, data, layout, on_event)
        ordered = [outcomes[s] for s in seeds]
        evaluation = Evaluation(data=_cpu(data), split=spec.evaluation.split, seeds=ordered)
        # A default metric list leaves out metrics this cell's outcomes cannot feed (named ones always run).
        present = {"requires_grid": any(o.grid_shape is not None for o in ordered),
                   "requires_assignments": any(o.assignments is not None for o in ordered)}
        chosen = [m for _, m in metrics if spec.evaluation.metrics is not None
                  or all(present[need] or not getattr(m, need, False) for need in present)]
        records = [r for metric in chosen for r in metric(evaluation)]
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
    """One process at a time trains (and summarises) a model of a run: `ica.locks.training_lock`."""
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
        model = model.to(data.train.x.device)
        trainer = Trainer(model, data.train, group, spec.training, files,
                          on_event=lambda name, **info: on_event(name, cell=label, **info))
        statuses = trainer.run()
        for outcome in finish_group(model, statuses, trainer, data, points, files):
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
        (outcome,) = finish_group(model, trainer.run(), trainer, data, points, [files])
        result = read_json(files.result)
        write_json(files.result, {**result, "lr": lr, "earlier_attempts": attempts})
        if outcome.status == "finished":
            break
        attempts.append(result)
    return outcome


def _cpu(data: DataSplits) -> DataSplits:
    return DataSplits(data.train.to("cpu"), data.eval.to("cpu"), data.n_u, data.info)


