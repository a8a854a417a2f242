"""``ica.run``: from a validated spec to a finished run directory.

For each model of the spec (a *cell*) every seed is trained, its representation of the evaluation
points saved, and the cell's metrics computed over all seeds. Finished seeds are never trained again:
running the same spec into the same directory resumes where it stopped.
"""

from __future__ import annotations

import math
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from ica.errors import IcaError, SpecError
from ica.evaluate import Evaluation, SeedOutcome, mean_elbo, representation, summarise
from ica.grid import grid_cells, grid_json, has_grid
from ica.tblog import require_tensorboard
from ica.protocols import BuildContext, DataSplits, Split, count_parameters
from ica.plugin_registry import Registry, component_of, registry
from ica.results import RunLayout, SeedFiles, read_json, save_npz, save_safetensors, write_json
from ica.seeding import NotBatchable, build_seeded, check_seed_axis, generator, seed_slice
from ica.spec import load_spec, spec_hash, spec_json
from ica.train import Trainer

Event = Callable[..., None]


def resolve_device(name: str) -> torch.device:
    """'auto' is CUDA when available, else the CPU; asking for CUDA without it is a clear error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise SpecError("CUDA was asked for, but no CUDA device is available", where="device")
    return torch.device(name)


# ------------------------------------------------------------------------------------------ data
def prepare_data(spec: Any, reg: Registry) -> DataSplits:
    """Build the spec's data set and standardise it with training statistics when asked."""
    data = reg.build(spec.data, BuildContext())
    if not isinstance(data, DataSplits):
        raise TypeError(f"dataset {spec.data.name!r} returned {type(data).__name__}, not DataSplits")
    if getattr(spec.data, "standardize", False):
        data = standardized(data)
    return data


def standardized(data: DataSplits) -> DataSplits:
    """z-scores of every observed dimension, with means and deviations of the training split only."""
    mean = data.train.x.mean(0, keepdim=True)
    std = data.train.x.std(0, keepdim=True)
    std = torch.where(std > 0, std, torch.ones_like(std))
    scale = lambda split: Split((split.x - mean) / std, split.u, split.s)  # noqa: E731
    return DataSplits(scale(data.train), scale(data.eval), data.n_u, {**data.info, "standardized": True})


# ---------------------------------------------------------------------------------------- models
def model_context(data: DataSplits) -> BuildContext:
    return BuildContext(seeds=1, x_shape=data.x_shape, latent_dim=data.source_dim or 0, n_u=data.n_u)


def build_model(reg: Registry, options: Any, data: DataSplits, seeds: list[int], label: str) -> torch.nn.Module:
    """The model for ``seeds`` (one seed axis entry each), initialised per seed; errors name the model."""
    ctx = model_context(data)

    def build(n: int) -> torch.nn.Module:
        model = reg.build(options, ctx.with_(seeds=n))
        if n > 1:
            check_seed_axis(model, n)
        return model

    try:
        model = build_seeded(build, seeds)
    except IcaError as exc:
        raise type(exc)(exc.message, where=f"models.{label}") from None
    likelihood = getattr(model, "likelihood", None)
    if getattr(likelihood, "discrete", False) and data.info.get("standardized"):
        raise SpecError("a discrete likelihood scores pixel levels in [0, 1]; it cannot be used with "
                        "'standardize': true, which moves the data off those levels",
                        where=f"models.{label}.likelihood")
    return model


def build_metrics(spec: Any, reg: Registry, data: DataSplits) -> list[tuple[str, Any]]:
    """The metrics to compute: those named, or every registered one that applies to this data."""
    ctx = BuildContext()
    has_sources = data.eval.s is not None
    if spec.evaluation.metrics is None:
        chosen = [reg.specs.default("metric", c.name) for c in reg.of_kind("metric")]
        metrics = [(component_of(o)[1], reg.build(o, ctx)) for o in chosen]
        return [(n, m) for n, m in metrics if has_sources or not getattr(m, "requires_sources", False)]
    metrics = []
    for i, options in enumerate(spec.evaluation.metrics):
        metric = reg.build(options, ctx)
        name = component_of(options)[1]
        if getattr(metric, "requires_sources", False) and not has_sources:
            raise SpecError(f"{name} needs ground-truth sources and the data set has none",
                            where=f"evaluation.metrics[{i}]")
        metrics.append((name, metric))
    return metrics


# ------------------------------------------------------------------------------------------- run
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
    root = Path(out) if out is not None else default_out(spec)
    if has_grid(validated):
        return run_grid(validated, root, device=device, on_event=on_event, reg=reg, only=only)
    if only is not None and only not in validated.models:
        raise SpecError(f"no model labelled {only!r}; the spec has {', '.join(validated.models)}", where="only")
    torch_device = resolve_device(device or validated.device)
    if validated.training.logger == "tensorboard":
        require_tensorboard()
    layout = RunLayout(root)
    claim_directory(layout, validated)
    data = prepare_data(validated, reg)
    metrics = build_metrics(validated, reg, data)
    for label, options in validated.models.items():  # fail before training anything if a model cannot be built
        build_model(reg, options, data, validated.seed_list[:1], label)
    write_json(layout.env, environment(torch_device, reg))
    on_event("run_start", out=str(layout.root), cells=list(validated.models), seeds=validated.seed_list)
    cells = {}
    device_data = DataSplits(data.train.to(torch_device), data.eval.to(torch_device), data.n_u, data.info)
    if only is not None:
        train_seeds(reg, validated, only, validated.models[only], device_data, layout, on_event)
        return {}
    for label, options in validated.models.items():
        cells[label] = run_cell(reg, validated, label, options, device_data, metrics, layout, on_event)
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
    cells = claim_grid(spec, root, reg)
    summaries = {}
    for i, cell in enumerate(cells):
        on_event("grid_cell", cell_name=cell.name, index=i, total=len(cells), out=str(root / cell.directory))
        summaries[cell.name] = run(cell.spec, root / cell.directory, device=device, on_event=on_event, reg=reg,
                                   only=only)
    digest = spec_hash(spec)
    return {"name": spec.name, "spec_hash": digest, "grid": dict(spec.grid),
            "runs": {c.name: {"dir": c.directory, "settings": c.settings, "summary": summaries[c.name]}
                     for c in cells}}


def claim_grid(spec: Any, root: Path, reg: Registry) -> list:
    """Validate and check every cell (data, models, metrics), then claim ``root`` for this grid (grid.json).

    A root made from a different grid spec is refused; nothing is trained or written before all checks pass.
    """
    cells = grid_cells(spec, reg)
    digest = spec_hash(spec)
    grid_file = root / "grid.json"
    if grid_file.exists():
        previous = read_json(grid_file)
        if not isinstance(previous, dict) or previous.get("spec_hash") != digest:
            raise SpecError("this directory holds a grid made from a different spec; choose another --out "
                            "or remove it", where=str(root))
    for cell in cells:
        data = prepare_data(cell.spec, reg)
        build_metrics(cell.spec, reg, data)
        for label, options in cell.spec.models.items():
            build_model(reg, options, data, cell.spec.seed_list[:1], f"{label} (grid cell '{cell.name}')")
    root.mkdir(parents=True, exist_ok=True)
    write_json(grid_file, {**grid_json(spec, cells, digest), "spec": spec_json(spec)})
    return cells


def default_out(spec: Any) -> Path:
    stem = Path(spec).stem if isinstance(spec, (str, Path)) else "run"
    return Path("runs") / stem


def claim_directory(layout: RunLayout, spec: Any) -> None:
    """Write spec.json, or check that the directory was made from this very spec (to resume it)."""
    if layout.spec.exists():
        existing = read_json(layout.spec)
        if existing.get("spec_hash") != spec_hash(spec):
            raise IcaError(
                "this run directory was made from a different spec; choose another --out, or delete it",
                where=str(layout.root),
            )
        return
    layout.root.mkdir(parents=True, exist_ok=True)
    write_json(layout.spec, {**spec_json(spec), "spec_hash": spec_hash(spec)})


def run_cell(reg: Registry, spec: Any, label: str, options: Any, data: DataSplits,
             metrics: list[tuple[str, Any]], layout: RunLayout, on_event: Event) -> dict[str, Any]:
    """Train the seeds of one model that are not finished yet, then evaluate all of them."""
    seeds = spec.seed_list
    outcomes = train_seeds(reg, spec, label, options, data, layout, on_event)
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
    write_json(layout.cell_summary(label), cell)
    on_event("cell_end", cell=label, summary=cell)
    return cell


CPU_BATCHING_LIMIT = 250_000
"""Parameters per seed up to which batched seeds train faster on the CPU (benchmarks/README.md: a 106k-parameter
MLP trains 1.7x faster batched, a 342k one 0.95x, the App. A image networks 0.6-1.1x)."""


def log_hparams(layout: RunLayout, label: str, options: Any, spec: Any, outcomes: list[SeedOutcome],
                records: list) -> None:
    """Each seed's settings beside its final per-seed metrics, in TensorBoard's hparams view."""
    from ica.tblog import TensorBoardLog

    seeds = [o.seed for o in outcomes]
    log = TensorBoardLog([layout.seed(label, s).root / "tensorboard" for s in seeds])
    hparams = {"label": label, "model": options.name, "latent_dim": getattr(options, "latent_dim", None),
               "lr": spec.training.lr, "batch_size": spec.training.batch_size, "data": spec.data.name}
    for i, outcome in enumerate(outcomes):
        finals = {r.metric: r.value for r in records if r.seed == outcome.seed and math.isfinite(r.value)}
        log.hparams(i, {**hparams, "seed": outcome.seed, "status": outcome.status}, finals)
    log.close()


def train_seeds(reg: Registry, spec: Any, label: str, options: Any, data: DataSplits, layout: RunLayout,
                on_event: Event) -> dict[int, SeedOutcome]:
    """Every seed's outcome for one model: loaded when finished earlier, trained (or resumed) otherwise.

    Idempotent: the unit of work of every executor, safe to call again after any interruption.
    """
    outcomes: dict[int, SeedOutcome] = {}
    todo = []
    for seed in spec.seed_list:
        done = load_outcome(layout.seed(label, seed))
        if done is not None:
            outcomes[seed] = done
        else:
            todo.append(seed)
    on_event("cell_start", cell=label, seeds=spec.seed_list, todo=todo)
    points = data.eval if spec.evaluation.split == "eval" else data.train
    for group, model in seed_groups(reg, options, data, todo, spec.training.batch_seeds, label, on_event):
        files = [layout.seed(label, s) for s in group]
        for f in files:
            f.root.mkdir(parents=True, exist_ok=True)
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


def seed_groups(reg: Registry, options: Any, data: DataSplits, seeds: list[int], batched: bool | str, label: str,
                on_event: Event):
    """Yield (seeds, model) to train: all seeds in one batched model, or one at a time when asked to, when
    batching would not help ('auto' on the CPU for large models), or when a component lacks the seed axis
    (each of the last two with a one-line notice)."""
    if batched == "auto" and len(seeds) > 1:
        batched = data.train.x.device.type == "cuda" or _small_enough(reg, options, data, label, on_event)
    if batched and len(seeds) > 1:
        try:
            yield seeds, build_model(reg, options, data, seeds, label)
            return
        except NotBatchable as exc:
            on_event("notice", cell=label, message=f"{label}: {exc}; training its seeds one at a time")
    for seed in seeds:
        yield [seed], build_model(reg, options, data, [seed], label)


def _small_enough(reg: Registry, options: Any, data: DataSplits, label: str, on_event: Event) -> bool:
    size = count_parameters(build_model(reg, options, data, [0], label))
    if size <= CPU_BATCHING_LIMIT:
        return True
    on_event("notice", cell=label, message=f"{label}: {size:,} parameters per seed; on the CPU seeds this large "
             "train no faster batched, so one at a time (training.batch_seeds: true forces batching)")
    return False


def finish_group(model: torch.nn.Module, statuses: list, trainer: Trainer, data: DataSplits, points: Split,
                 files: list[SeedFiles]) -> list[SeedOutcome]:
    """Save each seed's weights, latents and result (all seeds evaluated in one pass); return the outcomes.

    ``latents.npz`` holds ``latents``, ``assignments`` where the model gives them, and ``grid_shape``
    (``(*positions, d)``, int64) where its latents form a grid (App. B).
    """
    rep = representation(model, points)
    latents, assignments, grid = rep.latents, rep.assignments, rep.grid_shape
    generators = [generator(s.seed, "elbo", data.train.x.device) for s in statuses]
    elbos = {name: mean_elbo(model, split, generators).tolist()
             for name, split in (("train", data.train), ("eval", data.eval))}
    if getattr(getattr(model, "likelihood", None), "discrete", False):
        elbos.update({f"bpd_{name}": bits_per_dim(values, data.x_shape) for name, values in list(elbos.items())})
    state = model.state_dict()
    outcomes = []
    for i, (status, f) in enumerate(zip(statuses, files)):
        result: dict[str, Any] = {"seed": status.seed, "steps": trainer.step,
                                  "train_seconds": round(trainer.seconds, 3)}
        z = latents[i].numpy()
        elbo = {name: values[i] for name, values in elbos.items()}
        if status.failed:
            error = f"loss became non-finite by step {status.failed_at} (last finite loss {status.last_finite_loss})"
            result.update(status="failed", failed_at=status.failed_at, last_finite_loss=status.last_finite_loss)
        elif not (np.isfinite(z).all() and all(math.isfinite(v) for v in elbo.values())):
            error = "non-finite latents or ELBO after training"
            result.update(status="failed")
        else:
            error = None
            arrays = {"latents": z}
            if assignments is not None:
                arrays["assignments"] = assignments[i].numpy()
            if grid is not None:
                arrays["grid_shape"] = np.asarray(grid, dtype=np.int64)
            save_safetensors(f.weights, seed_slice(state, i, len(statuses)))
            save_npz(f.latents, **arrays)
            result.update(status="finished", elbo=elbo)
        if error:
            result["error"] = error
        write_json(f.result, result)
        outcomes.append(SeedOutcome(status.seed, result["status"], None if error else z,
                                    None if error or assignments is None else assignments[i].numpy(),
                                    {} if error else elbo, error, None if error else grid))
    return outcomes


def bits_per_dim(elbos: list[float], x_shape: tuple[int, ...]) -> list[float]:
    """-ELBO / (D ln 2): an upper bound on the bits per observed value, for discrete likelihoods only."""
    dims = math.prod(x_shape)
    return [-v / (dims * math.log(2)) for v in elbos]


def load_outcome(files: SeedFiles) -> SeedOutcome | None:
    """A seed finished in an earlier invocation, or None if it must (still) be trained."""
    if not files.result.exists():
        return None
    result = read_json(files.result)
    if result.get("status") != "finished":
        return SeedOutcome(result["seed"], "failed", error=result.get("error"))
    with np.load(files.latents) as z:
        latents = z["latents"]
        assignments = z["assignments"] if "assignments" in z.files else None
        grid = tuple(int(n) for n in z["grid_shape"]) if "grid_shape" in z.files else None
    return SeedOutcome(result["seed"], "finished", latents, assignments, result["elbo"], grid_shape=grid)


def _cpu(data: DataSplits) -> DataSplits:
    return DataSplits(data.train.to("cpu"), data.eval.to("cpu"), data.n_u, data.info)


def environment(device: torch.device, reg: Registry) -> dict[str, Any]:
    """Versions, device and code revision: what is needed to tell two runs' conditions apart."""
    import ica

    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "ica": ica.__version__,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor(),
        "threads": torch.get_num_threads(),
        "git_commit": _git_commit(),
        "plugins": [{"name": p.name, "version": p.version, "module": p.module} for p in reg.plugins],
    }


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=os.getcwd())
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None
