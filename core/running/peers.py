"""Fitting a peer seed by seed: a model that is a fitted estimator (`ica.components.peers.FittedPeer`:
FastICA, CEBRA), compared with the trained models on the same data, seeds and metrics.

A peer has no seed axis and no loss, so the training loop has nothing to do with it: each seed is fitted
alone (`ica.running.batching.seed_groups` builds them one at a time, with a one-line notice where the
seeds would otherwise have been batched) on the training split -- x flattened, u where the data has it,
never the sources -- and represents the evaluation points. It leaves what a trained seed leaves for
evaluation, written atomically like `ica.running.outcomes.finish_group`: ``latents.npz``, then
``result.json`` last, so a seed is finished exactly when its result says so and `load_outcome` reads it back
on a later invocation instead of fitting it again.

There are no weights: nothing could load them (`ica.load` rebuilds torch modules), and the latents are what
every metric reads. There is no ELBO either, so a finished peer's result is marked ``scored`` (finished
without an ELBO, as ``ica score`` marks outside embeddings) and records ``fit_seconds`` instead of steps.
"""

from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np

from ica.components.protocols import DataSplits, Split
from ica.errors import IcaError
from ica.evaluation.seeds import SeedOutcome
from ica.rundir.layout import SeedFiles
from ica.rundir.record import write_record
from ica.rundir.schemas import ResultFile
from ica.running.outcomes import save_latents

Event = Callable[..., None]


def fit_seed(
    peer: Any, seed: int, data: DataSplits, points: Split, files: SeedFiles, label: str, on_event: Event
) -> SeedOutcome:
    """Fit ``peer`` for ``seed`` on the training split, represent ``points``, and save what it leaves.

    A fit that raises (other than an `IcaError`, which is the user's to see) or latents that are not one
    finite row per point make a failed seed, on record like a diverged one: never refitted silently.
    """
    x, u = peer_input(data.train.x), None if data.train.u is None else data.train.u.cpu().numpy()
    on_event("train_start", seeds=[seed], step=0, steps=1, step_mode="fit")
    started = time.perf_counter()
    z, error = None, None
    try:
        peer.fit(x, u, seed=seed, device=str(data.train.x.device))  # "cuda:1" stays GPU 1
        z = np.asarray(peer.transform(peer_input(points.x)), dtype=np.float32)
        error = latents_problem(z, len(points))
    except IcaError:
        raise
    except Exception as exc:  # one seed's failure is recorded, the others go on
        error = f"fitting failed: {type(exc).__name__}: {exc}"
    seconds = time.perf_counter() - started
    on_event("train_end", seeds=[seed], step=1, seconds=seconds, step_mode="fit", compile_seconds=None)
    result: dict[str, Any] = {"seed": seed, "steps": 0, "fit_seconds": round(seconds, 3), "peer": type(peer).__name__}
    info = getattr(peer, "fit_info", None)
    if info:
        result["fit"] = info
    if error is not None or z is None:  # z is None only where fitting failed
        result.update(status="failed", error=error)
        write_record(files.result, ResultFile(**result))
        on_event("notice", message=f"{label}: seed {seed} failed: {error}")
        return SeedOutcome(seed, "failed", error=error)
    digest = save_latents(files.latents, {"latents": z})
    result.update(status="finished", scored=True, latents_sha256=digest)
    write_record(files.result, ResultFile(**result))
    return SeedOutcome(seed, "finished", z)


def peer_input(x: Any) -> np.ndarray:
    """Observations as a peer takes them: ``[N, D]`` float32 numpy on the CPU (images flattened)."""
    return x.detach().flatten(1).cpu().numpy().astype(np.float32, copy=False)


def latents_problem(z: np.ndarray, points: int) -> str | None:
    """What is wrong with a peer's latents of ``points`` points, or None: one finite row per point."""
    if z.ndim != 2 or z.shape[0] != points:
        return f"transform gave latents of shape {z.shape}, expected ({points}, d_z)"
    if not np.isfinite(z).all():
        return "non-finite latents"
    return None
