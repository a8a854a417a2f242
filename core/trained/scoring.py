"""``ica.score``: the identifiability numbers of a run, for embeddings made by anything.

Embeddings of the same points from several seeds (of ``ica``, CEBRA, pythae or one's own code) are scored
by the very metric plugins a run uses, on an `Evaluation` built from them: pairwise CCA-MCC in and out of
sample, MCC to the true sources where they are given, and cluster agreement between seeds and with the true
labels where assignments are given. The result has the shape of a run's cell summary (``stats``, ``seeds``,
``pairs``, ``errors``), so a run's saved latents score exactly what its summary holds.
"""

from __future__ import annotations

import hashlib
import operator
import warnings
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from ica.components.protocols import BuildContext, DataSplits, Split
from ica.components.registry import Registry, registry
from ica.errors import DataError
from ica.evaluation.cca_pairs import fewest_points
from ica.evaluation.seeds import Evaluation, SeedOutcome, summarise
from ica.running.building import default_metric_options, requirements_met
from ica.spec.models import MAX_SEED
from ica.trained.inputs import as_tensor
from ica.trained.score_directory import check_name, check_out, write_scored


def score(
    embeddings: Any,
    sources: Any = None,
    labels: Any = None,
    assignments: Any = None,
    *,
    observations: Any = None,
    seeds: Sequence[int] | None = None,
    out: str | Path | None = None,
    name: str = "embeddings",
    inputs: dict[str, Any] | None = None,
    reg: Registry | None = None,
) -> dict[str, Any]:
    """Score ``embeddings`` (``[S, N, d]``, or a list of S arrays ``[N, d]``: the same N points per seed, as
    many as the metrics need to fit on a part and score on the rest; the widths d may differ between seeds).
    Embeddings that are identical are warned of (`IdenticalEmbeddings`) and noted in the summary's ``notes``.

    Args:
        sources: the true sources ``[N, d_s]`` (MCC), if known.
        labels: the true discrete u ``[N]`` (cluster agreement with the truth), if known.
        assignments: each seed's cluster of each point ``[S, N]`` (cluster agreement), if the method has them.
        observations: the points themselves ``[N, ...]``; with sources, MCC's floors are computed too (the
            observations' own MCC and FastICA's, fitted on these points: a run fits it on its training split).
        seeds: names of the S seeds (default 0..S-1), whole numbers >= 0.
        out: where to write a run-like directory of the scores, which ``ica results`` and ``ica report`` read
            (new or empty; `ica.trained.score_directory`); ``name`` names the method there, ``inputs`` what was scored.
    """
    reg = reg or registry()
    if out is not None:
        check_name(name, "name")
        check_out(Path(out))  # before the metrics: a directory that cannot be written is said at once
    z = _embeddings(embeddings, minimum_points(reg))
    n = z[0].shape[0]
    names = list(range(len(z))) if seeds is None else _seed_names(seeds)
    if len(names) != len(z) or len(set(names)) != len(names):
        raise DataError(f"seeds must name each of the {len(z)} embeddings once, got {names}", where="seeds")
    s = None if sources is None else _rows(sources, n, "sources", 2, float)
    u = None if labels is None else _rows(labels, n, "labels", 1, int)
    a = None if assignments is None else _rows(assignments, len(z), "assignments", 2, int)
    if a is not None and a.shape[1] != n:
        raise DataError(
            f"assignments must hold one cluster per point and seed, [{len(z)}, {n}], got {list(a.shape)}",
            where="assignments",
        )
    x = None if observations is None else _array(observations, "observations", float)
    if x is not None and (x.ndim == 0 or x.shape[0] != n or not np.isfinite(x).all()):
        raise DataError(f"observations must be {n} finite rows, got shape {list(x.shape)}", where="observations")
    for value, what in ((s, "sources"), (x, "observations")):
        if value is not None:
            check_magnitude(value, what)
    outcomes = [
        SeedOutcome(seed, "finished", latents=zi, assignments=None if a is None else a[i])
        for i, (seed, zi) in enumerate(zip(names, z))
    ]
    points = Split(
        torch.zeros(n, 1) if x is None else torch.from_numpy(x).float(),  # x: only MCC's floors read it
        None if u is None else torch.from_numpy(u),
        None if s is None else torch.from_numpy(s),
    )
    evaluation = Evaluation(DataSplits(points, points, None if u is None else int(u.max()) + 1), "eval", outcomes)
    metrics = applicable(reg, s is not None, a is not None, x is not None)
    records = [r for metric in metrics for r in metric(evaluation)]
    summary = summarise(records)
    notes = [
        f"embeddings {', '.join(map(str, group))} are identical: their pairs score as one embedding with itself"
        for group in identical(z)
    ]
    for note in notes:
        warnings.warn(note, IdenticalEmbeddings, stacklevel=2)
    if notes:
        summary["notes"] = notes
    if out is not None:
        write_scored(Path(out), summary, z, names, a, name, inputs or {"inputs": "arrays given to ica.score"})
    return summary


class IdenticalEmbeddings(UserWarning):
    """Two embeddings given to `score` are the same numbers: their pairs measure nothing (CCA-MCC 1.0)."""


def identical(embeddings: Sequence[np.ndarray]) -> list[list[int]]:
    """Groups (two or more) of the indices of embeddings holding exactly the same numbers."""
    groups: dict[tuple[Any, ...], list[int]] = {}
    for i, e in enumerate(embeddings):
        digest = hashlib.sha256(np.ascontiguousarray(e, dtype=np.float64).tobytes()).hexdigest()
        groups.setdefault((e.shape, digest), []).append(i)
    return [group for group in groups.values() if len(group) > 1]


def minimum_points(reg: Registry) -> int:
    """The fewest points every metric can score: those fitting on a part of the points and scoring on the rest
    (``fit_fraction``) need two or more in each part (`ica.evaluation.cca_pairs.fewest_points`)."""
    fractions = [
        f for f in (getattr(o, "fit_fraction", None) for o in default_metric_options(reg)) if isinstance(f, float)
    ]
    return fewest_points(fractions) if fractions else 2


MAGNITUDE = (1e-30, 1e30)
"""The largest magnitude of an embedding, sources or observations must lie in this range (or all be 0): beyond
it, squares and sums overflow or underflow float64 (CCA's eigenvalues do not converge at 1e154, and 1e-200
scores as 0), and an embedding is stored as float32 (±3.4e38)."""


def check_magnitude(array: np.ndarray, what: str, where: str | None = None) -> None:
    """Refuse values too large or too small in magnitude to compute with (no metric depends on their scale)."""
    largest = float(np.abs(array).max()) if array.size else 0.0
    if largest != 0.0 and not MAGNITUDE[0] <= largest <= MAGNITUDE[1]:
        raise DataError(
            f"{what} holds values of magnitude up to {largest:.3g}; the metrics compute reliably for "
            f"magnitudes between {MAGNITUDE[0]:g} and {MAGNITUDE[1]:g}: multiply it by a constant (no "
            "metric depends on the scale)",
            where=where or what,
        )


def _seed_names(seeds: Any) -> list[int]:
    """``seeds`` as whole numbers a spec could name (each names a folder of the written directory)."""
    try:
        names = [operator.index(s) for s in seeds]
    except TypeError:
        names = None
    if names is None or any(not 0 <= s <= MAX_SEED for s in names):
        shown = list(seeds)[:10] if isinstance(seeds, (list, tuple, np.ndarray)) else seeds
        raise DataError(f"seeds must be whole numbers from 0 to 2**63 - 1, got {shown}", where="seeds")
    return names


def applicable(reg: Registry, has_sources: bool, has_assignments: bool, has_observations: bool) -> list[Any]:
    """Every registered metric, with its default options, that outside embeddings can feed: not the ones
    needing an ELBO or grid latents, those needing sources or assignments only where they are given, and
    floors (an option of ``mcc``) only where the observations are given."""
    chosen = default_metric_options(reg)
    if not has_observations:
        chosen = [o.model_copy(update={"floors": False}) if "floors" in type(o).model_fields else o for o in chosen]
    present = {
        "requires_elbo": False,
        "requires_grid": False,
        "requires_sources": has_sources,
        "requires_assignments": has_assignments,
    }
    return [m for m in (reg.build(o, BuildContext()) for o in chosen) if requirements_met(m, present)]


def _embeddings(embeddings: Any, points: int) -> list[np.ndarray]:
    """The embeddings as S arrays ``[N, d]`` of ``points`` or more each, the same N, finite, of usable magnitude."""
    if isinstance(embeddings, (list, tuple)):
        arrays = [_array(e, f"embeddings[{i}]", float) for i, e in enumerate(embeddings)]
    else:
        stacked = _array(embeddings, "embeddings", float)
        if stacked.ndim != 3:
            raise DataError(
                f"embeddings must be [seeds, points, dims] or a list of [points, dims] arrays, got "
                f"shape {list(stacked.shape)}",
                where="embeddings",
            )
        arrays = list(stacked)
    if not arrays:
        raise DataError("no embeddings were given", where="embeddings")
    for i, e in enumerate(arrays):
        if e.ndim != 2 or e.shape[0] < points or e.shape[1] < 1:
            raise DataError(
                f"embedding {i} has shape {list(e.shape)}; each must be [points >= {points}, dims >= 1] "
                f"(the metrics fit on a part of the points and score on the rest, each part of 2 points "
                "or more)",
                where="embeddings",
            )
        if e.shape[0] != arrays[0].shape[0]:
            raise DataError(
                f"embedding {i} has {e.shape[0]} points, embedding 0 has {arrays[0].shape[0]}: every "
                "seed must embed the same points, in the same order",
                where="embeddings",
            )
        if not np.isfinite(e).all():
            raise DataError(f"embedding {i} holds non-finite values", where="embeddings")
        check_magnitude(e, f"embedding {i}", "embeddings")
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
        return np.asarray(array, dtype=np.float32 if array.dtype != np.float64 else np.float64, order="C")
    if array.dtype.kind not in "biu" and not (array.dtype.kind == "f" and np.array_equal(array, np.round(array))):
        raise DataError(f"{name} must hold integers, not {array.dtype}", where=name)
    limit = np.iinfo(np.int64)
    if array.size and (array.min() < limit.min or array.max() > limit.max):  # whole floats that int64 would wrap
        raise DataError(f"{name} holds {array.min():g}..{array.max():g}, beyond 64-bit integers", where=name)
    return np.asarray(array, dtype=np.int64, order="C")
