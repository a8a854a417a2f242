"""Means over seeds and draws, their standard errors, intervals and two-model tests that hold their level.

The units of replication are data draws (generated data sets) and, within a draw, seeds (independent
initialisations). Per-pair values (CCA-MCC between seeds i and j) are not units: every seed takes part in
n - 1 pairs. The scheme, the same for every metric and every command that prints a number:

1. **Within one draw**, the estimate is the mean of the finite per-seed values, or of the finite per-pair
   values. Its standard error is the jackknife over *seeds*: leave seed i out (its value, or every pair it is
   in), recompute the mean, ``se² = (n-1)/n Σ (θ₍₋ᵢ₎ - θ̄₍.₎)²`` over the n seeds with values. For per-seed values
   this is exactly ``s/√n``; for per-pair values (a U-statistic of degree 2) it is the classical jackknife,
   which errs on the wide side (Efron & Stein, 1981). Reference distribution: t with n - 1 degrees of freedom.
2. **Across draws** (two or more draws with a value), each draw gives its mean (step 1) and the estimate is
   the mean of the draws' means; its standard error is their standard deviation over √D, with D - 1 degrees
   of freedom: the two-stage sampling estimator, which contains the seeds' variation within draws and the
   draws' variation between them, so the interval speaks for new data sets from the same generator.
3. **Comparing model a with model b** of the same cell: within one draw, Welch's t on the two means
   (step 1's standard errors, Satterthwaite's degrees of freedom); across draws, the paired t over the draws
   both models have (each draw's difference of means; the draw's own difficulty cancels).
4. The effect is mean(a) - mean(b); the interval is ``effect ± t(1 - α/2, df) · se``; p is two-sided.
   With a margin δ, equivalence is two one-sided tests (TOST: p = the larger of the tests of effect > -δ
   and effect < δ), and non-inferiority of a the one-sided test of effect > -δ.

Medians and quartiles stay what tables *describe*; the inference is about means, because a mean has an
unbiased standard error at every n and a median of five values has no interval at 95% at all (with n values
the widest, from the smallest to the largest, covers the median with probability 1 - 2·2⁻ⁿ).

Fewest units (`MIN_UNITS`): two seeds with values for per-seed values (one draw), three for per-pair values
(leaving one of two seeds out leaves no pair), two draws across draws; below that every function returns None
and tables say "too few seeds". The suite checks by simulation that the tests hold α = 0.05 and the intervals
95% at n = 5 and 10, with and without draws (``tests/evaluation/test_calibration.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, NamedTuple

import numpy as np

CI_LEVEL = 0.95
MIN_UNITS = {"seed": 2, "pair": 3, "draws": 2}
"""Fewest seeds with values (one draw), per kind of value, and fewest draws, for an estimate (module docstring)."""

Values = Mapping[int, Any] | Mapping[tuple[int, int], Any]
Draws = Mapping[Any, Values]
"""One model's values of one metric: draw -> per-seed ``{seed: value}`` or per-pair ``{(a, b): value}``."""


class Moments(NamedTuple):
    """A mean, its standard error and the degrees of freedom of its t reference (arrays or floats)."""

    mean: Any
    se: Any
    df: Any


# ------------------------------------------------------------------------------ arrays (vectorised)
def seed_moments(values: np.ndarray) -> Moments:
    """Step 1 for per-seed values ``[..., n]`` (NaN: a failed seed): mean, ``s/√n``, n - 1; NaN below 2 seeds."""
    values = np.asarray(values, dtype=float)
    finite = np.isfinite(values)
    n = finite.sum(-1)
    filled = np.where(finite, values, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = filled.sum(-1) / n
        var = (np.where(finite, values - mean[..., None], 0.0) ** 2).sum(-1) / (n - 1)
        se = np.sqrt(var / n)
    few = n < MIN_UNITS["seed"]
    return Moments(np.where(n > 0, mean, np.nan), np.where(few, np.nan, se), np.where(few, np.nan, n - 1.0))


def pair_moments(pairs: np.ndarray) -> Moments:
    """Step 1 for per-pair values, a symmetric ``[..., n, n]`` array (diagonal ignored, NaN: a failed pair):
    the mean of the finite pairs and the jackknife over the seeds that are in at least one finite pair."""
    pairs = np.asarray(pairs, dtype=float)
    n = pairs.shape[-1]
    upper = np.triu(np.ones((n, n), dtype=bool), 1)
    finite = np.isfinite(pairs) & (upper | upper.T)
    filled = np.where(finite, pairs, 0.0)
    total = filled.sum((-1, -2)) / 2
    count = finite.sum((-1, -2)) / 2
    row_total, row_count = filled.sum(-1), finite.sum(-1)
    has = row_count > 0
    seeds = has.sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / count
        left = (total[..., None] - row_total) / (count[..., None] - row_count)  # θ₍₋ᵢ₎
        left = np.where(has, left, np.nan)
        centre = np.nansum(left, -1) / seeds
        spread = np.nansum((left - centre[..., None]) ** 2, -1)
        se = np.sqrt((seeds - 1) / seeds * spread)
    usable = (seeds >= MIN_UNITS["pair"]) & np.all(np.isfinite(left) | ~has, -1)
    return Moments(
        np.where(count > 0, mean, np.nan), np.where(usable, se, np.nan), np.where(usable, seeds - 1.0, np.nan)
    )


def draw_moments(means: np.ndarray) -> Moments:
    """Step 2: the draws' means ``[..., D]`` (NaN: a draw without a value) -> their mean, ``sd/√D``, D - 1."""
    return seed_moments(means)


def welch(a: Moments, b: Moments) -> Moments:
    """Step 3 within one draw: the difference of two independent means, Satterthwaite's degrees of freedom."""
    va, vb = np.square(a.se), np.square(b.se)
    with np.errstate(invalid="ignore", divide="ignore"):
        df = (va + vb) ** 2 / (va**2 / a.df + vb**2 / b.df)
    df = np.where((va + vb) == 0, np.minimum(a.df, b.df), df)  # no spread at all: either model's count
    return Moments(np.subtract(a.mean, b.mean), np.sqrt(va + vb), df)


class Test(NamedTuple):
    """Step 4: the interval of the effect, its two-sided p and, with a margin, TOST's and non-inferiority's p."""

    low: Any
    high: Any
    p: Any
    p_equivalent: Any
    p_noninferior: Any


def t_test(m: Moments, level: float = CI_LEVEL, margin: float | None = None) -> Test:
    """The interval ``mean ± t·se``, the two-sided p of mean = 0 and, given ``margin`` δ, the TOST p of
    |mean| < δ and the one-sided p of mean > -δ. A zero standard error (every value alike) gives a point
    interval, p = 0 or 1, and verdicts by the mean's side of 0 and of the margins."""
    from scipy.stats import t as student

    _check_level(level)
    mean, se, df = (np.asarray(x, dtype=float) for x in m)
    safe = np.where(se > 0, se, 1.0)
    q = student.ppf(0.5 + level / 2, np.where(np.isfinite(df) & (df > 0), df, 1.0))
    half = np.where(se > 0, q * se, 0.0)
    p = np.where(se > 0, 2 * student.sf(np.abs(mean) / safe, df), np.where(mean == 0, 1.0, 0.0))
    if margin is None:
        equivalent = noninferior = np.full(mean.shape, np.nan)
    else:
        above = np.where(se > 0, student.sf((mean + margin) / safe, df), np.where(mean > -margin, 0.0, 1.0))
        below = np.where(se > 0, student.cdf((mean - margin) / safe, df), np.where(mean < margin, 0.0, 1.0))
        equivalent, noninferior = np.maximum(above, below), above
    bad = ~(np.isfinite(mean) & np.isfinite(se) & np.isfinite(df))
    return Test(*(np.where(bad, np.nan, x) for x in (mean - half, mean + half, p, equivalent, noninferior)))


# ------------------------------------------------------------------------------ records (dictionaries)
@dataclass(frozen=True)
class Estimate:
    """One model's mean of one metric with its interval (module docstring, steps 1-2)."""

    mean: float
    low: float
    high: float
    level: float
    se: float
    df: float
    n_draws: int
    n_seeds: int  # seeds with values, summed over draws
    kind: str  # "seed" or "pair"


@dataclass(frozen=True)
class Comparison:
    """Model a against model b on one metric of one cell (module docstring, steps 3-4)."""

    difference: float  # mean(a) - mean(b)
    low: float
    high: float
    level: float
    p_value: float
    p_equivalent: float | None  # TOST against ``margin``; None without one
    p_noninferior: float | None
    margin: float | None
    se: float
    df: float
    n_draws: int
    n_a: int
    n_b: int
    kind: str
    test: str


def as_draws(values: Values | Draws) -> dict[Any, Values]:
    """``{draw: values}``: a mapping of per-seed or per-pair values alone is one draw (key None)."""
    if values and all(isinstance(v, Mapping) for v in values.values()):
        return dict(values)
    return {None: values}


def kind_of(values: Values) -> str:
    """'pair' when the keys are (seed, seed) pairs, 'seed' when seeds; mixed keys are an error."""
    keys = list(values)
    pairwise = {isinstance(k, tuple) for k in keys}
    if len(pairwise) > 1:
        raise ValueError("values must be all per seed (int keys) or all per pair ((a, b) keys)")
    return "pair" if pairwise == {True} else "seed"


def moments(values: Values) -> tuple[Moments, int]:
    """Step 1 on one draw's values: the moments and the number of seeds with values."""
    kind = kind_of(values)
    if kind == "seed":
        array = np.array([_number(v) for v in values.values()], dtype=float)
        return Moments(*(float(x) for x in seed_moments(array))), int(np.isfinite(array).sum())
    pairs = [(key, v) for key, v in values.items() if isinstance(key, tuple)]  # every key, as kind_of found
    seeds = sorted({int(s) for key, _ in pairs for s in key})
    at = {s: i for i, s in enumerate(seeds)}
    matrix = np.full((len(seeds), len(seeds)), np.nan)
    for (a, b), v in pairs:
        if int(a) != int(b):
            matrix[at[int(a)], at[int(b)]] = matrix[at[int(b)], at[int(a)]] = _number(v)
    with_values = int((np.isfinite(matrix).sum(-1) > 0).sum())
    return Moments(*(float(x) for x in pair_moments(matrix))), with_values


def estimate(values: Values | Draws, level: float = CI_LEVEL) -> Estimate | None:
    """The mean of one model's values over seeds (and draws) with its interval; None with too few units."""
    draws = {d: v for d, v in as_draws(values).items() if v}
    if not draws:
        return None
    kind = _one_kind(draws.values())
    found = {d: moments(v) for d, v in draws.items()}
    seeds = sum(n for _, n in found.values())
    means = np.array([m.mean for m, _ in found.values()])
    if np.isfinite(means).sum() >= MIN_UNITS["draws"]:
        m, n_draws = Moments(*(float(x) for x in draw_moments(means))), int(np.isfinite(means).sum())
    elif len(found) == 1:
        m, n_draws = next(iter(found.values()))[0], 1
    else:
        return None
    if not math.isfinite(m.se):
        return None
    test = t_test(m, level)
    return Estimate(m.mean, float(test.low), float(test.high), level, m.se, m.df, n_draws, seeds, kind)


def compare(
    a: Values | Draws, b: Values | Draws, margin: float | None = None, level: float = CI_LEVEL
) -> Comparison | None:
    """Model a against model b on one metric (module docstring, steps 3-4); None with too few units.

    Args:
        a, b: each model's values, one draw (``{seed: v}`` / ``{(s, t): v}``) or ``{draw: values}``.
        margin: δ of the equivalence and non-inferiority tests, in the metric's units; None: no such tests.
        level: the interval's coverage.
    """
    if margin is not None and not (math.isfinite(margin) and margin > 0):
        raise ValueError(f"the margin must be a positive number, got {margin}")
    da = {d: v for d, v in as_draws(a).items() if v}
    db = {d: v for d, v in as_draws(b).items() if v}
    if not da or not db:
        return None
    kind = _one_kind([*da.values(), *db.values()])
    fa, fb = {d: moments(v) for d, v in da.items()}, {d: moments(v) for d, v in db.items()}
    common = [d for d in fa if d in fb and math.isfinite(fa[d][0].mean) and math.isfinite(fb[d][0].mean)]
    if len(common) >= MIN_UNITS["draws"]:
        differences = np.array([fa[d][0].mean - fb[d][0].mean for d in common])
        m, name = Moments(*(float(x) for x in draw_moments(differences))), "paired t over draws"
    elif len(common) == 1 and len(fa) == len(fb) == 1:
        d = common[0]
        m, name = Moments(*(float(x) for x in welch(fa[d][0], fb[d][0]))), "Welch t, jackknife over seeds"
    else:
        return None
    if not (math.isfinite(m.se) and math.isfinite(m.df)):
        return None
    test = t_test(m, level, margin)

    def optional(x: Any) -> float | None:
        return None if margin is None else float(x)

    return Comparison(
        m.mean,
        float(test.low),
        float(test.high),
        level,
        float(test.p),
        optional(test.p_equivalent),
        optional(test.p_noninferior),
        margin,
        m.se,
        m.df,
        len(common),
        sum(fa[d][1] for d in common),
        sum(fb[d][1] for d in common),
        kind,
        name,
    )


def _one_kind(collections: Any) -> str:
    kinds = {kind_of(v) for v in collections}
    if len(kinds) > 1:
        raise ValueError("compare needs the same kind of values (all per seed or all per pair)")
    return kinds.pop()


def _number(value: Any) -> float:
    return math.nan if value is None else float(value)


def _check_level(level: float) -> None:
    if not 0 < level < 1:
        raise ValueError(f"level must lie between 0 and 1, got {level}")
