"""A metric's per-seed or per-pair values, read from a model's summary, for `ica.evaluation.inference`.

Seeds are the independent units of a draw: each is trained from its own initialisation. Per-pair values
(CCA-MCC between seeds i and j) are not independent of each other, so they are handed on keyed by their two
seeds, and the inference resamples or leaves out seeds, never pairs.
"""

from __future__ import annotations

import math
from typing import Any, Mapping


def metric_values(cell_summary: Mapping[str, Any], metric: str) -> dict[Any, float] | None:
    """One metric's values from a model's summary (`ica.evaluation.seeds.summarise`'s layout): per seed
    ``{seed: value}`` or per pair ``{(a, b): value}``, NaN for a failure; None when it has neither."""
    seeds = {int(s): _number(v[metric]) for s, v in (cell_summary.get("seeds") or {}).items() if metric in v}
    if seeds:
        return seeds
    pairs = {
        (int(p["seeds"][0]), int(p["seeds"][1])): _number(p[metric])
        for p in cell_summary.get("pairs") or []
        if metric in p
    }
    return pairs or None


def _number(value: Any) -> float:
    return math.nan if value is None else float(value)
