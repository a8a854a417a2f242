"""Model a against model b in every setting shown, corrected for the number of comparisons, with a verdict.

One path for ``ica results --compare``, the report's comparison table and the phase figure's stars: each
setting is a `Group` (the summaries of every model label, per data draw), each shared metric gets one
`ica.evaluation.inference.compare` (effect, interval, p, TOST p against the margin), the p-values of all the
rows shown together are corrected (`ica.evaluation.corrections`, Holm by default) and each row gets one
verdict from the corrected values (`ica.evaluation.verdicts`). Controls (``*_untrained``, floors, the
observation controls of agreement metrics) are no result of either model and are never compared.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ica.components.registry import registry
from ica.evaluation.corrections import NAMES, adjust
from ica.evaluation.inference import CI_LEVEL, compare, estimate
from ica.evaluation.seeds import quartiles
from ica.evaluation.significance import metric_values
from ica.evaluation.verdicts import ALPHA, verdict

DEFAULT_MARGIN = 0.05
"""δ of the equivalence verdicts when none is given: in the units of the metric, 0.05 of MCC, CCA-MCC or R²
is a small difference on their 0-1 scale (the paper reports MCC to two decimals)."""


@dataclass(frozen=True)
class ComparisonOptions:
    """How a report or figure compares models: the equivalence margin (None: no equivalence test), the
    correction, and the metrics compared (None: every metric the models share), which is also the family."""

    margin: float | None = DEFAULT_MARGIN
    correction: str = "holm"
    metrics: tuple[str, ...] | None = None

    def wants(self, metric: str) -> bool:
        return self.metrics is None or metric in self.metrics


def higher_is_better(metric: str) -> bool:
    """The direction its metric declares (`ica.plugin.Measure`); higher where none is declared."""
    return registry().measures().get(metric).higher_is_better is not False


@dataclass
class Group:
    """One setting of an experiment with its draws pooled: label -> draw -> that model's summary entry."""

    name: str
    path: str
    summaries: dict[str, dict[Any, dict[str, Any] | None]] = field(default_factory=dict)  # None: no summary yet

    def draws(self, label: str) -> dict[Any, dict[str, Any]]:
        return {d: s for d, s in (self.summaries.get(label) or {}).items() if s is not None}


def drawn_values(summaries: dict[Any, dict[str, Any]], metric: str) -> dict[Any, Any]:
    """``{draw: values}`` of one metric over a model's draws (`metric_values` per draw)."""
    found = {d: metric_values(s, metric) for d, s in summaries.items()}
    return {d: v for d, v in found.items() if v}


def pooled_stats(summaries: dict[Any, dict[str, Any]], metric: str) -> dict[str, Any] | None:
    """Median, quartiles and counts of one metric over every draw's seeds (or pairs) together; a single
    draw's are its summary's own statistics."""
    if len(summaries) == 1:
        return (next(iter(summaries.values())).get("stats") or {}).get(metric)
    values = [v for found in drawn_values(summaries, metric).values() for v in found.values()]
    return quartiles(float("nan") if v is None else v for v in values) if values else None


def pooled_estimate(summaries: dict[Any, dict[str, Any]], metric: str, level: float = CI_LEVEL) -> dict | None:
    """The mean and its interval over draws and seeds (`ica.evaluation.inference.estimate`), or None."""
    values = drawn_values(summaries, metric)
    found = estimate(values, level) if values else None
    if found is None:
        return None
    return {
        "mean": found.mean,
        "low": found.low,
        "high": found.high,
        "level": level,
        "of": "mean",
        "n_draws": found.n_draws,
        "n_seeds": found.n_seeds,
    }


def compared_metrics(sa: dict[Any, dict[str, Any]], sb: dict[Any, dict[str, Any]], is_control: Any) -> list[str]:
    """Metrics both models have in every draw, in first-seen order, their controls left out."""
    names: dict[str, None] = {}
    for summaries in (sa, sb):
        for summary in summaries.values():
            names.update(dict.fromkeys(summary.get("stats") or {}))
    return [
        m for m in names if not is_control(m) and all(m in (s.get("stats") or {}) for s in (*sa.values(), *sb.values()))
    ]


def compare_groups(
    groups: list[Group],
    a: str,
    b: str,
    metrics: Any,
    margin: float | None = DEFAULT_MARGIN,
    correction: str = "holm",
    level: float = CI_LEVEL,
) -> list[dict[str, Any]]:
    """One row per (group, metric) where both labels have the metric: the effect (mean a - mean b), its
    interval, raw and corrected p, TOST p against ``margin`` (raw and corrected) and the verdict.

    ``metrics(sa, sb)`` returns the metrics to compare for the two models' summaries (by draw), in order.
    The correction runs over every row returned: the family is exactly what is shown together.
    """
    rows = []
    for group in groups:
        sa, sb = group.draws(a), group.draws(b)
        if not sa or not sb:
            continue
        for metric in metrics(sa, sb):
            va, vb = drawn_values(sa, metric), drawn_values(sb, metric)
            if not va or not vb or _kinds(va) != _kinds(vb):
                continue
            found = compare(va, vb, margin, level)
            stats_a, stats_b = pooled_stats(sa, metric) or {}, pooled_stats(sb, metric) or {}
            rows.append(
                {
                    "run": group.name,
                    "path": group.path,
                    "a": a,
                    "b": b,
                    "metric": metric,
                    "median_a": stats_a.get("median"),
                    "median_b": stats_b.get("median"),
                    "mean_a": _mean(va, level),
                    "mean_b": _mean(vb, level),
                    "difference": None if found is None else found.difference,
                    "ci_low": None if found is None else found.low,
                    "ci_high": None if found is None else found.high,
                    "level": level,
                    "p_value": None if found is None else found.p_value,
                    "p_equivalent": None if found is None else found.p_equivalent,
                    "p_noninferior": None if found is None else found.p_noninferior,
                    "margin": margin,
                    "test": None if found is None else found.test,
                    "n_draws": None if found is None else found.n_draws,
                    "n_a": None if found is None else found.n_a,
                    "n_b": None if found is None else found.n_b,
                    "higher_is_better": higher_is_better(metric),
                }
            )
    return correct(rows, correction)


def correct(rows: list[dict[str, Any]], correction: str = "holm") -> list[dict[str, Any]]:
    """Adjust the p-values of ``rows`` (`compare_groups`' rows, of any model pairs) over all of them, and give
    each its verdict from the adjusted values: call it once on everything shown together."""
    adjusted = adjust([r["p_value"] for r in rows], correction)
    equivalent = adjust([r["p_equivalent"] for r in rows], correction)
    for row, p, q in zip(rows, adjusted, equivalent):
        row.update(
            p_adjusted=p,
            p_equivalent_adjusted=q,
            correction=NAMES[correction],
            alpha=ALPHA,
            verdict=verdict(row["a"], row["b"], row["difference"], p, q, row["margin"], row["higher_is_better"]),
        )
    return rows


def _mean(values: dict[Any, Any], level: float) -> float | None:
    found = estimate(values, level)
    return None if found is None else found.mean


def _kinds(values: dict[Any, Any]) -> set[bool]:
    return {isinstance(next(iter(v)), tuple) for v in values.values()}


def effect_text(row: dict[str, Any], spec: str = "+.3f") -> str:
    """'+0.225 [+0.150, +0.300]': a comparison row's effect and its interval, or '-' without a test."""
    if row["difference"] is None:
        return "-"
    return f"{row['difference']:{spec}} [{row['ci_low']:{spec}}, {row['ci_high']:{spec}}]"


def counts_text(row: dict[str, Any]) -> str:
    """'6 draws, 12/12 seeds' (or '5/4 seeds' within one draw): what a comparison row stands on."""
    if row["n_a"] is None:
        return "-"
    draws = f"{row['n_draws']} draws, " if row["n_draws"] > 1 else ""
    return f"{draws}{row['n_a']}/{row['n_b']} seeds"


def p_text(value: float | None) -> str:
    return "-" if value is None else f"{value:.2g}"


def caption(a: str, b: str, margin: float | None, correction: str, level: float = CI_LEVEL) -> str:
    """What every comparison table says about its numbers."""
    equivalence = (
        f"equivalent: the TOST p against ±{margin:g} (in the metric's units) below {ALPHA:g} after correction"
        if margin is not None
        else "no equivalence margin given"
    )
    return (
        f"{a} against {b} on the same data: effect = mean({a}) - mean({b}) over seeds (over seed pairs for "
        f"pairwise metrics; draws pooled as the mean of each draw's mean) with its {level:.0%} interval; "
        f"two-sided t test (Welch with a jackknife over seeds within one draw, paired over draws with two or "
        f"more); p corrected by {NAMES[correction]} over the {{n}} comparisons shown; verdicts at α = {ALPHA:g}: "
        f"better when the corrected p is below α, {equivalence}, else inconclusive; 'too few seeds' where no "
        f"test exists"
    )
