"""`mcc`: mean correlation coefficient between each seed's latents and the true sources (§4.1, Fig. 2).

Computed on the evaluation points only. Beside the models it reports floors measured on the same
points, so a number can be judged: the MCC of the observations themselves (``mcc_observations``, when
d_x = d_s; on the paper's TCL data this alone is about 0.5), of their PCA to d_s fitted on the training split
(``mcc_pca``, when d_x ≠ d_s) and of FastICA fitted on the training split (``mcc_fastica``). The untrained
networks' MCC (``mcc_untrained``) is the run's null control (`controlled`).
"""

from __future__ import annotations

import hashlib
import warnings
from collections import OrderedDict
from typing import Literal

import numpy as np

from ica.plugin import BuildContext, Evaluation, Field, hookimpl, mcc, MetricRecord, Options


FLOOR_CACHE_SIZE = 16  # floors kept per process: every model label of a grid point shares its data


class MCCOptions(Options):
    """How correlations are measured, and whether to report the floors."""

    method: Literal["pearson", "spearman"] = Field("pearson", description="Correlation coefficient.")
    floors: bool = Field(True, description="Also report the MCC of the raw observations (or their PCA) and of FastICA.")


class MCCToSources:
    """Per-seed MCC to ground truth, plus the floors as per-cell values."""

    requires_sources = True
    controlled = True

    def __init__(self, options: MCCOptions):
        self.options = options

    def __call__(self, evaluation: Evaluation) -> list[MetricRecord]:
        sources = evaluation.points.s
        if sources is None:
            raise ValueError("mcc needs ground-truth sources and the data set has none")
        s = sources.numpy()
        records = [self._seed(outcome, s) for outcome in evaluation.seeds]
        if self.options.floors and evaluation.floors:
            records += self._floors(evaluation, s)
        return records

    def _seed(self, outcome, s: np.ndarray) -> MetricRecord:
        if outcome.latents is None:
            return MetricRecord("mcc", float("nan"), seed=outcome.seed, error=outcome.error or "no latents")
        try:
            return MetricRecord("mcc", mcc(outcome.latents, s, self.options.method), seed=outcome.seed)
        except ValueError as exc:
            return MetricRecord("mcc", float("nan"), seed=outcome.seed, error=str(exc))

    def _floors(self, evaluation: Evaluation, s: np.ndarray) -> list[MetricRecord]:
        """The floors depend on the data alone, so they are fitted once per data set and method in a process:
        the model labels of a grid point (and their untrained controls) share them."""
        x = evaluation.points.x.flatten(1).numpy()
        train = evaluation.data.train.x.flatten(1).numpy()
        key = (_digest(x, train, s), self.options.method)
        if key not in _FLOORS:
            _FLOORS[key] = self._fit_floors(x, train, s)
            while len(_FLOORS) > FLOOR_CACHE_SIZE:
                _FLOORS.popitem(last=False)
        return [MetricRecord(r.metric, r.value, error=r.error) for r in _FLOORS[key]]

    def _fit_floors(self, x: np.ndarray, train: np.ndarray, s: np.ndarray) -> list[MetricRecord]:
        from sklearn.decomposition import FastICA  # imported on use: loading the plugins stays quick
        from sklearn.exceptions import ConvergenceWarning

        records = []
        if x.shape[1] == s.shape[1]:
            records.append(MetricRecord("mcc_observations", mcc(x, s, self.options.method)))
        else:
            from sklearn.decomposition import PCA

            pca = PCA(n_components=min(s.shape[1], x.shape[1]), random_state=0).fit(train)
            records.append(MetricRecord("mcc_pca", mcc(pca.transform(x), s, self.options.method)))
        ica = FastICA(n_components=s.shape[1], whiten="unit-variance", max_iter=1000, random_state=0)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            ica.fit(train)
        note = "FastICA did not converge" if any(issubclass(w.category, ConvergenceWarning) for w in caught) else None
        value = mcc(ica.transform(x), s, self.options.method)
        records.append(MetricRecord("mcc_fastica", value, error=note))
        return records


_FLOORS: OrderedDict[tuple, list[MetricRecord]] = OrderedDict()


def _digest(*arrays: np.ndarray) -> str:
    """A key from the arrays' contents (not their identity: each cell reads its own copy of the data)."""
    h = hashlib.sha1()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str((a.shape, a.dtype.str)).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def build(options: MCCOptions, ctx: BuildContext) -> MCCToSources:
    """MCC between latents and true sources, with floors."""
    return MCCToSources(options)


@hookimpl
def ica_register(register):
    register("metric", "mcc", MCCOptions, build, description="MCC to the true sources, with floors (§4.1).")
