"""One verdict per comparison, from corrected p-values: which model is better, equivalent, or neither.

The paper's claim is that VaDE is "as identifiable as" iVAE: a claim of equivalence (or non-inferiority),
which a non-significant difference does not support. So each comparison of a against b ends in one of

- ``"<a> better"`` / ``"<b> better"``: the corrected two-sided p is below α; "better" follows the metric's
  direction (higher is better unless the metric says otherwise);
- ``"equivalent within ±δ"``: not different, and the corrected TOST p is below α: the difference's
  1 - 2α interval lies inside (-δ, δ);
- ``"inconclusive"``: neither (the data cannot tell a difference from an equivalence at this margin);
- ``"too few seeds"``: no test can be made (`ica.evaluation.inference.MIN_UNITS`).

A significant difference smaller than δ stays a difference (and is named better), because the two-sided test
is the one that controls how often a difference is claimed; the TOST p is reported beside it.
"""

from __future__ import annotations

ALPHA = 0.05
TOO_FEW = "too few seeds"
INCONCLUSIVE = "inconclusive"


def verdict(
    a: str,
    b: str,
    difference: float | None,
    p_adjusted: float | None,
    p_equivalent_adjusted: float | None,
    margin: float | None,
    higher_is_better: bool = True,
    alpha: float = ALPHA,
) -> str:
    """The verdict of one comparison (module docstring)."""
    if difference is None or p_adjusted is None:
        return TOO_FEW
    if p_adjusted < alpha:
        a_ahead = (difference > 0) == higher_is_better
        return f"{a if a_ahead else b} better"
    if margin is not None and p_equivalent_adjusted is not None and p_equivalent_adjusted < alpha:
        return f"equivalent within ±{margin:g}"
    return INCONCLUSIVE
