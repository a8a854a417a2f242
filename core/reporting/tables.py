"""The tables of `ica report`: every metric per setting and model (median [q25, q75] n=..., equal to
summary.json's statistics), the reference values computed once per run (Fig. 2's floors), and the list of
failed seeds, so a failure is always spelled out and never silently dropped.
"""

from __future__ import annotations

from typing import Any

from ica.reporting.read import Cell, Experiment, Run

Table = tuple[list[str], list[list[str]]]

METRIC_ORDER = ("mcc", "cca_mcc_in", "cca_mcc_out", "grid_mcc_in", "grid_mcc_out", "cluster_ari", "cluster_nmi",
                "cluster_ari_truth", "cluster_nmi_truth", "elbo_train", "elbo_eval", "bpd_train", "bpd_eval")
METRIC_NAMES = {
    "mcc": "MCC to sources",
    "cca_mcc_in": "CCA-MCC in sample",
    "cca_mcc_out": "CCA-MCC out of sample",
    "grid_mcc_in": "grid MCC in sample",
    "grid_mcc_out": "grid MCC out of sample",
    "cluster_ari": "cluster ARI",
    "cluster_nmi": "cluster NMI",
    "cluster_ari_truth": "ARI to data's u",
    "cluster_nmi_truth": "NMI to data's u",
    "elbo_train": "ELBO train (nats/example)",
    "elbo_eval": "ELBO eval (nats/example)",
    "bpd_train": "bits/dim train",
    "bpd_eval": "bits/dim eval",
}


def fmt_number(value: float) -> str:
    return f"{value:.4g}"


def fmt_stats(stats: dict[str, Any] | None) -> str:
    """'0.6796 [0.6243, 0.7078] n=3' from summary.json's statistics, failures spelled out."""
    if not stats:
        return "-"
    failed = stats.get("n_failed", 0)
    tail = f" ({failed} failed)" if failed else ""
    if stats.get("median") is None:
        return f"all failed n={stats['n']}"
    return (f"{fmt_number(stats['median'])} [{fmt_number(stats['q25'])}, {fmt_number(stats['q75'])}] "
            f"n={stats['n']}{tail}")


def table_metrics(exp: Experiment) -> list[str]:
    """Metrics of the summaries, the paper's first, then the rest; per-position grid values left out."""
    found = {m for r in exp.runs for c in r.cells for m in (c.summary or {}).get("stats", {}) if "[" not in m}
    return [m for m in METRIC_ORDER if m in found] + sorted(found - set(METRIC_ORDER))


def _setting(exp: Experiment, run: Run | None = None) -> list[str]:
    """The setting column, which a lone run has no use for: its header (no run given), or this run's cell."""
    if exp.kind == "run":
        return []
    return ["setting"] if run is None else [run.setting]


def results_table(exp: Experiment) -> Table:
    metrics = table_metrics(exp)
    header = _setting(exp) + ["model", "seeds"] + [METRIC_NAMES.get(m, m) for m in metrics]
    rows = []
    for run in exp.runs:
        for cell in run.cells:
            stats = (cell.summary or {}).get("stats", {})
            row = _setting(exp, run) + [_model_text(cell), seed_status_text(cell)]
            row += [fmt_stats(stats.get(m)) if cell.summary else "(no summary yet)" for m in metrics]
            rows.append(row)
    return header, rows


def reference_table(exp: Experiment) -> Table | None:
    """One value per run (e.g. MCC of the observations themselves, of FastICA): floors for Fig. 2."""
    rows = []
    for run in exp.runs:
        values: dict[str, Any] = {}
        for cell in run.cells:
            values.update((cell.summary or {}).get("cell", {}))
        rows += [_setting(exp, run) + [k, "failed" if v is None else fmt_number(v)]
                 for k, v in values.items() if not isinstance(v, (dict, list))]
    if not rows:
        return None
    return _setting(exp) + ["quantity", "value"], rows


def seed_status_text(cell: Cell) -> str:
    parts = [f"{cell.count('finished')} finished"]
    for status in ("failed", "running", "not started"):
        if cell.count(status):
            parts.append(f"{cell.count(status)} {status}")
    return f"{len(cell.seeds)}: " + ", ".join(parts)


def _model_text(cell: Cell) -> str:
    return cell.label if cell.model == cell.label else f"{cell.label} ({cell.model})"


def failures(exp: Experiment) -> list[str]:
    """One line per failed seed, with where it ran and its error."""
    out = []
    for run in exp.runs:
        for cell in run.cells:
            for seed in cell.seeds:
                if seed.status == "failed":
                    where = f"{run.setting}, " if run.setting else ""
                    out.append(f"{where}{cell.label} seed {seed.seed}: {seed.error or 'failed'}")
    return out
