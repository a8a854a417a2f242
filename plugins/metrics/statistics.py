"""`statistics`: how well each seed's latents recover the sources' sufficient statistics, not the sources.

Time-contrastive learning (Hyvärinen & Morioka 2016, Theorem 1) identifies the sufficient statistics of the
sources' segment-wise exponential family up to a linear map: s² when only the variances change by segment,
s and s² when the means change too (the paper's §4.1 data), |s| for Laplace sources whose scale changes. MCC to
s alone misjudges such a model, so this metric reports, per seed and for each statistic t of ``statistics``
(``square``: s², ``abs``: |s|, ``centred_square``: (s − mean of s over the evaluation points)²):

* ``mcc_<t>``: the MCC between the latents and t(s), matched as `mcc` matches (``method``);
* ``affine_r2_<t>`` / ``affine_mcc_<t>``: an affine map from the latents to t(s), fitted on a fixed random part
  of the evaluation points (``fit_fraction``, order fixed by ``shuffle_seed``) and scored on the rest, as
  `affine` scores the sources (`ica.plugin.affine_recovery`);

and one joint measure, ``affine_r2_sufficient``: the out-of-sample R² of the affine map from the latents to the
stacked [s, s²], what TCL's theory promises on data whose means and variances change by segment.

Floors on the same points and split (``floors``), as `mcc` and `affine` have them: the MCC of the observations
to t(s) (``mcc_<t>_observations``, or ``mcc_<t>_pca``, their PCA to d_s fitted on the training split, where
d_x ≠ d_s), the affine recovery from the observations (``*_observations``) and, where d_x ≠ d_s, from their PCA
fitted on the map's part (``*_pca``). The untrained networks' values are the null control (``controlled``).
Follows ``plugins/metrics/mcc.py`` and ``plugins/metrics/affine.py``. Not in a default metric list: a spec names
it (``"evaluation": {"metrics": [..., {"name": "statistics"}]}``).
"""

from __future__ import annotations

from typing import Any, Callable, Literal

import numpy as np
from pydantic import field_validator

from ica.plugin import (
    BuildContext,
    Evaluation,
    Field,
    Measure,
    MetricRecord,
    Options,
    affine_recovery,
    fixed_order,
    hookimpl,
    mcc,
    observation_views,
    observations_vary,
)

Statistic = Literal["square", "abs", "centred_square"]
STATISTICS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "square": np.square,
    "abs": np.abs,
    "centred_square": lambda s: np.square(s - s.mean(axis=0)),
}
"""Each statistic of the sources, elementwise, ``[N, d_s]`` -> ``[N, d_s]`` (the centring uses every point)."""

CONTROLS = ("untrained", "observations", "pca")
# (statistic, title's name of t(s), the headers' name of it, order of its first measure): between affine's
# 61-63 and consistency's 64.
NAMED = (("square", "s²", "s²", 63.1), ("abs", "|s|", "|s|", 63.2), ("centred_square", "(s - mean)²", "(s-m)²", 63.3))


def _measures() -> tuple[Measure, ...]:
    found = [Measure("affine_r2_sufficient", "affine R² to [s, s²]", "affine R² s,s²", order=63.5, controls=CONTROLS)]
    for key, title, short, order in NAMED:
        affine = "aff" if len(short) > 4 else "affine"  # headers stay within 14 characters
        found += [
            Measure(f"mcc_{key}", f"MCC to {title}", f"MCC to {short}", order=order, controls=CONTROLS),
            Measure(
                f"affine_mcc_{key}",
                f"MCC after an affine map to {title}",
                f"{affine} MCC {short}",
                order=round(order + 0.01, 2),
                controls=CONTROLS,
            ),
            Measure(
                f"affine_r2_{key}",
                f"affine R² to {title}",
                f"{affine} R² {short}",
                order=round(order + 0.02, 2),
                controls=CONTROLS,
            ),
        ]
    return tuple(found)


MEASURES = _measures()


class StatisticsOptions(Options):
    """Which statistics of the sources are scored, and how."""

    statistics: list[Statistic] = Field(
        ["square", "abs"],
        min_length=1,
        description="Statistics of the sources to score the latents against: 'square' (s²), 'abs' (|s|), "
        "'centred_square' ((s - its mean over the evaluation points)²).",
    )
    method: Literal["pearson", "spearman"] = Field("pearson", description="Correlation coefficient of the MCCs.")
    fit_fraction: float = Field(0.5, gt=0, lt=1, description="Fraction of evaluation points the maps are fitted on.")
    shuffle_seed: int | None = Field(
        0, ge=0, description="Seed of the fixed permutation of the evaluation points; null keeps their order."
    )
    floors: bool = Field(True, description="Also report the observations' values (and their PCA's).")

    @field_validator("statistics")
    @classmethod
    def _distinct(cls, v: list[str]) -> list[str]:
        twice = sorted({t for t in v if v.count(t) > 1})
        if twice:
            raise ValueError(f"each statistic once: {', '.join(twice)} is given more than once")
        return v


class SufficientStatistics:
    """Per-seed recovery of the sources' sufficient statistics, with the observations' as floors."""

    requires_sources = True
    controlled = True
    by_default = False  # computed where a spec names it: every run with sources would otherwise pay for it

    def __init__(self, options: StatisticsOptions):
        self.options = options

    def names(self) -> list[str]:
        """Every per-seed record name, in the order written."""
        per = [(f"mcc_{t}", f"affine_r2_{t}", f"affine_mcc_{t}") for t in self.options.statistics]
        return [name for names in per for name in names] + ["affine_r2_sufficient"]

    def __call__(self, evaluation: Evaluation) -> list[MetricRecord]:
        sources = evaluation.points.s
        if sources is None:
            raise ValueError("statistics needs ground-truth sources and the data set has none")
        order = fixed_order(len(sources), self.options.shuffle_seed)
        s = sources.numpy().astype(np.float64)
        targets: dict[str, np.ndarray] = {t: STATISTICS[t](s)[order] for t in self.options.statistics}
        sufficient = np.hstack([s, np.square(s)])[order]
        records = []
        for outcome in evaluation.seeds:
            if outcome.latents is None:
                why = outcome.error or "no latents"
                records += [MetricRecord(name, float("nan"), seed=outcome.seed, error=why) for name in self.names()]
                continue
            z = outcome.latents[order]
            records += self._records(z, z, targets, sufficient, outcome.seed)
        if self.options.floors and evaluation.floors and evaluation.control is None and observations_vary(evaluation):
            records += self._floors(evaluation, order, targets, sufficient)
        return records

    def _records(
        self,
        mcc_from: np.ndarray | None,
        affine_from: np.ndarray | None,
        targets: dict[str, np.ndarray],
        sufficient: np.ndarray,
        seed: int | None,
        suffix: str = "",
    ) -> list[MetricRecord]:
        """The records of one representation: the MCCs of ``mcc_from`` and the affine maps from ``affine_from``
        (the same latents for a seed; the floors read the observations in two views, and skip one with None)."""
        o = self.options
        records = []
        for t, target in targets.items():
            if mcc_from is not None:
                records += _guarded([f"mcc_{t}{suffix}"], seed, _mcc, mcc_from, target, o.method)
            if affine_from is not None:
                names = [f"affine_r2_{t}{suffix}", f"affine_mcc_{t}{suffix}"]
                records += _guarded(names, seed, _affine, affine_from, target, o.fit_fraction, o.method)
        if affine_from is not None:
            names = [f"affine_r2_sufficient{suffix}"]
            records += _guarded(names, seed, _affine, affine_from, sufficient, o.fit_fraction, o.method)
        return records

    def _floors(
        self, evaluation: Evaluation, order: np.ndarray, targets: dict[str, np.ndarray], sufficient: np.ndarray
    ) -> list[MetricRecord]:
        """The observations' values: MCC of the observations as `mcc` reads them (their PCA to d_s fitted on the
        training split where d_x ≠ d_s); affine maps from the observations themselves and, where d_x ≠ d_s, from
        their PCA to d_s fitted on the maps' part, as `affine` fits them."""
        d_s = sufficient.shape[1] // 2
        x = evaluation.points.x.flatten(1).numpy()[order]
        first = "observations" if x.shape[1] == d_s else "pca"
        records = self._records(observation_views(evaluation)(d_s)[order], None, targets, sufficient, None, f"_{first}")
        records += self._records(None, x, targets, sufficient, None, "_observations")
        if x.shape[1] != d_s:
            from sklearn.decomposition import PCA  # imported on use: loading the plugins stays quick

            n_fit = int(round(len(x) * self.options.fit_fraction))
            pca = PCA(n_components=min(d_s, x.shape[1]), random_state=0).fit(x[:n_fit]).transform(x)
            records += self._records(None, pca, targets, sufficient, None, "_pca")
        return records


def _affine(z: np.ndarray, target: np.ndarray, fit_fraction: float, method: str) -> list[float]:
    """[mean out-of-sample R², MCC after the map] of the affine map from ``z`` to ``target``."""
    found = affine_recovery(z, target, fit_fraction, method)
    return [found.r2_mean, found.mcc]


def _mcc(z: np.ndarray, target: np.ndarray, method: str) -> list[float]:
    return [mcc(z, target, method)]


def _guarded(names: list[str], seed: int | None, compute: Callable[..., list[float]], *args: Any) -> list[MetricRecord]:
    """One record per name from ``compute(*args)`` (extra values are left out); NaN with the reason where it
    raises ValueError (non-finite latents, too few points for a part)."""
    try:
        values, why = compute(*args), None
    except ValueError as exc:
        values, why = [float("nan")] * len(names), str(exc)
    return [MetricRecord(name, float(value), seed=seed, error=why) for name, value in zip(names, values)]


def build(options: StatisticsOptions, ctx: BuildContext) -> SufficientStatistics:
    """Recovery of the sources' sufficient statistics (s², |s|), by MCC and by affine maps out of sample."""
    return SufficientStatistics(options)


@hookimpl
def ica_register(register):
    register(
        "metric",
        "statistics",
        StatisticsOptions,
        build,
        measures=MEASURES,
        description="MCC and affine recovery of the sources' sufficient statistics (s², |s|): what TCL identifies.",
    )
