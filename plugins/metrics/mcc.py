"""`mcc`: mean correlation coefficient between each seed's latents and the true sources (§4.1, Fig. 2).

Computed on the evaluation points only. Beside the models it reports floors measured on the same
points, so a number can be judged: the MCC of the observations themselves (``mcc_observations``, when
d_x = d_s; on the paper's TCL data this alone is about 0.5), of their PCA to d_s fitted on the training split
(``mcc_pca``, when d_x ≠ d_s) and of FastICA fitted on the training split (``mcc_fastica``). The untrained
networks' MCC (``mcc_untrained``) is the run's null control (`controlled`).

Pearson and Spearman. Strong identifiability recovers each source only up to permutation and a strictly
monotone function of each component (elementwise, not only sign and scale), so Pearson's MCC can read below 1
for latents that are identified as well as the theory allows. With ``spearman`` (on by default, and when
``method`` is Pearson) Spearman's rank MCC is reported beside it, with its own floors and control:
``mcc_spearman``, ``mcc_spearman_observations`` / ``_pca`` / ``_fastica``, ``mcc_spearman_untrained``. Both are
computed from the same fits: the floors' PCA and FastICA are fitted once per data set, whatever the methods.
"""

from __future__ import annotations

import warnings
from typing import Literal

import numpy as np

from ica.plugin import (
    BuildContext,
    Evaluation,
    Field,
    Measure,
    MetricRecord,
    Options,
    cached,
    data_digest,
    hookimpl,
    mcc,
    reduced,
)

CONTROLS = ("untrained", "observations", "pca", "fastica")
MEASURES = (
    Measure("mcc", "MCC to sources", order=10, controls=CONTROLS, headline=True),
    Measure("mcc_spearman", "Spearman MCC to sources", "Spearman MCC", order=11, controls=CONTROLS),
)


class MCCOptions(Options):
    """How correlations are measured, and whether to report the floors."""

    method: Literal["pearson", "spearman"] = Field("pearson", description="Correlation coefficient.")
    spearman: bool = Field(
        True,
        description="Also report Spearman's MCC (mcc_spearman, with its floors) beside a "
        "Pearson MCC: strong identifiability allows a monotone distortion of each source.",
    )
    floors: bool = Field(True, description="Also report the MCC of the raw observations (or their PCA) and of FastICA.")


class MCCToSources:
    """Per-seed MCC to ground truth, plus the floors as per-cell values."""

    requires_sources = True
    controlled = True

    def __init__(self, options: MCCOptions):
        self.options = options
        extra = [("mcc_spearman", "spearman")] if options.spearman and options.method == "pearson" else []
        self.measures = [("mcc", options.method), *extra]  # (record name, correlation) pairs

    def __call__(self, evaluation: Evaluation) -> list[MetricRecord]:
        sources = evaluation.points.s
        if sources is None:
            raise ValueError("mcc needs ground-truth sources and the data set has none")
        s = sources.numpy()
        records = [r for outcome in evaluation.seeds for r in self._seed(outcome, s)]
        if self.options.floors and evaluation.floors:
            records += self._floors(evaluation, s)
        return records

    def _seed(self, outcome, s: np.ndarray) -> list[MetricRecord]:
        records = []
        for name, method in self.measures:
            if outcome.latents is None:
                records.append(MetricRecord(name, float("nan"), seed=outcome.seed, error=outcome.error or "no latents"))
                continue
            try:
                records.append(MetricRecord(name, mcc(outcome.latents, s, method), seed=outcome.seed))
            except ValueError as exc:
                records.append(MetricRecord(name, float("nan"), seed=outcome.seed, error=str(exc)))
        return records

    def _floors(self, evaluation: Evaluation, s: np.ndarray) -> list[MetricRecord]:
        """The floors depend on the data alone, so they are fitted once per data set in a process: the model
        labels of a grid point (and their untrained controls) share them, and so do Pearson and Spearman."""
        x = evaluation.points.x.flatten(1).numpy()
        train = evaluation.data.train.x.flatten(1).numpy()
        views = cached(("floors", data_digest(x, train, s)), lambda: _fit_floors(x, train, s))
        return [
            MetricRecord(f"{name}_{view}", mcc(points, s, method), error=note)
            for name, method in self.measures
            for view, (points, note) in views.items()
        ]


def _fit_floors(x: np.ndarray, train: np.ndarray, s: np.ndarray) -> dict[str, tuple[np.ndarray, str | None]]:
    """The floors' views of the evaluation points, with a note where a fit is doubtful: the observations (or
    their PCA to d_s), and FastICA's sources, both fitted on the training split."""
    from sklearn.decomposition import FastICA  # imported on use: loading the plugins stays quick
    from sklearn.exceptions import ConvergenceWarning

    first = "observations" if x.shape[1] == s.shape[1] else "pca"
    views: dict[str, tuple[np.ndarray, str | None]] = {first: (reduced(x, train, s.shape[1]), None)}
    ica = FastICA(n_components=s.shape[1], whiten="unit-variance", max_iter=1000, random_state=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        ica.fit(train)
    note = "FastICA did not converge" if any(issubclass(w.category, ConvergenceWarning) for w in caught) else None
    views["fastica"] = (ica.transform(x), note)
    return views


def build(options: MCCOptions, ctx: BuildContext) -> MCCToSources:
    """MCC between latents and true sources, with floors."""
    return MCCToSources(options)


@hookimpl
def ica_register(register):
    register(
        "metric",
        "mcc",
        MCCOptions,
        build,
        description="MCC to the true sources, with floors (§4.1).",
        measures=MEASURES,
    )
