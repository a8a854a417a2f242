"""Corrections of p-values for the number of comparisons shown at once.

A table of twenty comparisons at α = 0.05 flags one by chance when nothing differs; `ica` therefore adjusts
every p it prints across the comparisons of that table (the cells and metrics of ``ica results --compare``,
of a report, of the phase figure) and draws stars and verdicts from the adjusted values.

- ``holm`` (the default): Holm's step-down procedure, which controls the family-wise error rate (the chance
  of any false flag) under any dependence between the tests: sort p ascending, multiply the k-th smallest by
  (m - k + 1), carry the running maximum, cap at 1.
- ``bh``: Benjamini-Hochberg, which controls the false discovery rate (the expected share of false flags
  among the flags) for independent or positively dependent tests: the k-th smallest times m/k, the running
  minimum from the largest down, cap at 1.
- ``none``: the raw p, for a single pre-planned comparison.

Missing p (None or NaN: a comparison with too few seeds) are left out of m and stay missing.
"""

from __future__ import annotations

import math
from typing import Literal, Sequence

import numpy as np

Method = Literal["holm", "bh", "none"]
METHODS: tuple[str, ...] = ("holm", "bh", "none")
NAMES = {"holm": "Holm", "bh": "Benjamini-Hochberg", "none": "uncorrected"}


def adjust(p_values: Sequence[float | None], method: str = "holm") -> list[float | None]:
    """The adjusted p-values, in the order given (module docstring); None stays None."""
    if method not in METHODS:
        raise ValueError(f"unknown correction {method!r}; choose one of {', '.join(METHODS)}")
    given = {i: float(p) for i, p in enumerate(p_values) if p is not None and not math.isnan(p)}
    present = list(given)
    out: list[float | None] = [None] * len(p_values)
    if not present:
        return out
    p = np.array(list(given.values()))
    if np.any((p < 0) | (p > 1)):
        raise ValueError("p-values must lie between 0 and 1")
    m = p.size
    order = np.argsort(p, kind="stable")
    ranked = p[order]
    if method == "holm":
        adjusted = np.maximum.accumulate(ranked * (m - np.arange(m)))
    elif method == "bh":
        adjusted = np.minimum.accumulate((ranked * m / np.arange(1, m + 1))[::-1])[::-1]
    else:
        adjusted = ranked
    back = np.empty(m)
    back[order] = np.minimum(adjusted, 1.0)
    for i, value in zip(present, back):
        out[i] = float(value)
    return out
