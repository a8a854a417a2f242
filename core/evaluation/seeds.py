"""Evaluation: representations of trained seeds on fixed data, the metrics over them, and their summary.

Representations are always taken in eval mode (no dropout, batch-norm in inference mode), without
gradients, on the same evaluation points for every seed. Failed seeds stay in the evaluation: their
metrics are NaN records, counted as failures, never silently dropped from medians.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable, Iterator, cast

import numpy as np
import torch

from ica.errors import IcaError
from ica.components.protocols import Batch, DataSplits, MetricRecord, Model, Representation, Split
from ica.components.sequences import reads_pairs, training_split
from ica.rundir.damage import LATENTS_ADVICE


@dataclass
class SeedOutcome:
    """What one trained seed leaves for evaluation."""

    seed: int
    status: str  # "finished" or "failed"
    latents: np.ndarray | None = None  # [N, d_z] posterior means on the evaluation points
    assignments: np.ndarray | None = None  # [N] discrete u per point, where the model has one
    elbo: dict[str, float] = field(default_factory=dict)  # {"train": ..., "eval": ...} mean ELBO per example
    error: str | None = None
    grid_shape: tuple[int, ...] | None = None  # (*positions, d) of grid latents (App. B), see Representation
    source: Path | None = None  # the latents.npz these latents were read back from (None: computed now)


@dataclass
class Evaluation:
    """Everything a metric may look at for one cell: the data and every seed's outcome."""

    data: DataSplits
    split: str  # which split the latents were computed on: "eval" (held out) or "train"
    seeds: list[SeedOutcome]
    control: str | None = None  # None: the trained seeds; "untrained": each seed's initialisation (a null control)
    floors: bool = True  # whether metrics add their per-cell floors (the observations, their PCA, FastICA)

    def __post_init__(self) -> None:
        check_read_back(self.seeds, len(self.points))

    @property
    def points(self) -> Split:
        return self.data.eval if self.split == "eval" else self.data.train


def fixed_order(n: int, seed: int | None) -> np.ndarray:
    """A fixed random order of ``n`` evaluation points (identity for ``seed=None``), the same for every seed
    and pair: metrics that fit on one part and score on the rest must not fit on "the first half" of data
    stored sorted by segment or class."""
    return np.arange(n) if seed is None else np.random.default_rng(seed).permutation(n)


def check_read_back(outcomes: list[SeedOutcome], points: int) -> None:
    """Latents read back from a seed's files must fit the points they are evaluated on and the other seeds
    (one row per point, the same latent size): damaged ones are an error naming the file, never a metric
    silently computed on the wrong rows. Outcomes computed in this invocation (no ``source``) are not checked.
    """
    advice = LATENTS_ADVICE
    finished = [(o, o.latents) for o in outcomes if o.status == "finished" and o.latents is not None]
    for o, z in finished:
        if o.source is not None and z.shape[0] != points:
            raise IcaError(
                f"latents.npz is damaged: {z.shape[0]} rows of latents, but the evaluation split "
                f"has {points} points; {advice}",
                where=str(o.source),
            )
    sizes = [z.shape[1:] for _, z in finished]
    if len(set(sizes)) <= 1 or all(o.source is None for o, _ in finished):  # embeddings given whole may differ in width
        return
    fresh = [z.shape[1:] for o, z in finished if o.source is None]
    counts = sorted(((sizes.count(s), s) for s in set(sizes)), reverse=True)
    expected = fresh[0] if fresh else counts[0][1] if counts[0][0] > counts[1][0] else None
    culprit = next(((o, z) for o, z in finished if o.source is not None and z.shape[1:] != expected), None)
    if expected is not None and culprit is not None:
        raise IcaError(
            f"latents.npz is damaged: latents of size {culprit[1].shape[1:]} per point, the other "
            f"seeds' are {expected}; {advice}",
            where=str(culprit[0].source),
        )
    shown = ", ".join(f"{o.source or f'seed {o.seed}'}: {z.shape[1:]}" for o, z in finished)
    raise IcaError(
        f"the seeds' latents.npz files have different latent sizes ({shown}), so one of them is damaged; {advice}"
    )


@torch.no_grad()
def represent(model: torch.nn.Module, split: Split, chunk: int = 4096) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Latents ``[S, N, d_z]`` and assignments ``[S, N]`` (or None) of ``split`` for every seed of ``model``."""
    rep = representation(model, split, chunk)
    return rep.latents, rep.assignments


@torch.no_grad()
def representation(model: torch.nn.Module, split: Split, chunk: int = 4096) -> Representation:
    """`represent` with everything the model says about its latents: ``grid_shape`` too (App. B's grids).

    Latents are float32 on the CPU, ``[S, N, d_z]``; every chunk must report the same grid shape.
    """
    was_training = model.training
    model.eval()
    seeds = _seed_count(model)
    latents, assignments, grids = [], [], set()
    try:
        for start in range(0, len(split), chunk):
            batch = broadcast_batch(split, slice(start, start + chunk), seeds)
            rep = cast(Model, model).represent(batch)
            latents.append(rep.latents.float().cpu())
            if rep.assignments is not None:
                assignments.append(rep.assignments.cpu())
            grids.add(None if rep.grid_shape is None else tuple(int(n) for n in rep.grid_shape))
    finally:
        model.train(was_training)
    if len(grids) > 1:
        shapes = sorted(grids, key=str)
        raise ValueError(f"the model reported different latent grid shapes for different chunks: {shapes}")
    grid = grids.pop() if grids else None
    z = torch.cat(latents, 1)
    if grid is not None and math.prod(grid) != z.shape[-1]:
        raise ValueError(f"latent grid shape {grid} does not hold the {z.shape[-1]} latents per example")
    return Representation(z, torch.cat(assignments, 1) if assignments else None, grid)


@torch.no_grad()
def mean_elbo(
    model: torch.nn.Module, split: Split, generators: list[torch.Generator], chunk: int = 4096
) -> torch.Tensor:
    """Mean ELBO per example over all of ``split``, per seed ``[S]``, in eval mode with seeded noise."""
    total = torch.zeros(_seed_count(model), dtype=torch.float64)
    for elbo in _elbo_chunks(model, split, generators, chunk):
        total += elbo.double().sum(1).cpu()
    return total / len(split)


@torch.no_grad()
def elbo_per_example(
    model: torch.nn.Module, split: Split, generators: list[torch.Generator], chunk: int = 4096
) -> torch.Tensor:
    """The ELBO of every example of ``split``, per seed ``[S, N]`` (float32, CPU), in eval mode with the
    noise `mean_elbo` draws: from fresh ``generators`` the mean over N is `mean_elbo`'s, up to summation order."""
    return torch.cat([elbo.float().cpu() for elbo in _elbo_chunks(model, split, generators, chunk)], 1)


def _elbo_chunks(
    model: torch.nn.Module, split: Split, generators: list[torch.Generator], chunk: int
) -> Iterator[torch.Tensor]:
    """The ELBO ``[S, B]`` of each chunk of ``split``, in eval mode, each seed's noise from its generator: for a
    model without a likelihood (TCL, PCL), minus its loss, the objective it was trained on; for one that reads
    pairs in time, over the split's pairs (`ica.components.sequences.paired`); new data without a time order are
    read as one recording, rows in time order (as PCL's estimator reads X)."""
    if reads_pairs(model) and split.sequence is None:
        split = replace(split, sequence=torch.zeros(len(split), dtype=torch.long, device=split.x.device))
    split = training_split(model, split, "models")
    was_training = model.training
    model.eval()
    seeds = _seed_count(model)
    try:
        for start in range(0, len(split), chunk):
            batch = broadcast_batch(split, slice(start, start + chunk), seeds)
            shape = cast(Model, model).noise_shape(batch.x.shape[1])
            noise = (
                None
                if shape is None
                else torch.stack([torch.randn(shape, generator=g, device=g.device) for g in generators]).to(
                    batch.x.device
                )
            )
            yield -cast(Model, model).loss(batch, noise).loss
    finally:
        model.train(was_training)


def broadcast_batch(split: Split, rows: slice, seeds: int) -> Batch:
    """Rows ``rows`` of ``split`` given to each of ``seeds`` seeds (``[S, B, ...]``, views, no copies)."""

    part = split.rows(rows)

    def spread(t: torch.Tensor | None) -> torch.Tensor | None:
        return None if t is None else t.unsqueeze(0).expand(seeds, *t.shape)

    return Batch(cast(torch.Tensor, spread(part.x)), spread(part.u), spread(part.previous))


def _seed_count(model: torch.nn.Module) -> int:
    return next(iter(model.parameters())).shape[0]


# ------------------------------------------------------------------------------------- summary
def quartiles(values: Iterable[float]) -> dict[str, Any]:
    """Median and quartiles of the finite values, with how many there were and how many failed."""
    vals = [float(v) for v in values]
    finite = np.array([v for v in vals if math.isfinite(v)], dtype=float)
    stats: dict[str, Any] = {"n": len(vals), "n_failed": len(vals) - int(finite.size)}
    if finite.size:
        q25, med, q75 = np.percentile(finite, [25, 50, 75])
        stats.update(median=float(med), q25=float(q25), q75=float(q75), mean=float(finite.mean()))
    else:
        stats.update(median=None, q25=None, q75=None, mean=None)
    return stats


def summarise(records: list[MetricRecord]) -> dict[str, Any]:
    """Group records into per-seed, per-pair and per-cell values and the statistics of each metric."""
    per_seed: dict[str, dict[str, Any]] = {}
    per_pair: dict[str, dict[str, Any]] = {}
    cell: dict[str, Any] = {}
    errors: list[dict[str, Any]] = []
    by_metric: dict[str, list[float]] = {}
    for r in records:
        value = _json_float(r.value)
        if r.seed is not None:
            per_seed.setdefault(str(r.seed), {})[r.metric] = value
        elif r.pair is not None:
            per_pair.setdefault(f"{r.pair[0]}-{r.pair[1]}", {"seeds": list(r.pair)})[r.metric] = value
        else:
            cell[r.metric] = value
        if r.error:
            where = {"seed": r.seed} if r.seed is not None else {"pair": list(r.pair)} if r.pair else {}
            errors.append({"metric": r.metric, **where, "error": r.error})
        if r.seed is not None or r.pair is not None:
            by_metric.setdefault(r.metric, []).append(r.value)
    stats = {name: quartiles(vals) for name, vals in by_metric.items()}
    return {"stats": stats, "seeds": per_seed, "pairs": list(per_pair.values()), "cell": cell, "errors": errors}


def _json_float(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None
