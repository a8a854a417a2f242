"""Training one model's unfinished seeds of a run: the unit of work of every executor.

Finished seeds are read back, never trained again; the rest train in groups of batched seeds, and a diverged
seed is trained again at a lower learning rate where the spec asks for it. One process at a time trains a
model of a run (its lock), so two processes given the same work never train the same seed twice.
"""

from __future__ import annotations

from typing import Any, Callable

from ica.components.protocols import DataSplits, is_fitted_peer
from ica.components.registry import Registry
from ica.evaluation.seeds import SeedOutcome
from ica.rundir.json_files import read_result
from ica.rundir.record import write_record
from ica.rundir.schemas import ResultFile
from ica.rundir.layout import RunLayout
from ica.rundir.writing import safe_dir
from ica.running.batching import seed_groups
from ica.running.building import build_model
from ica.running.claims import confirm_claim
from ica.running.locks import training_lock
from ica.running.outcomes import finish_group, load_outcome
from ica.running.peers import fit_seed
from ica.training.loop import Trainer
from ica.spec.experiment import ExperimentSpec

Event = Callable[..., None]


def train_seeds(
    reg: Registry, spec: ExperimentSpec, label: str, options: Any, data: DataSplits, layout: RunLayout, on_event: Event
) -> dict[int, SeedOutcome]:
    """Every seed's outcome for one model: loaded when finished earlier, trained (or resumed) otherwise.

    Idempotent: the unit of work of every executor, safe to call again after any interruption, and safe
    to call from two processes at once (the second waits for the first's lock, then finds its seeds done).
    """
    with model_lock(layout, label, on_event):
        confirm_claim(layout, spec)
        return train_unfinished(reg, spec, label, options, data, layout, on_event)


def model_lock(layout: RunLayout, label: str, on_event: Event) -> Any:
    """One process at a time trains (and summarises) a model of a run: `ica.running.locks.training_lock`."""
    return training_lock(layout.cell(label), lambda message: on_event("notice", cell=label, message=message))


def train_unfinished(
    reg: Registry, spec: ExperimentSpec, label: str, options: Any, data: DataSplits, layout: RunLayout, on_event: Event
) -> dict[int, SeedOutcome]:
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
                outcomes[outcome.seed] = retry_diverged(reg, spec, label, options, data, layout, outcome.seed, on_event)
    return outcomes


def seed_dir(layout: RunLayout, label: str, seed: int, create: bool = True) -> None:
    """``<run>/<label>/seeds/<seed>``, made (or only checked) without following a symbolic link."""
    safe_dir(layout.root, label, "seeds", str(seed), create=create)


def retry_diverged(
    reg: Registry,
    spec: ExperimentSpec,
    label: str,
    options: Any,
    data: DataSplits,
    layout: RunLayout,
    seed: int,
    on_event: Event,
) -> SeedOutcome:
    """Train a diverged seed again, alone and from the start, at a lower learning rate, up to ``retry_nan``
    times; every attempt is recorded in its result.json (and the last one counts, finished or failed)."""
    files = layout.seed(label, seed)
    points = data.eval if spec.evaluation.split == "eval" else data.train
    attempts = [read_result(files.result).plain()]
    outcome = None
    for attempt in range(1, spec.training.retry_nan + 1):
        lr = spec.training.lr * spec.training.retry_lr_factor**attempt
        on_event("notice", cell=label, message=f"{label}: seed {seed} diverged; attempt {attempt + 1} with lr {lr:g}")
        for stale in (*files.checkpoints(spec.training.checkpoint_keep), files.metrics, files.result):
            stale.unlink(missing_ok=True)
        training = spec.training.model_copy(update={"lr": lr})
        model = build_model(reg, options, data, [seed], label).to(data.train.x.device)
        trainer = Trainer(
            model,
            data.train,
            [seed],
            training,
            [files],
            on_event=lambda name, **info: on_event(name, cell=label, **info),
        )
        (outcome,) = finish_group(model, trainer.run(), trainer, data, points, [files], layout)
        result = read_result(files.result).plain()
        write_record(files.result, ResultFile(**result, lr=lr, earlier_attempts=attempts))
        if outcome.status == "finished":
            break
        attempts.append(result)
    if outcome is None:  # callers retry only with retry_nan >= 1
        raise ValueError("retry_diverged needs spec.training.retry_nan >= 1")
    return outcome
