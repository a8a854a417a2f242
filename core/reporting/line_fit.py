"""The statistics of the report's Fig. 3 (ELBO against MCC) and of ARI against CCA-MCC: an ordinary
least-squares line, the 95% confidence band of its fitted mean, and Pearson r as the report writes it.

Numbers only, no drawing: ``ica.reporting.plots`` draws the line and band, ``ica.reporting.scatter`` quotes r
in its captions. A line is drawn only through `MIN_LINE_POINTS` points or more (`line_to_draw`): through three
points its 95% band rests on one degree of freedom (t = 12.7) and says nothing a reader should look at.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
import numpy as np
from numpy.typing import ArrayLike
from scipy import stats


MIN_LINE_POINTS = 5
"""Fewest points a figure draws a least-squares line and its band through (the points themselves are drawn)."""


@dataclass(frozen=True)
class LineFit:
    """Ordinary least squares ``y = intercept + slope * x`` and what its confidence band needs.

    The band is for the fitted *mean* of y at x (Fig. 3's shading), from the t distribution with
    n - 2 degrees of freedom: ŷ(x) ± t_{(1+level)/2, n-2} · s · sqrt(1/n + (x - x̄)² / Sxx), with
    s² = Σ residuals² / (n - 2) and Sxx = Σ (x_i - x̄)².
    """

    n: int
    slope: float
    intercept: float
    r: float  # Pearson correlation coefficient (NaN when y is constant)
    x_mean: float
    sxx: float
    residual_std: float  # s; NaN for n < 3 (no degrees of freedom left)

    def mean_at(self, x: np.ndarray) -> np.ndarray:
        return self.intercept + self.slope * np.asarray(x, dtype=float)

    def band(self, x: np.ndarray, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper limits of the ``level`` confidence interval of the fitted mean at ``x``."""
        x = np.asarray(x, dtype=float)
        if self.n < 3:
            nan = np.full_like(x, np.nan)
            return nan, nan
        t = stats.t.ppf(0.5 + level / 2, self.n - 2)
        half = t * self.residual_std * np.sqrt(1 / self.n + (x - self.x_mean) ** 2 / self.sxx)
        centre = self.mean_at(x)
        return centre - half, centre + half


def fit_line(x: ArrayLike, y: ArrayLike) -> LineFit | None:
    """The least-squares line through (x, y), or None when there is no line (n < 2 or x constant)."""
    xs, ys = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    n = len(xs)
    if n < 2:
        return None
    x_mean, y_mean = xs.mean(), ys.mean()
    sxx = float(((xs - x_mean) ** 2).sum())
    if sxx <= 0:
        return None
    syy = float(((ys - y_mean) ** 2).sum())
    sxy = float(((xs - x_mean) * (ys - y_mean)).sum())
    slope = sxy / sxx
    intercept = y_mean - slope * x_mean
    r = sxy / math.sqrt(sxx * syy) if syy > 0 else math.nan
    residuals = ys - (intercept + slope * xs)
    s = math.sqrt(float((residuals**2).sum()) / (n - 2)) if n > 2 else math.nan
    return LineFit(n, slope, intercept, r, float(x_mean), sxx, s)


def line_to_draw(x: ArrayLike, y: ArrayLike) -> LineFit | None:
    """The least-squares line a figure draws through (x, y): None below `MIN_LINE_POINTS` points (or without a
    line at all), so that no line or band is drawn through two, three or four points."""
    if len(np.asarray(x)) < MIN_LINE_POINTS:
        return None
    return fit_line(x, y)


def no_line_text(n: int) -> str:
    """Why a panel has points but no line, for its legend and the caption."""
    return f"no line: {n} point{'s' if n != 1 else ''}, fewer than {MIN_LINE_POINTS}"


def pearson_text(fit: LineFit | None) -> str:
    """'r=0.85'; with fewer than 3 points or a constant y, r says nothing and is not shown as a number."""
    if fit is None or math.isnan(fit.r):
        return "r undefined"
    if fit.n < 3:
        return f"r not meaningful (n={fit.n})"
    return f"r={fit.r:.2f}"
