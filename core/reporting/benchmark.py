"""The benchmark table: every model on every data set, each beside its controls, with a verdict on each.

When an experiment's runs differ in their data set (a grid over ``data``, as ``specs/benchmark.json``), a reader's
first question is which method recovers the sources where, and whether its number means more than its controls'.
One row per (data set, model): the mean over data draws of MCC (Pearson and Spearman) and affine MCC, each with
its interval (`ica.reporting.comparisons.pooled_estimate`), then the model's MCC against two controls measured on
the same points: its own untrained networks (``mcc_untrained``) and the observations themselves (the cell's floor
``mcc_observations``, or ``mcc_pca`` where d_x ≠ d_s). Each control comparison is a paired test over draws
(`ica.evaluation.inference.compare`), and the verdicts come from p-values corrected by Holm over every comparison
the table shows (`ica.reporting.comparisons.correct`): "inconclusive" is never "the same".
"""

from __future__ import annotations

from typing import Any

from ica.evaluation.inference import compare
from ica.reporting.comparisons import DEFAULT_MARGIN, correct, drawn_values, pooled_estimate
from ica.reporting.draws import DrawGroup, labels_of, members, setting_groups
from ica.reporting.experiment import Experiment
from ica.reporting.rundirs import RunRecord
from ica.spec.cell_names import canonical, value_texts

SHOWN = (("mcc", "MCC"), ("mcc_spearman", "Spearman MCC"), ("affine_mcc", "affine MCC"))
"""The recovery measures of the table, in its column order."""

STATISTICS = (("mcc_square", "MCC to s²"), ("affine_r2_sufficient", "affine R² to [s, s²]"))
"""Recovery of the sufficient statistics TCL's theory names (the `statistics` metric), shown where it was run."""

FLOORS = ("mcc_observations", "mcc_pca")
"""The observation control of MCC: the raw observations, or their PCA where d_x ≠ d_s."""


def data_of(record: RunRecord) -> dict[str, Any] | None:
    """A run's data options without its data seed (draws of one data set are one data set)."""
    spec = record.spec or record.base_spec
    data = dict((spec or {}).get("data") or {})
    data.pop("data_seed", None)
    return data or None


def data_groups(exp: Experiment) -> list[tuple[str, DrawGroup[RunRecord]]] | None:
    """Each setting of ``exp`` with the text of its data set, or None when the runs share one data set (then the
    report's other tables say everything)."""
    groups = setting_groups(exp.runs)
    data = [data_of(g.items[0]) for g in groups]
    if len({canonical(d) for d in data}) < 2:
        return None
    texts = value_texts([d for d in data if d is not None])
    return [(texts.get(canonical(d), "?") if d is not None else "?", g) for d, g in zip(data, groups)]


def _observations(summaries: dict[Any, dict[str, Any]]) -> dict[Any, dict[int, float]]:
    """The observation floor of each draw (a value per cell, not per seed), as one value per draw."""
    found = {}
    for draw, summary in summaries.items():
        floors = summary.get("cell") or {}
        value = next((floors[k] for k in FLOORS if isinstance(floors.get(k), (int, float))), None)
        if value is not None:
            found[draw] = {0: float(value)}
    return found


def benchmark_rows(exp: Experiment, margin: float | None = DEFAULT_MARGIN) -> list[dict[str, Any]] | None:
    """One row per (data set, model): estimates of `SHOWN` and the comparisons with the controls, corrected
    together; None when the experiment has one data set."""
    groups = data_groups(exp)
    if groups is None:
        return None
    rows, comparisons = [], []
    for data, group in groups:
        for label in labels_of(group):
            summaries = {d: c.summary for d, _, c in members(group, label) if c.summary is not None}
            row: dict[str, Any] = {"data": data, "label": label, "draws": len(summaries), "controls": []}
            row.update({m: pooled_estimate(summaries, m) if summaries else None for m, _ in SHOWN + STATISTICS})
            mcc = drawn_values(summaries, "mcc")
            for control, values in (
                ("untrained", drawn_values(summaries, "mcc_untrained")),
                ("observations", _observations(summaries)),
            ):
                if not values:  # FastICA has no untrained network: nothing to compare, and nothing to correct
                    row["controls"].append({"a": label, "b": control, "difference": None, "verdict": "no such control"})
                    continue
                entry = _comparison(label, control, compare(mcc, values, margin) if mcc else None, margin)
                row["controls"].append(entry)
                comparisons.append(entry)
            rows.append(row)
    correct(comparisons)
    return rows


def _comparison(label: str, control: str, found: Any, margin: float | None) -> dict[str, Any]:
    return {
        "a": label,
        "b": control,
        "difference": None if found is None else found.difference,
        "ci_low": None if found is None else found.low,
        "ci_high": None if found is None else found.high,
        "p_value": None if found is None else found.p_value,
        "p_equivalent": None if found is None else found.p_equivalent,
        "margin": margin,
        "higher_is_better": True,
    }


def _estimate_text(found: dict[str, Any] | None) -> str:
    if found is None:
        return "-"
    return f"{found['mean']:.3f} [{found['low']:.2f}, {found['high']:.2f}]"


def _control_text(entry: dict[str, Any]) -> str:
    """The difference from the control, its interval and the verdict in the control's terms: above, below,
    equivalent within the margin, or inconclusive."""
    if entry["difference"] is None:
        return entry["verdict"]
    said = {f"{entry['a']} better": "above", f"{entry['b']} better": "below"}.get(entry["verdict"], entry["verdict"])
    return f"{entry['difference']:+.3f} [{entry['ci_low']:+.2f}, {entry['ci_high']:+.2f}]: {said}"


def benchmark_table(
    exp: Experiment, margin: float | None = DEFAULT_MARGIN
) -> tuple[list[str], list[list[str]], int] | None:
    """The table's header and rows (strings), and how many comparisons its correction covered; None when the
    experiment has one data set."""
    rows = benchmark_rows(exp, margin)
    if rows is None:
        return None
    shown = SHOWN + tuple((m, title) for m, title in STATISTICS if any(r[m] is not None for r in rows))
    header = ["data", "model", "draws", *(title for _, title in shown), "MCC − untrained", "MCC − observations"]
    body = [
        [
            r["data"],
            r["label"],
            str(r["draws"]),
            *(_estimate_text(r[m]) for m, _ in shown),
            *(_control_text(c) for c in r["controls"]),
        ]
        for r in rows
    ]
    return header, body, sum(1 for r in rows for c in r["controls"] if "p_value" in c)
