"""The observations' side of every floor and observation control, fitted once per data set in a process.

A metric that compares latents with the raw observations (MCC's floors, the agreement metrics' observation
controls) needs the observations as a matrix of the latents' width: x itself where the widths agree, otherwise
x's PCA fitted on the training split. Every model label of a grid point (and their untrained controls) shares
the same data, so the fits are cached by the data's contents (`data_digest`), at most `CACHE_SIZE` of them.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from typing import Any, Callable, Sequence

import numpy as np

from ica.components.protocols import MetricRecord
from ica.evaluation.seeds import Evaluation

CACHE_SIZE = 16
"""Fits kept per process: every model label of a grid point shares its data."""
_CACHE: OrderedDict[tuple, Any] = OrderedDict()


def cached(key: tuple, fit: Callable[[], Any]) -> Any:
    """The fit stored under ``key``, made by ``fit()`` the first time; the oldest go beyond `CACHE_SIZE`."""
    if key not in _CACHE:
        _CACHE[key] = fit()
        while len(_CACHE) > CACHE_SIZE:
            _CACHE.popitem(last=False)
    return _CACHE[key]


def data_digest(*arrays: np.ndarray) -> str:
    """A key from the arrays' contents (not their identity: each cell reads its own copy of the data)."""
    h = hashlib.sha1()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str((a.shape, a.dtype.str)).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def reduced(x: np.ndarray, train: np.ndarray, width: int) -> np.ndarray:
    """The observations ``x`` ``[N, d_x]`` as they are when d_x = ``width``, otherwise their PCA to
    ``min(width, d_x)`` components fitted on ``train`` (the training split): the observations' side of every
    floor and observation control, the same reduction for MCC's floors and the agreement metrics' controls."""
    if x.shape[1] == width:
        return x
    from sklearn.decomposition import PCA  # imported on use: loading the plugins stays quick

    components = min(width, x.shape[1], train.shape[0])
    return PCA(n_components=components, random_state=0).fit(train).transform(x)


def observations_vary(evaluation: Evaluation) -> bool:
    """Whether the evaluation points' observations vary at all: ``ica score`` given no observations holds a
    constant column in their place, and a control measured on it says nothing."""
    x = evaluation.points.x.flatten(1)
    return bool(x.numel()) and bool((x != x[:1]).any())


def observation_views(evaluation: Evaluation) -> Callable[[int], np.ndarray]:
    """``view(width)``: the evaluation points' observations as a matrix to compare latents of ``width``
    dimensions with (`reduced`), fitted once per data set and width in a process; the data are digested once
    per call of this function, not per seed."""
    x = evaluation.points.x.flatten(1).numpy()
    train = evaluation.data.train.x.flatten(1).numpy()
    key = data_digest(x, train)
    return lambda width: x if x.shape[1] == width else cached(("view", key, width), lambda: reduced(x, train, width))


def observation_records(
    evaluation: Evaluation,
    order: np.ndarray,
    names: Sequence[str],
    measure: Callable[[np.ndarray, np.ndarray], Sequence[float]],
) -> list[MetricRecord]:
    """An agreement metric's observation control: per seed, ``measure(z, x)`` between its latents and the
    observations (`observation_views`), both in ``order``, one record per entry of ``names``.

    Only in the trained evaluation with floors (the untrained control and ``ica score`` without observations
    have none). A seed without finite latents, or a measure that raises ValueError, gets NaN and the reason.
    """
    if not evaluation.floors or evaluation.control is not None or not observations_vary(evaluation):
        return []
    view = observation_views(evaluation)
    records = []
    for outcome in evaluation.seeds:
        z = outcome.latents
        values: Sequence[float]
        if z is None or not np.isfinite(z).all():
            values, why = (
                [float("nan")] * len(names),
                outcome.error or ("no latents" if z is None else "non-finite latents"),
            )
        else:
            try:
                x = view(z.shape[1])
                values, why = measure(z[order], x[order]), None
            except ValueError as exc:
                values, why = [float("nan")] * len(names), str(exc)
        records += [MetricRecord(name, value, seed=outcome.seed, error=why) for name, value in zip(names, values)]
    return records
