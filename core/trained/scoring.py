"""``ica.score``: the identifiability numbers of a run, for embeddings made by anything.

Embeddings of the same points from several seeds (of ``ica``, CEBRA, pythae or one's own code) are scored
by the very metric plugins a run uses, on an `Evaluation` built from them: pairwise CCA-MCC in and out of
sample, MCC to the true sources where they are given, and cluster agreement between seeds and with the true
labels where assignments are given. The result has the shape of a run's cell summary (``stats``, ``seeds``,
``pairs``, ``errors``), so a run's saved latents score exactly what its summary holds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from ica.components.protocols import BuildContext, DataSplits, Split
from ica.components.registry import Registry, registry
from ica.errors import DataError
from ica.evaluation.seeds import Evaluation, SeedOutcome, summarise
from ica.running.building import default_metric_options, fed
from ica.trained.inputs import as_tensor
from ica.trained.scored import check_out, write_scored


def score(embeddings: Any, sources: Any = None, labels: Any = None, assignments: Any = None, *,
          observations: Any = None, seeds: Sequence[int] | None = None, out: str | Path | None = None,
          name: str = "embeddings", inputs: dict[str, Any] | None = None,
          reg: Registry | None = None) -> dict[str, Any]:
    """Score ``embeddings`` (``[S, N, d]``, or a list of S arrays ``[N, d]``: the same N points per seed).

    Args:
        sources: the true sources ``[N, d_s]`` (MCC), if known.
        labels: the true discrete u ``[N]`` (cluster agreement with the truth), if known.
        assignments: each seed's cluster of each point ``[S, N]`` (cluster agreement), if the method has them.
        observations: the points themselves ``[N, ...]``; with sources, MCC's floors are computed too (the
            observations' own MCC and FastICA's, fitted on these points: a run fits it on its training split).
        seeds: names of the S seeds (default 0..S-1).
        out: where to write a run-like directory of the scores, which ``ica results`` and ``ica report`` read
            (new or empty; `ica.trained.scored`); ``name`` names the method there, ``inputs`` what was scored.
    """
    reg = reg or registry()
    if out is not None:
        check_out(Path(out))  # before the metrics: a directory that cannot be written is said at once
    z = _embeddings(embeddings)
    n = z[0].shape[0]
    names = list(range(len(z))) if seeds is None else [int(s) for s in seeds]
    if len(names) != len(z) or len(set(names)) != len(names):
        raise DataError(f"seeds must name each of the {len(z)} embeddings once, got {names}", where="seeds")
    s = None if sources is None else _rows(sources, n, "sources", 2, float)
    u = None if labels is None else _rows(labels, n, "labels", 1, int)
    a = None if assignments is None else _rows(assignments, len(z), "assignments", 2, int)
    if a is not None and a.shape[1] != n:
        raise DataError(f"assignments must hold one cluster per point and seed, [{len(z)}, {n}], got "
                        f"{list(a.shape)}", where="assignments")
    x = None if observations is None else _array(observations, "observations", float)
    if x is not None and (x.shape[0] != n or not np.isfinite(x).all()):
        raise DataError(f"observations must be {n} finite rows, got shape {list(x.shape)}", where="observations")
    outcomes = [SeedOutcome(seed, "finished", latents=zi, assignments=None if a is None else a[i])
                for i, (seed, zi) in enumerate(zip(names, z))]
    points = Split(torch.zeros(n, 1) if x is None else torch.from_numpy(x).float(),  # x: only MCC's floors read it
                   None if u is None else torch.from_numpy(u), None if s is None else torch.from_numpy(s))
    evaluation = Evaluation(DataSplits(points, points, None if u is None else int(u.max()) + 1), "eval", outcomes)
    metrics = applicable(reg, s is not None, a is not None, x is not None)
    records = [r for metric in metrics for r in metric(evaluation)]
    summary = summarise(records)
    if out is not None:
        write_scored(Path(out), summary, z, names, a, name, inputs or {"inputs": "arrays given to ica.score"})
    return summary


def applicable(reg: Registry, has_sources: bool, has_assignments: bool, has_observations: bool) -> list[Any]:
    """Every registered metric, with its default options, that outside embeddings can feed: not the ones
    needing an ELBO or grid latents, those needing sources or assignments only where they are given, and
    floors (an option of ``mcc``) only where the observations are given."""
    chosen = default_metric_options(reg)
    if not has_observations:
        chosen = [o.model_copy(update={"floors": False}) if "floors" in type(o).model_fields else o for o in chosen]
    present = {"requires_elbo": False, "requires_grid": False, "requires_sources": has_sources,
               "requires_assignments": has_assignments}
    return [m for m in (reg.build(o, BuildContext()) for o in chosen) if fed(m, present)]


def _embeddings(embeddings: Any) -> list[np.ndarray]:
    if isinstance(embeddings, (list, tuple)):
        arrays = [_array(e, f"embeddings[{i}]", float) for i, e in enumerate(embeddings)]
    else:
        stacked = _array(embeddings, "embeddings", float)
        if stacked.ndim != 3:
            raise DataError(f"embeddings must be [seeds, points, dims] or a list of [points, dims] arrays, got "
                            f"shape {list(stacked.shape)}", where="embeddings")
        arrays = list(stacked)
    if not arrays:
        raise DataError("no embeddings were given", where="embeddings")
    for i, e in enumerate(arrays):
        if e.ndim != 2 or e.shape[0] < 2 or e.shape[1] < 1:
            raise DataError(f"embedding {i} has shape {list(e.shape)}; each must be [points >= 2, dims >= 1]",
                            where="embeddings")
        if e.shape[0] != arrays[0].shape[0]:
            raise DataError(f"embedding {i} has {e.shape[0]} points, embedding 0 has {arrays[0].shape[0]}: every "
                            "seed must embed the same points, in the same order", where="embeddings")
        if not np.isfinite(e).all():
            raise DataError(f"embedding {i} holds non-finite values", where="embeddings")
    return arrays


def _rows(value: Any, n: int, name: str, ndim: int, kind: type) -> np.ndarray:
    array = _array(value, name, kind)
    if array.ndim != ndim or array.shape[0] != n:
        raise DataError(f"{name} must be {ndim}-dimensional with {n} rows, got shape {list(array.shape)}", where=name)
    if kind is float and not np.isfinite(array).all():
        raise DataError(f"{name} holds non-finite values", where=name)
    return array


def _array(value: Any, name: str, kind: type) -> np.ndarray:
    array = as_tensor(value, name).numpy()  # numbers only, a clear error otherwise
    if kind is float:
        return np.ascontiguousarray(array, dtype=np.float32 if array.dtype != np.float64 else np.float64)
    if array.dtype.kind not in "biu" and not (array.dtype.kind == "f" and np.array_equal(array, np.round(array))):
        raise DataError(f"{name} must hold integers, not {array.dtype}", where=name)
    return np.ascontiguousarray(array, dtype=np.int64)
