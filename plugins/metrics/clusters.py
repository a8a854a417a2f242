"""`clusters`: does a clustering model learn the same u-partition on every seed? (§3, Fig. 1)

The paper's argument (§3: "the same DGM clustering architecture will learn highly-similar u
representations when retrained with different initialisations") is that the learnt clustering acts as
the auxiliary u of an iVAE, so the identifiability of z rests on the partition being reproducible. This
metric measures that directly on the evaluation points, from each seed's discrete assignments:

- ``cluster_ari`` / ``cluster_nmi`` for every pair of seeds (``pair=(a, b)``, as `cca_mcc`);
- ``cluster_ari_truth`` / ``cluster_nmi_truth`` per seed against the data set's own u (TCL segment,
  image class) where it has one. §3 says the learnt u need *not* match these labels (any informative,
  consistent partition will do), so these say what was learnt, not whether it worked.

Both scores are invariant to relabelling clusters and allow different numbers of clusters per seed.
ARI is scikit-learn's ``adjusted_rand_score`` (Hubert and Arabie's adjusted Rand index). NMI is the mutual
information divided by the *arithmetic* mean of the two entropies, as scikit-learn's
``normalized_mutual_info_score`` with its default ``average_method="arithmetic"``, but computed here: that one
agrees to 1e-15, not bit for bit (most records would change in their last digit), and gives identical partitions
up to 1.0000000000000009 where this gives exactly 1.0 (`benchmarks/cluster_scores.py` measures both). Edge cases
follow scikit-learn: two identical partitions (up to relabelling) score 1.0 on both, including both putting every
point in one cluster or every point in its own; one single-cluster labelling against any other scores 0.0.

What the numbers mean per model: VaDE's and GMM-Flow's assignments are the argmax of p(u|z), learnt,
so both pair and truth scores are informative. iVAE's assignments ARE the given u, so its pair and truth
scores are trivially 1.0: the reference a learnt clustering is compared with, not a finding. The
Rademacher prior (App. C) hashes x with a projection drawn per seed and never trained, so its pair
scores measure how much two independent random hashes agree. Models without a discrete u give no
records (``requires_assignments``). A failed seed gives NaN records with an error for every pair it is
in and for its truth records, so every median is over the full S(S-1)/2 pairs.

A continuous u (``DataSplits.u_dim``) is no partition: the truth scores are skipped, and so are the pair scores of
a model that assigns nothing because its u is given and continuous (iVAE). A skipped score is one per-cell record,
NaN with the reason (`CONTINUOUS_U`), so that summary.json says why it is missing; no seed counts as failed.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from ica.plugin import BuildContext, Evaluation, Measure, hookimpl, MetricRecord, Options, SeedOutcome

MEASURES = (  # between pairs of seeds, then each seed against the data set's u
    Measure("cluster_ari", "cluster ARI", order=40, controls=("untrained",), headline=True),
    Measure("cluster_nmi", "cluster NMI", order=41, controls=("untrained",)),
    Measure("cluster_ari_truth", "ARI to data's u", "ARI to u", order=42, controls=("untrained",)),
    Measure("cluster_nmi_truth", "NMI to data's u", "NMI to u", order=43, controls=("untrained",)),
)


# ------------------------------------------------------------------------------------ the scores
def contingency_table(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``C[i, j]`` = number of points with the i-th distinct label of ``a`` and the j-th of ``b`` (int64)."""
    a, b = np.asarray(a).ravel(), np.asarray(b).ravel()
    if a.shape != b.shape:
        raise ValueError(f"the labelings have different lengths: {a.size} and {b.size}")
    _, ia = np.unique(a, return_inverse=True)
    _, ib = np.unique(b, return_inverse=True)
    table = np.zeros((int(ia.max(initial=-1)) + 1, int(ib.max(initial=-1)) + 1), dtype=np.int64)
    np.add.at(table, (ia, ib), 1)
    return table


def _entropy(counts: np.ndarray, n: int) -> float:
    p = counts[counts > 0] / n
    return float(-(p * np.log(p)).sum())


def normalized_mutual_information(a: np.ndarray, b: np.ndarray) -> float:
    """I(a; b) / ((H(a) + H(b)) / 2): scikit-learn's ``normalized_mutual_info_score`` with its default
    arithmetic mean. Natural logs (the base cancels). Identical partitions give exactly 1.0 (both
    single-cluster included: sklearn's 0/0 convention); otherwise zero information gives 0.0."""
    table = contingency_table(a, b)
    n = int(table.sum())
    if _same_partition(table):
        return 1.0
    rows, cols = table.sum(1), table.sum(0)
    if len(rows) == 1 or len(cols) == 1:
        return 0.0  # one side has zero entropy, so I(a; b) = 0 exactly (rounding would leave ~1e-16 / ~1e-16)
    i, j = np.nonzero(table)
    nij = table[i, j].astype(float)
    mi = float((nij / n * (np.log(nij) + math.log(n) - np.log(rows[i]) - np.log(cols[j]))).sum())
    if mi <= 0.0:
        return 0.0
    mean_entropy = (_entropy(rows, n) + _entropy(cols, n)) / 2
    return float(min(1.0, mi / mean_entropy))


def _same_partition(table: np.ndarray) -> bool:
    """Every row and every column of the contingency table has exactly one non-zero cell."""
    nonzero = table > 0
    return bool((nonzero.sum(0) == 1).all() and (nonzero.sum(1) == 1).all())


# ------------------------------------------------------------------------------------ the metric
CONTINUOUS_U = "needs discrete u; this data set's u is continuous"
"""Why a cluster score is skipped on data with a continuous u."""
PAIR_KEYS, TRUTH_KEYS = ("cluster_ari", "cluster_nmi"), ("cluster_ari_truth", "cluster_nmi_truth")


def skipped(keys: tuple[str, ...], evaluation: Evaluation, why: str = CONTINUOUS_U) -> list[MetricRecord]:
    """One per-cell NaN record per key, with ``why``: said once for the trained seeds, not for a control."""
    return [] if evaluation.control is not None else [MetricRecord(key, math.nan, error=why) for key in keys]


class ClustersOptions(Options):
    """No options: the scores are fixed (ARI; NMI with the arithmetic mean)."""


class ClusterReproducibility:
    """Pairwise-seed and to-truth ARI and NMI of the discrete assignments u."""

    requires_sources = False
    controlled = True  # the untrained networks' partitions are the null control
    requires_assignments = True  # left out of a default metric list when no finished seed has assignments

    def __init__(self, options: ClustersOptions):
        self.options = options

    def __call__(self, evaluation: Evaluation) -> list[MetricRecord]:
        outcomes = evaluation.seeds
        continuous = evaluation.data.u_dim is not None
        if not any(o.status == "finished" and o.assignments is not None for o in outcomes):
            return skipped(PAIR_KEYS + TRUTH_KEYS, evaluation) if continuous else []
        n = len(evaluation.points)
        labels = {o.seed: _labels(o, n) for o in outcomes}  # seed -> (assignments or None, why not)
        records = []
        for a, b in itertools.combinations([o.seed for o in outcomes], 2):
            (la, why_a), (lb, why_b) = labels[a], labels[b]
            why = None if la is not None and lb is not None else f"seed {a if la is None else b}: {why_a or why_b}"
            records += _scored("cluster_ari", "cluster_nmi", la, lb, why, pair=(a, b))
        truth = evaluation.points.u
        if continuous:
            records += skipped(TRUTH_KEYS, evaluation)
        elif truth is not None:
            u = np.asarray(truth.cpu().numpy() if hasattr(truth, "cpu") else truth).ravel()
            for o in outcomes:
                la, why = labels[o.seed]
                records += _scored("cluster_ari_truth", "cluster_nmi_truth", la, u, why, seed=o.seed)
        return records


def _labels(outcome: SeedOutcome, n: int) -> tuple[np.ndarray | None, str | None]:
    """A seed's assignments if they can be scored, else (None, why not)."""
    if outcome.status != "finished":
        return None, f"the seed {outcome.status}" + (f": {outcome.error}" if outcome.error else "")
    if outcome.assignments is None:
        return None, "the seed has no cluster assignments"
    labels = np.asarray(outcome.assignments).ravel()
    if labels.size != n:
        return None, f"the seed has {labels.size} assignments for {n} evaluation points"
    if labels.dtype.kind == "f" and not np.isfinite(labels).all():
        return None, "the seed's assignments are not finite"
    if outcome.latents is not None and not np.isfinite(outcome.latents).all():
        return None, "the seed's latents are not finite, so its assignments (argmax p(u|z)) mean nothing"
    return labels, None


def _scored(
    ari_name: str, nmi_name: str, a: np.ndarray | None, b: np.ndarray | None, why: str | None, **where
) -> list[MetricRecord]:
    if why is not None:
        return [
            MetricRecord(ari_name, math.nan, error=why, **where),
            MetricRecord(nmi_name, math.nan, error=why, **where),
        ]
    if a is None or b is None:  # `_labels` gives a reason with every missing side
        raise ValueError(f"{ari_name}: assignments missing without a reason")
    from sklearn.metrics import adjusted_rand_score  # imported on use: loading the plugins stays quick

    return [
        MetricRecord(ari_name, float(adjusted_rand_score(a, b)), **where),
        MetricRecord(nmi_name, normalized_mutual_information(a, b), **where),
    ]


def build(options: ClustersOptions, ctx: BuildContext) -> ClusterReproducibility:
    """ARI and NMI of the learnt u between seeds and against the data set's u."""
    return ClusterReproducibility(options)


@hookimpl
def ica_register(register):
    register(
        "metric",
        "clusters",
        ClustersOptions,
        build,
        measures=MEASURES,
        description="ARI/NMI of the discrete u between seeds and to the true labels (§3).",
    )
