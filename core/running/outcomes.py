"""What a trained group of seeds leaves behind: weights, latents and result per seed (written atomically),
read back on a later invocation; bits per dimension; and the TensorBoard hparams view."""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch

from ica.evaluation.seeds import SeedOutcome, mean_elbo, representation
from ica.components.protocols import DataSplits, Split
from ica.components.registry import component_of
from ica.rundir.layout import RunLayout, SeedFiles
from ica.rundir.digests import run_digests, seed_record
from ica.rundir.writing import atomic_write
from ica.rundir.latents import read_latents, sha256
from ica.rundir.json_files import read_result
from ica.rundir.record import write_record
from ica.rundir.schemas import ResultFile
from ica.nn.seeding import generator, seed_slice
from ica.training.loop import Trainer
from ica.spec.experiment import ExperimentSpec


def log_hparams(
    layout: RunLayout, label: str, options: Any, spec: ExperimentSpec, outcomes: list[SeedOutcome], records: list
) -> None:
    """Each seed's settings beside its final per-seed metrics, in TensorBoard's hparams view."""
    from ica.training.tensorboard import TensorBoardLog

    seeds = [o.seed for o in outcomes]
    log = TensorBoardLog([layout.seed(label, s).root / "tensorboard" for s in seeds])
    hparams = {
        "label": label,
        "model": options.name,
        "latent_dim": getattr(options, "latent_dim", None),
        "lr": spec.training.lr,
        "batch_size": spec.training.batch_size,
        "data": component_of(spec.data)[1],
    }
    for i, outcome in enumerate(outcomes):
        finals = {r.metric: r.value for r in records if r.seed == outcome.seed and math.isfinite(r.value)}
        log.hparams(i, {**hparams, "seed": outcome.seed, "status": outcome.status}, finals)
    log.close()


def finish_group(
    model: torch.nn.Module,
    statuses: list,
    trainer: Trainer,
    data: DataSplits,
    points: Split,
    files: list[SeedFiles],
    layout: RunLayout,
) -> list[SeedOutcome]:
    """Save each seed's weights, latents and result (all seeds evaluated in one pass); return the outcomes.

    ``latents.npz`` holds ``latents``, ``assignments`` where the model gives them, and ``grid_shape``
    (``(*positions, d)``, int64) where its latents form a grid (App. B). A finished seed's result.json
    records the file's SHA-256 (``latents_sha256``), so that a later invocation reads back exactly what was
    written or says the file is damaged (`load_outcome`), and the SHA-256 of every file the model is rebuilt
    from (``rebuilt_from``: the run's spec.json and preprocessing.json, the seed's weights), which `ica.load`
    checks (`ica.rundir.digests`).
    """
    run_files = run_digests(layout)
    rep = representation(model, points)
    latents, assignments, grid = rep.latents, rep.assignments, rep.grid_shape
    generators = [generator(s.seed, "elbo", data.train.x.device) for s in statuses]
    elbos = {
        name: mean_elbo(model, split, generators).tolist()
        for name, split in (("train", data.train), ("eval", data.eval))
    }
    if getattr(getattr(model, "likelihood", None), "discrete", False):
        elbos.update({f"bpd_{name}": bits_per_dim(values, data.x_shape) for name, values in list(elbos.items())})
    state = model.state_dict()
    outcomes = []
    for i, (status, f) in enumerate(zip(statuses, files)):
        result: dict[str, Any] = {
            "seed": status.seed,
            "steps": trainer.step,
            "train_seconds": round(trainer.seconds, 3),
            "step_mode": trainer.step_mode,
        }
        if trainer.compiled is not None and trainer.compiled.compile_seconds is not None:
            result["compile_seconds"] = round(trainer.compiled.compile_seconds, 3)  # paid once, by this group
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
            weights = save_weights(f.weights, seed_slice(state, i, len(statuses)))
            digest = save_latents(f.latents, arrays)
            result.update(
                status="finished", elbo=elbo, latents_sha256=digest, rebuilt_from=seed_record(weights, run_files)
            )
        if error:
            result["error"] = error
        write_record(f.result, ResultFile(**result))
        outcomes.append(
            SeedOutcome(
                status.seed,
                result["status"],
                None if error else z,
                None if error or assignments is None else assignments[i].numpy(),
                {} if error else elbo,
                error,
                None if error else grid,
            )
        )
    return outcomes


def save_latents(path: Path, arrays: dict[str, np.ndarray]) -> str:
    """Write ``latents.npz`` atomically and return the SHA-256 of the bytes written."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # type: ignore[arg-type]  # numpy 1.26 has no allow_pickle flag to name
    data = buffer.getvalue()
    atomic_write(path, data)
    return sha256(data)


def save_weights(path: Path, tensors: dict[str, torch.Tensor]) -> bytes:
    """Write ``model.safetensors`` atomically and return the bytes written (their digest is recorded)."""
    from safetensors.torch import save

    data = save({k: v.detach().contiguous().cpu() for k, v in tensors.items()})
    atomic_write(path, data)
    return data


def bits_per_dim(elbos: list[float], x_shape: tuple[int, ...]) -> list[float]:
    """-ELBO / (D ln 2): an upper bound on the bits per observed value, for discrete likelihoods only."""
    dims = math.prod(x_shape)
    return [-v / (dims * math.log(2)) for v in elbos]


def load_outcome(files: SeedFiles, points: Split | None = None) -> SeedOutcome | None:
    """A seed finished in an earlier invocation, or None if it must (still) be trained.

    Its result.json and latents.npz are checked (`ica.rundir.json_files`, `ica.rundir.latents`): a damaged one
    is an `IcaError` naming it and saying what to do, never a seed silently trained again or evaluated on
    damaged latents. Given the evaluation ``points``, the latents must have one row per point; either way
    `Evaluation` checks the rows against the points when the outcome meets them (``source``).
    """
    if not files.result.exists():
        return None
    result = read_result(files.result)
    if result.status != "finished":
        return SeedOutcome(result.seed, "failed", error=result.error)
    z = read_latents(files.latents, result.latents_sha256, None if points is None else len(points))
    return SeedOutcome(
        result.seed,
        "finished",
        z.latents,
        z.assignments,
        cast(dict[str, float], dict(result.elbo or {})),  # finite: `finish_group` checked it before writing
        grid_shape=z.grid_shape,
        source=files.latents,
    )
