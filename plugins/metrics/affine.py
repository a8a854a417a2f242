"""`affine`: the sources recovered by an affine map of each seed's latents, out of sample (weak identifiability).

Beside `mcc` (strong: one latent per source, up to permutation and scale) this asks Khemakhem et al.'s weaker
question: are the sources an affine function of the latents? The map is fitted on a fixed random part of the
evaluation points (``fit_fraction``, order fixed by ``shuffle_seed``) and scored on the rest: per seed the
mean out-of-sample R² (``affine_r2``), each source's (``affine_r2_source<j>``) and the MCC after the map
(``affine_mcc``). Floors on the same points and split: the raw observations (``affine_r2_observations``,
``affine_mcc_observations``; an affine map of x, 1.0 for a linear mixing) and, where d_x ≠ d_s, their PCA to
d_s (``*_pca``). FastICA is an affine map of x, so its affine floor equals the observations' and is not repeated.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from ica.plugin import (
    BuildContext,
    Evaluation,
    Field,
    Measure,
    affine_recovery,
    fixed_order,
    hookimpl,
    MetricRecord,
    Options,
)

MEASURES = (
    Measure(
        "affine_mcc", "MCC after an affine map", "affine MCC", order=61, controls=("untrained", "observations", "pca")
    ),
    Measure("affine_r2", "affine R² to sources", "affine R²", order=62, controls=("untrained", "observations", "pca")),
    Measure("affine_r2_source", "affine R² of source", "R² of source", order=63, controls=("untrained",), indexed=True),
)


class AffineOptions(Options):
    """How the affine map is fitted and scored."""

    fit_fraction: float = Field(0.5, gt=0, lt=1, description="Fraction of evaluation points the map is fitted on.")
    method: Literal["pearson", "spearman"] = Field("pearson", description="Correlation of the MCC after the map.")
    shuffle_seed: int | None = Field(
        0, ge=0, description="Seed of the fixed permutation of the evaluation points; null keeps their order."
    )
    floors: bool = Field(True, description="Also report the affine recovery of the observations (and their PCA).")


class AffineRecoveryMetric:
    """Per-seed affine recovery of the sources, with the observations' as floors."""

    requires_sources = True
    controlled = True

    def __init__(self, options: AffineOptions):
        self.options = options

    def __call__(self, evaluation: Evaluation) -> list[MetricRecord]:
        sources = evaluation.points.s
        if sources is None:
            raise ValueError("affine needs ground-truth sources and the data set has none")
        order = fixed_order(len(sources), self.options.shuffle_seed)
        s = sources.numpy()[order]
        records = []
        for outcome in evaluation.seeds:
            if outcome.latents is None:
                records += self._failed(outcome.seed, s.shape[1], outcome.error or "no latents")
                continue
            try:
                records += self._records(outcome.latents[order], s, seed=outcome.seed)
            except ValueError as exc:
                records += self._failed(outcome.seed, s.shape[1], str(exc))
        if self.options.floors and evaluation.floors:
            records += self._floors(evaluation.points.x.flatten(1).numpy()[order], s)
        return records

    def _records(self, z: np.ndarray, s: np.ndarray, seed: int | None, suffix: str = "") -> list[MetricRecord]:
        found = affine_recovery(z, s, self.options.fit_fraction, self.options.method)
        records = [
            MetricRecord(f"affine_r2{suffix}", found.r2_mean, seed=seed),
            MetricRecord(f"affine_mcc{suffix}", found.mcc, seed=seed),
        ]
        if seed is not None:
            records += [MetricRecord(f"affine_r2_source{j}", r2, seed=seed) for j, r2 in enumerate(found.r2)]
        return records

    def _failed(self, seed: int, sources: int, why: str) -> list[MetricRecord]:
        names = ["affine_r2", "affine_mcc", *(f"affine_r2_source{j}" for j in range(sources))]
        return [MetricRecord(name, float("nan"), seed=seed, error=why) for name in names]

    def _floors(self, x: np.ndarray, s: np.ndarray) -> list[MetricRecord]:
        records = self._records(x, s, seed=None, suffix="_observations")
        if x.shape[1] != s.shape[1]:
            from sklearn.decomposition import PCA  # imported on use: loading the plugins stays quick

            n_fit = int(round(len(x) * self.options.fit_fraction))
            reduced = PCA(n_components=min(s.shape[1], x.shape[1]), random_state=0).fit(x[:n_fit]).transform(x)
            records += self._records(reduced, s, seed=None, suffix="_pca")
        return records


def build(options: AffineOptions, ctx: BuildContext) -> AffineRecoveryMetric:
    """Affine recovery of the sources, out of sample."""
    return AffineRecoveryMetric(options)


@hookimpl
def ica_register(register):
    register(
        "metric",
        "affine",
        AffineOptions,
        build,
        measures=MEASURES,
        description="Sources recovered by an affine map of the latents, out of sample (weak identifiability).",
    )
