"""The `clusters` metric: ARI and NMI checked by hand and against scikit-learn, and its records in a run."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

import ica
from ica.evaluation.seeds import Evaluation, SeedOutcome, summarise
from ica.plugins.metrics.clusters import (
    ClusterReproducibility,
    ClustersOptions,
    contingency_table,
    normalized_mutual_information,
)
from ica.components.protocols import DataSplits, Split

LN2, LN3 = math.log(2), math.log(3)


# ------------------------------------------------------------------------------ hand-computed cases
def test_two_clusters_against_three():
    """a = 000111, b = 001122: C = [[2, 1, 0], [0, 1, 2]], N = 6, T = C(6,2) = 15 point pairs.
    Pairs together in both: I = C(2,2) + C(1,2) + C(1,2) + C(2,2) = 1 + 0 + 0 + 1 = 2.
    Row sums 3, 3: A = 3 + 3 = 6. Column sums 2, 2, 2: B = 1 + 1 + 1 = 3.
    ARI = (I - AB/T) / ((A+B)/2 - AB/T) = (2 - 18/15) / (4.5 - 18/15) = 0.8 / 3.3 = 8/33.
    MI: the two cells of 2: p = 1/3, p_a p_b = 1/2 * 1/3 = 1/6, each 1/3 ln 2; the cells of 1: p = 1/6 = p_a p_b,
    0. MI = 2/3 ln 2; H(a) = ln 2, H(b) = ln 3; NMI = (2/3 ln 2) / ((ln 2 + ln 3)/2) = 4 ln 2 / (3 ln 6)."""
    a, b = [0, 0, 0, 1, 1, 1], [0, 0, 1, 1, 2, 2]
    assert contingency_table(a, b).tolist() == [[2, 1, 0], [0, 1, 2]]
    assert adjusted_rand_score(a, b) == pytest.approx(8 / 33, abs=1e-12)
    assert normalized_mutual_information(a, b) == pytest.approx(4 * LN2 / (3 * math.log(6)), abs=1e-12)


def test_independent_labelings():
    """a = 0011, b = 0101: C = [[1, 1], [1, 1]], T = 6, I = 0, A = 1 + 1 = 2, B = 2.
    ARI = (0 - 4/6) / (2 - 4/6) = -0.5 (below chance). Every cell has p = 1/4 = p_a p_b, so MI = 0, NMI = 0."""
    a, b = [0, 0, 1, 1], [0, 1, 0, 1]
    assert adjusted_rand_score(a, b) == pytest.approx(-0.5, abs=1e-12)
    assert normalized_mutual_information(a, b) == 0.0


def test_a_merge_of_two_clusters():
    """a = 001122, b = 001111 (b merges a's clusters 1 and 2): C = [[2, 0], [0, 2], [0, 2]], T = 15.
    I = 1 + 1 + 1 = 3, A = 3 * C(2,2) = 3, B = C(2,2) + C(4,2) = 1 + 6 = 7.
    ARI = (3 - 21/15) / (5 - 21/15) = 1.6 / 3.6 = 4/9.
    b is a function of a, so MI = H(b) = ln 3 - 2/3 ln 2; H(a) = ln 3; NMI = 2 H(b) / (H(a) + H(b))."""
    a, b = [0, 0, 1, 1, 2, 2], [0, 0, 1, 1, 1, 1]
    h_b = LN3 - 2 / 3 * LN2
    assert adjusted_rand_score(a, b) == pytest.approx(4 / 9, abs=1e-12)
    assert normalized_mutual_information(a, b) == pytest.approx(2 * h_b / (LN3 + h_b), abs=1e-12)


def test_single_cluster_conventions_follow_sklearn():
    """One cluster against a split: C = [[2, 2]], T = 6, I = 2, A = C(4,2) = 6, B = 2: ARI = (2-2)/(4-2) = 0;
    H(a) = 0 so MI = 0 and NMI = 0. Both single-cluster (0/0 in both formulas) and both all-singletons
    (ARI's 0/0): identical partitions, 1.0. One cluster against all singletons: I = 0, A = 3, B = 0: ARI 0."""
    cases = [
        ([0, 0, 0, 0], [0, 0, 1, 1], 0.0, 0.0),
        ([0, 0, 0], [5, 5, 5], 1.0, 1.0),
        ([0, 1, 2], [2, 0, 1], 1.0, 1.0),
        ([0, 0, 0], [0, 1, 2], 0.0, 0.0),
        ([7], [3], 1.0, 1.0),
    ]
    for a, b, ari, nmi in cases:
        assert adjusted_rand_score(a, b) == ari, (a, b)
        assert normalized_mutual_information(a, b) == nmi == pytest.approx(normalized_mutual_info_score(a, b)), (a, b)


def test_lengths_must_match():
    with pytest.raises(ValueError, match="different lengths"):
        normalized_mutual_information([0, 1, 1], [0, 1])


# -------------------------------------------------------------------------- independent reference
@pytest.mark.parametrize("n, ka, kb", [(50, 2, 2), (200, 5, 3), (300, 10, 10), (40, 1, 4), (120, 30, 2)])
def test_agrees_with_sklearn_on_random_labelings(n, ka, kb):
    rng = np.random.default_rng(n + ka + kb)
    for _ in range(5):
        a = rng.integers(0, ka, n)
        b = np.where(rng.random(n) < 0.5, a % kb, rng.integers(0, kb, n))  # partly dependent on a
        assert normalized_mutual_information(a, b) == pytest.approx(normalized_mutual_info_score(a, b), abs=1e-10)


def test_relabelling_clusters_gives_exactly_one():
    rng = np.random.default_rng(1)
    a = rng.integers(0, 6, 500)
    relabel = np.array([100, -3, 7, 42, 0, 9])  # a permutation onto arbitrary, unsorted label values
    b = relabel[a]
    assert adjusted_rand_score(a, b) == 1.0
    assert normalized_mutual_information(a, b) == 1.0
    b[0] = 1  # one point moved to a cluster of its own: no longer identical
    assert adjusted_rand_score(a, b) < 1.0 and normalized_mutual_information(a, b) < 1.0


# ------------------------------------------------------------------------------------------ metric
N = 60


def data(with_u: bool = True) -> DataSplits:
    split = Split(torch.zeros(N, 2), torch.arange(N) % 3 if with_u else None)
    return DataSplits(split, split, n_u=3 if with_u else None)


def finished(seed: int, assignments) -> SeedOutcome:
    return SeedOutcome(seed, "finished", np.zeros((N, 2)), None if assignments is None else np.asarray(assignments))


def by_key(records):
    return {(r.metric, r.seed if r.seed is not None else r.pair): r for r in records}


def test_pairs_and_truth_records():
    truth = np.arange(N) % 3
    outcomes = [finished(0, truth), finished(1, (truth + 1) % 3), finished(2, np.zeros(N, int))]
    records = by_key(ClusterReproducibility(ClustersOptions())(Evaluation(data(), "eval", outcomes)))
    assert records[("cluster_ari", (0, 1))].value == 1.0 and records[("cluster_nmi", (0, 1))].value == 1.0
    assert records[("cluster_ari", (0, 2))].value == 0.0 and records[("cluster_nmi", (1, 2))].value == 0.0
    assert records[("cluster_ari_truth", 1)].value == 1.0 and records[("cluster_nmi_truth", 2)].value == 0.0
    assert len(records) == 2 * 3 + 2 * 3


def test_the_records_are_scikit_learns_ari_and_this_nmi():
    rng = np.random.default_rng(3)
    truth = np.arange(N) % 3
    labels = [rng.integers(0, 4, N), np.where(rng.random(N) < 0.5, truth, rng.integers(0, 5, N))]
    outcomes = [finished(seed, lab) for seed, lab in enumerate(labels)]
    records = by_key(ClusterReproducibility(ClustersOptions())(Evaluation(data(), "eval", outcomes)))
    assert records[("cluster_ari", (0, 1))].value == adjusted_rand_score(*labels)
    assert records[("cluster_nmi", (0, 1))].value == normalized_mutual_information(*labels)
    assert records[("cluster_ari_truth", 1)].value == adjusted_rand_score(labels[1], truth)
    assert 0 < records[("cluster_ari_truth", 1)].value < 1


def test_a_failed_seed_gives_counted_nan_records():
    truth = np.arange(N) % 3
    outcomes = [finished(0, truth), SeedOutcome(1, "failed", error="diverged"), finished(2, truth)]
    records = ClusterReproducibility(ClustersOptions())(Evaluation(data(), "eval", outcomes))
    failed = [r for r in records if r.seed == 1 or (r.pair and 1 in r.pair)]
    assert len(failed) == 2 * 2 + 2  # pairs (0,1) and (1,2), each ARI and NMI; and its two truth records
    assert all(math.isnan(r.value) and "diverged" in r.error for r in failed)
    stats = summarise(records)["stats"]
    assert stats["cluster_ari"]["n"] == 3 and stats["cluster_ari"]["n_failed"] == 2
    assert stats["cluster_ari"]["median"] == 1.0
    assert stats["cluster_nmi_truth"]["n"] == 3 and stats["cluster_nmi_truth"]["n_failed"] == 1


def test_unusable_finished_seeds_are_failures_too():
    truth = np.arange(N) % 3
    diverged = SeedOutcome(1, "finished", np.full((N, 2), np.nan), truth)
    outcomes = [finished(0, truth), diverged, finished(2, None), finished(3, truth[:10])]
    records = by_key(ClusterReproducibility(ClustersOptions())(Evaluation(data(), "eval", outcomes)))
    assert "not finite" in records[("cluster_ari", (0, 1))].error
    assert "no cluster assignments" in records[("cluster_nmi", (0, 2))].error
    assert "10 assignments for 60" in records[("cluster_ari_truth", 3)].error
    assert all(
        math.isnan(r.value)
        for k, r in records.items()
        if k != ("cluster_ari_truth", 0) and k != ("cluster_nmi_truth", 0)
    )


def test_no_assignments_no_records_and_no_truth_without_labels():
    metric = ClusterReproducibility(ClustersOptions())
    assert metric.requires_assignments is True
    none = [finished(0, None), finished(1, None), SeedOutcome(2, "failed", error="x")]
    assert metric(Evaluation(data(), "eval", none)) == []
    assert metric(Evaluation(data(), "eval", [SeedOutcome(0, "failed", assignments=np.zeros(N, int))])) == []
    records = metric(Evaluation(data(with_u=False), "eval", [finished(0, np.arange(N) % 2), finished(1, None)]))
    assert {r.metric for r in records} == {"cluster_ari", "cluster_nmi"}


@pytest.mark.slow
def test_end_to_end_run(tiny_spec, tmp_path):
    tiny_spec["evaluation"] = {"metrics": [{"name": "clusters"}]}
    summary = ica.run(tiny_spec, out=tmp_path / "run")
    vade, ivae = summary["cells"]["vade"], summary["cells"]["ivae"]
    seeds = sorted(int(s) for s in vade["status"])
    assert [p["seeds"] for p in vade["pairs"]] == [seeds]
    assert 0.0 <= vade["pairs"][0]["cluster_nmi"] <= 1.0
    assert -1.0 <= vade["pairs"][0]["cluster_ari"] <= 1.0
    assert vade["stats"]["cluster_ari"]["n"] == 1 and vade["stats"]["cluster_ari"]["n_failed"] == 0
    assert len(vade["seeds"]) == 2 and all("cluster_ari_truth" in v for v in vade["seeds"].values())
    # iVAE's assignments are the given segment labels: trivially 1 against the truth and between seeds.
    assert all(v["cluster_ari_truth"] == 1.0 == v["cluster_nmi_truth"] for v in ivae["seeds"].values())
    assert ivae["pairs"][0]["cluster_ari"] == 1.0
