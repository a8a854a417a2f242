"""``ica validate``: everything ``ica run`` would reject, found before any training.

Beyond the spec's own schema this loads the data, checks them against what each model's likelihood can
describe (its declared ``support``: `ica.components.support`), builds every model for one seed and runs one
forward pass on two training examples, so unknown names, bad files, data a likelihood cannot describe and
shapes that do not fit all surface here, as one message with exit code 2, and nothing is written.
"""

from __future__ import annotations

from typing import Any, cast

import torch

from ica.components.checking import DownloadNeeded, checking_only
from ica.errors import DataError, IcaError
from ica.components.protocols import Batch, Model, count_parameters, is_fitted_peer
from ica.components.sequences import training_split
from ica.components.registry import Registry, component_of, registry
from ica.components.support import check_likelihood_data
from ica.spec.grid import grid_cells, has_grid
from ica.running.batching import batching_decision
from ica.running.building import build_metrics, build_model, prepare_data, requirements_met, resolve_device, shared_data
from ica.spec.load import load_spec
from ica.spec.experiment import ExperimentSpec, SpecSource

SKIPPED_FOR_DOWNLOAD = (
    "the data set's own checks and the models' fit to it (shapes, one forward pass) need its files; they were skipped"
)
"""What `check` could not do for a spec whose data ``ica run`` will download first."""


def check(spec: SpecSource, reg: Registry | None = None) -> dict[str, Any]:
    """Validate ``spec`` completely, every grid cell included; return what was checked, or raise `IcaError`.

    Nothing is changed (`ica.components.checking.checking_only`): data ``ica run`` would download is not, and the
    result says what would be (``"downloads"``) and which checks that left out (``"skipped"``).
    """
    with checking_only():
        return _check(spec, reg or registry())


def _check(spec: SpecSource, reg: Registry) -> dict[str, Any]:
    validated = load_spec(spec, reg)
    if has_grid(validated):
        cells = []
        with shared_data():  # cells that differ only in their models share one data set
            for cell in grid_cells(validated, reg):
                try:
                    cells.append({"name": cell.name, "dir": cell.directory, **_check(cell.spec, reg)})
                except IcaError as exc:
                    raise type(exc)(f"in grid cell '{cell.name}': {exc.message}", where=exc.where) from None
        return {"spec": validated, "grid": cells}
    run_refusals(validated)
    try:
        data = prepare_data(validated, reg)
    except DownloadNeeded as exc:
        return to_download(validated, exc)
    metrics = build_metrics(validated, reg, data)
    cuda = resolve_device(validated.device).type == "cuda"
    models = {}
    for label, options in validated.models.items():
        check_likelihood_data(reg, options, data, component_of(validated.data)[1], f"models.{label}")
        model = build_model(reg, options, data, validated.seed_list[:1], label)
        peer = is_fitted_peer(model)  # fitted per seed, not trained: no loss to try (`ica.running.peers`)
        rep = None if peer else dry_run(model, data, label)
        batched, why = batching_decision(
            reg, options, data, validated.seed_list, validated.training.batch_seeds, label, cuda
        )
        models[label] = {
            "model": options.name,
            "parameters": None if peer else count_parameters(model),
            "batched": batched,
            "why_not_batched": why,
            "metrics": reported_metrics(validated, metrics, rep, peer),
        }
    return {
        "spec": validated,
        "data": {
            "name": validated.data.name,
            "x_shape": data.x_shape,
            "n_u": data.n_u,
            "u_dim": data.u_dim,
            "n_train": len(data.train),
            "n_eval": len(data.eval),
            "sources": data.source_dim,
        },
        "models": models,
        "metrics": list(dict.fromkeys(name for m in models.values() for name in m["metrics"])),
        "seeds": validated.seed_list,
        "steps": steps_per_seed(validated, len(data.train)),
    }


def reported_metrics(spec: ExperimentSpec, metrics: list[tuple[str, Any]], rep: Any, peer: bool) -> list[str]:
    """The metrics the run will report for one model: those named, or those of the default list this model's
    outputs feed, as ``ica run`` chooses them (`ica.running.runner.run_cell`): ``grid_mcc`` only for grid
    latents, cluster metrics only where the model assigns clusters, the ELBO only for a trained model."""
    if spec.evaluation.metrics is not None:
        return [name for name, _ in metrics]
    present = {
        "requires_grid": rep is not None and rep.grid_shape is not None,
        "requires_assignments": rep is not None and rep.assignments is not None,
        "requires_elbo": not peer,
    }
    return [name for name, metric in metrics if requirements_met(metric, present)]


def run_refusals(spec: ExperimentSpec) -> None:
    """What ``ica run`` refuses before it reads any data: a device that is not there, a logger not installed."""
    resolve_device(spec.device)
    if spec.training.logger == "tensorboard":
        from ica.training.tensorboard import require_tensorboard

        require_tensorboard()


def to_download(spec: ExperimentSpec, exc: DownloadNeeded) -> dict[str, Any]:
    """`check`'s answer for a spec that is valid as far as it can be checked before its data is downloaded."""
    return {
        "spec": spec,
        "downloads": {"root": str(exc.root), "files": [str(f) for f in exc.files]},
        "skipped": SKIPPED_FOR_DOWNLOAD,
        "data": {"name": component_of(spec.data)[1]},
        "models": {label: {"model": component_of(o)[1], "parameters": None} for label, o in spec.models.items()},
        "metrics": None if spec.evaluation.metrics is None else [component_of(m)[1] for m in spec.evaluation.metrics],
        "seeds": spec.seed_list,
        "steps": spec.training.steps if spec.training.epochs is None else None,
    }


def steps_per_seed(spec: ExperimentSpec, n_train: int) -> int:
    """Optimisation steps each seed will take: ``steps``, or ``epochs`` whole passes over the training split."""
    training = spec.training
    if training.epochs is None:
        return training.steps
    return training.epochs * max(1, n_train // min(training.batch_size, n_train))


def plan(spec: SpecSource, reg: Registry | None = None) -> list[dict[str, Any]]:
    """What ``ica run`` would train, without training or loading models: per run (grid cell), its models,
    seeds and steps. With ``epochs`` the steps need the training split's size; where the data cannot be
    loaded (files not there yet) ``steps`` is None and ``epochs`` says what was asked."""
    with checking_only():
        return _plan(spec, reg or registry())


def _plan(spec: SpecSource, reg: Registry) -> list[dict[str, Any]]:
    validated = load_spec(spec, reg)
    runs = (
        [(c.name, c.directory, c.spec) for c in grid_cells(validated, reg)]
        if has_grid(validated)
        else [(None, None, validated)]
    )
    rows: list[dict[str, Any]] = []
    with shared_data():
        rows.extend(plan_row(name, directory, run_spec, reg) for name, directory, run_spec in runs)
    return rows


def plan_packs(spec: SpecSource, reg: Registry | None = None) -> list[dict[str, Any]] | None:
    """The packs a grid would train (`ica.running.packing`): per model label, the cells whose seeds train as one
    batched model. None when some cell's data cannot be read yet (packing depends on the data's shapes)."""
    reg = reg or registry()
    with checking_only():
        validated = load_spec(spec, reg)
        return _plan_packs(validated, reg) if has_grid(validated) else []


def _plan_packs(validated: Any, reg: Registry) -> list[dict[str, Any]] | None:
    from ica.running.packing import pack_groups

    with shared_data():
        cells = grid_cells(validated, reg)
        try:
            groups = pack_groups(reg, cells)
        except DataError:  # data not there yet (to be downloaded); anything else run would refuse too
            return None
    return [
        {"model": label, "cells": [c.name for c in group], "seeds": sum(len(c.spec.seed_list) for c in group)}
        for label, group in groups
    ]


def plan_row(name: str | None, directory: str | None, run_spec: ExperimentSpec, reg: Registry) -> dict[str, Any]:
    """One run's line of the plan. The data is loaded to count the steps of an ``epochs`` spec and to tell the
    fitted peers (FastICA, CEBRA), which take no optimisation steps, from the models trained step by step."""
    from ica.running.packing import fitted_peers

    steps = run_spec.training.steps if run_spec.training.epochs is None else None
    peers: set[str] = set()
    try:
        peers = fitted_peers(run_spec, reg)
        if steps is None:
            steps = steps_per_seed(run_spec, len(prepare_data(run_spec, reg).train))
    except DataError:  # data not there yet: the plan says so; anything else run would refuse too
        pass
    models, seeds = list(run_spec.models), run_spec.seed_list
    trained = [m for m in models if m not in peers]
    return {
        "cell": name,
        "dir": directory,
        "models": models,
        "seeds": seeds,
        "steps": steps,
        "epochs": run_spec.training.epochs,
        "fitted": [m for m in models if m in peers],
        "seed_steps": None if steps is None else steps * len(seeds) * len(trained),
    }


def dry_run(model: torch.nn.Module, data: Any, label: str) -> Any:
    """One loss and one representation on two training examples (returned: what the model's outputs are);
    any failure names the model."""
    train = training_split(model, data.train, f"models.{label}")
    n = min(2, len(train))
    batch = train.batch(torch.arange(n)[None])
    trained = cast(Model, model)  # a model plugin's module: it keeps the training contract
    try:
        shape = trained.noise_shape(n)
        noise = None if shape is None else torch.zeros(1, *shape)
        out = trained.loss(batch, noise)
        if tuple(out.loss.shape) != (1, n):
            raise ValueError(f"loss has shape {tuple(out.loss.shape)}, expected (seeds, batch) = (1, {n})")
        model.eval()
        with torch.no_grad():
            rep = trained.represent(Batch(batch.x, batch.u))
        if rep.latents.dim() != 3 or rep.latents.shape[:2] != (1, n):
            raise ValueError(f"latents have shape {tuple(rep.latents.shape)}, expected (1, {n}, d_z)")
        return rep
    except IcaError:
        raise
    except Exception as exc:
        raise IcaError(
            f"the model does not fit the data: {type(exc).__name__}: {exc}", where=f"models.{label}"
        ) from None
