"""How sure a cell's medians are, and whether two models of the same cell differ, by resampling seeds.

The seeds are the independent units of a cell: each is trained from its own initialisation. Per-pair metrics
(CCA-MCC between seeds i and j) are not independent of each other: every seed takes part in n-1 pairs, so
one lucky seed lifts n-1 values at once. Resampling the pairs as if they were independent would pretend to
n(n-1)/2 units where there are n, and give intervals too narrow; so pairs are never resampled, seeds are.

The resampling scheme (`resampled_medians`), the same for per-seed and per-pair values:

1. the units are the cell's seeds, every seed with a record, failed ones included;
2. one resample draws as many seeds as there are, with replacement;
3. per-seed values: the median of the drawn seeds' values; per-pair values: the median of the values of
   every pair (i, j), i < j, of draws whose seeds differ (a seed drawn twice is not paired with itself;
   a pair of seeds drawn twice counts twice);
4. failed values (NaN or None) are left out of that median but are drawn like any other seed: a failure
   never changes which seeds are drawn, it only leaves fewer values to take the median of. A resample
   with no finite value has no median and is left out of what follows;
5. the interval is the percentile interval of the resampled medians; the generator is seeded, so the same
   values give the same interval every time.

With fewer than `MIN_SEEDS` seeds with values there is no interval and no bootstrap test (None): the
bootstrap of a median cannot reach its stated level there (with n seeds even the widest interval it can
give, from the smallest value to the largest, covers the true median with probability 1 - 2 * 2^-n).

scipy is imported only by `compare` (``ica status`` and worker starts never pay for it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, NamedTuple

import numpy as np

MIN_SEEDS = 5
"""Fewest seeds with values for a bootstrap interval or test (see the module's docstring)."""
CI_LEVEL = 0.95
RESAMPLES = 2000
_CHUNK = 2_000_000  # values gathered per block of resamples: memory stays bounded for many seeds

Values = Mapping[int, Any] | Mapping[tuple[int, int], Any]


class Interval(NamedTuple):
    low: float
    high: float


@dataclass(frozen=True)
class Comparison:
    """One test of model a against model b on one metric of the same cell (same data, same seeds' numbers).

    ``difference`` is median(a) - median(b) over the finite values; ``statistic`` names ``value`` (the
    Mann-Whitney U of a, or that same difference for the bootstrap); ``n_a``/``n_b`` are the seeds with
    values (for per-pair metrics: seeds in at least one pair with a value).
    """

    test: str
    statistic: str
    value: float
    difference: float
    p_value: float
    n_a: int
    n_b: int


class _Sample:
    """One model's values of one metric, laid out for drawing seeds: the finite values sorted, with the
    seed (per-seed values) or the two seeds (per-pair values) each belongs to, as indices into ``seeds``."""

    def __init__(self, values: Values) -> None:
        keys = list(values)
        self.pairwise = bool(keys) and isinstance(keys[0], tuple)
        if any(isinstance(k, tuple) != self.pairwise for k in keys):
            raise ValueError("values must be all per seed (int keys) or all per pair ((a, b) keys)")
        self.seeds = sorted({int(s) for key in keys for s in key}) if self.pairwise else sorted(map(int, keys))
        at = {s: i for i, s in enumerate(self.seeds)}
        items = [((at[int(k[0])], at[int(k[1])]) if self.pairwise else (at[int(k)],), _number(v))
                 for k, v in values.items()]
        items = [(where, v) for where, v in items if math.isfinite(v) and len(set(where)) == len(where)]
        items.sort(key=lambda item: item[1])
        self.finite = np.array([v for _, v in items], dtype=float)
        self.owners = np.array([where for where, _ in items], dtype=int).reshape(len(items), 2 if self.pairwise else 1)
        self.size = len(self.seeds)
        self.with_values = len(np.unique(self.owners))

    def median(self) -> float:
        return float(np.median(self.finite)) if self.finite.size else math.nan


def medians_of_draws(values: Values | _Sample, draws: np.ndarray) -> np.ndarray:
    """The median of each row of ``draws`` (``[resamples, n]`` indices into the sorted seeds): steps 3-4 of
    the module's scheme, NaN where a row holds no finite value.

    Computed as a weighted median over the distinct values, without building the resampled multisets: a
    value of seed i weighs c_i, a value of the pair (i, j) weighs c_i * c_j, where c counts how often each
    seed was drawn (c_i * c_j is how many pairs of draws, i < j, fall on those two seeds).
    """
    sample = values if isinstance(values, _Sample) else _Sample(values)
    draws = np.asarray(draws, dtype=int)
    rows = draws.shape[0]
    out = np.full(rows, np.nan)
    if not sample.finite.size:
        return out
    n = sample.size
    block = max(1, _CHUNK // max(sample.finite.size, n))
    for start in range(0, rows, block):
        d = draws[start:start + block]
        flat = d + n * np.arange(d.shape[0])[:, None]
        counts = np.bincount(flat.ravel(), minlength=d.shape[0] * n).reshape(d.shape[0], n).astype(np.int32)
        weights = counts[:, sample.owners[:, 0]]  # [rows, values]
        if sample.pairwise:
            weights = weights * counts[:, sample.owners[:, 1]]
        cumulative = np.cumsum(weights, axis=1)
        total = cumulative[:, -1]
        # The value at rank r of a row is the first whose cumulative weight exceeds r: one search over all rows
        # at once, each row shifted above the one before (cumulative weights never exceed n * n).
        shift = (n * n + 1) * np.arange(d.shape[0], dtype=np.int64)
        flat = (cumulative + shift[:, None]).ravel()
        first = np.arange(d.shape[0]) * cumulative.shape[1]
        low = np.searchsorted(flat, (total - 1) // 2 + shift, side="right") - first
        high = np.searchsorted(flat, total // 2 + shift, side="right") - first
        last = sample.finite.size - 1
        medians = (sample.finite[np.minimum(low, last)] + sample.finite[np.minimum(high, last)]) / 2
        out[start:start + block] = np.where(total > 0, medians, np.nan)
    return out


def resampled_medians(values: Values, resamples: int = RESAMPLES, seed: int = 0,
                      rng: np.random.Generator | None = None) -> np.ndarray:
    """The median of each of ``resamples`` resamples of the seeds (steps 1-4 of the module's scheme),
    NaN where a resample holds no finite value."""
    sample = values if isinstance(values, _Sample) else _Sample(values)
    rng = np.random.default_rng(seed) if rng is None else rng
    if sample.size == 0:
        return np.full(resamples, np.nan)
    return medians_of_draws(sample, rng.integers(0, sample.size, size=(resamples, sample.size)))


def bootstrap_median_ci(values: Values, level: float = CI_LEVEL, resamples: int = RESAMPLES,
                        seed: int = 0) -> Interval | None:
    """Percentile bootstrap interval of the median, resampling seeds (never pairs: module docstring).

    Args:
        values: per seed ``{seed: value}`` or per pair ``{(seed_a, seed_b): value}``; NaN/None for a failure.
        level: the interval's coverage, in (0, 1).
        resamples: how many resamples of the seeds.
        seed: the generator's seed (the same values give the same interval).

    Returns:
        ``Interval(low, high)``, or None with fewer than `MIN_SEEDS` seeds with values.
    """
    _check(level, resamples)
    sample = _Sample(values)
    if sample.with_values < MIN_SEEDS:
        return None
    medians = resampled_medians(sample, resamples, seed)
    medians = medians[np.isfinite(medians)]
    if not medians.size:
        return None
    low, high = np.percentile(medians, [50 * (1 - level), 50 * (1 + level)])
    return Interval(float(low), float(high))


def compare(a: Values, b: Values, resamples: int = RESAMPLES, seed: int = 0) -> Comparison | None:
    """Two-sided test that models a and b of the same cell differ on one metric.

    Per-seed values: the Mann-Whitney U (rank-sum) test on the finite values. Not a paired test: seed 3 of
    one model and seed 3 of another share only a number (different architectures draw different
    initialisations from it), so there is no pairing to exploit; the rank test also needs no normality.

    Per-pair values: a bootstrap over seeds of the difference of medians: each model's seeds are
    resampled on their own (module docstring), Δ = median(a*) - median(b*) per resample, and
    p = 2 * min(P(Δ <= 0), P(Δ >= 0)), at least 1/resamples and at most 1: the smallest level at which the
    two-sided percentile interval of Δ leaves out zero. Needs `MIN_SEEDS` seeds with values in each model.

    Returns:
        A `Comparison`, or None when a model has no finite value (or, per pair, too few seeds).
    """
    _check(CI_LEVEL, resamples)
    sa, sb = _Sample(a), _Sample(b)
    if sa.pairwise != sb.pairwise and sa.size and sb.size:
        raise ValueError("compare needs the same kind of values (both per seed or both per pair)")
    difference = sa.median() - sb.median()
    if not sa.finite.size or not sb.finite.size:
        return None
    if not sa.pairwise:
        from scipy.stats import mannwhitneyu

        result = mannwhitneyu(sa.finite, sb.finite, alternative="two-sided")
        p = float(result.pvalue)
        return Comparison("Mann-Whitney U", "U", float(result.statistic), difference,
                          1.0 if math.isnan(p) else p, sa.with_values, sb.with_values)
    if min(sa.with_values, sb.with_values) < MIN_SEEDS:
        return None
    rng = np.random.default_rng(seed)
    delta = resampled_medians(sa, resamples, rng=rng) - resampled_medians(sb, resamples, rng=rng)
    delta = delta[np.isfinite(delta)]
    if not delta.size:
        return None
    p = 2 * min(np.mean(delta <= 0), np.mean(delta >= 0))
    return Comparison("bootstrap over seeds", "median difference", difference, difference,
                      float(min(1.0, max(p, 1 / resamples))), sa.with_values, sb.with_values)


def metric_values(cell_summary: Mapping[str, Any], metric: str) -> dict[Any, float] | None:
    """One metric's values from a model's summary (`ica.evaluation.seeds.summarise`'s layout): per seed
    ``{seed: value}`` or per pair ``{(a, b): value}``, NaN for a failure; None when it has neither."""
    seeds = {int(s): _number(v[metric]) for s, v in (cell_summary.get("seeds") or {}).items() if metric in v}
    if seeds:
        return seeds
    pairs = {(int(p["seeds"][0]), int(p["seeds"][1])): _number(p[metric])
             for p in cell_summary.get("pairs") or [] if metric in p}
    return pairs or None


def _number(value: Any) -> float:
    return math.nan if value is None else float(value)


def _check(level: float, resamples: int) -> None:
    if not 0 < level < 1:
        raise ValueError(f"level must lie between 0 and 1, got {level}")
    if int(resamples) != resamples or resamples < 1:
        raise ValueError(f"resamples must be a positive whole number, got {resamples}")
