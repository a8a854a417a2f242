"""The `clusters` metric's NMI, computed in `ica.plugins.metrics.clusters`, beside scikit-learn's
``normalized_mutual_info_score`` (the same arithmetic-mean normalisation): how often they agree bit for bit,
how far apart they are, what each gives two identical partitions, and how long each takes.

    OMP_NUM_THREADS=1 python -m benchmarks.cluster_scores [--points 5000] [--clusters 40] [--pairs 200]

Why the metric keeps its own NMI: a run's records must not change, and scikit-learn's differs from it in the
last digits of most values and gives identical partitions values above 1. ARI has no such gap (the metric uses
scikit-learn's ``adjusted_rand_score``); it is timed here too, beside the integer formula it replaced.
"""

from __future__ import annotations

import argparse
import time
from typing import Callable

import numpy as np

from ica.plugins.metrics.clusters import contingency_table, normalized_mutual_information


def exact_ari(a: np.ndarray, b: np.ndarray) -> float:
    """Adjusted Rand index from the contingency table in exact integers (one rounding, at the division)."""
    table = contingency_table(a, b)
    pairs = lambda counts: int((counts.astype(np.int64) * (counts - 1) // 2).sum())  # noqa: E731
    together, in_a, in_b = pairs(table), pairs(table.sum(1)), pairs(table.sum(0))
    if together == in_a == in_b:
        return 1.0
    total = int(table.sum()) * (int(table.sum()) - 1) // 2
    return float(2 * (total * together - in_a * in_b) / (total * (in_a + in_b) - 2 * in_a * in_b))


def labelings(rng: np.random.Generator, n: int, k: int, count: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``count`` pairs of labelings of ``n`` points into ``k`` clusters, the second partly a relabelling of the
    first (as two seeds of one model)."""
    out = []
    for _ in range(count):
        a = rng.integers(0, k, n)
        out.append((a, np.where(rng.random(n) < rng.random(), (a * 7 + 3) % k, rng.integers(0, k, n))))
    return out


def identical(rng: np.random.Generator, count: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``count`` identical partitions under two labellings, from 50 points in 30 clusters (many small ones, where
    rounding shows) to 5000 in 40."""
    sizes = [(50, 30), (200, 60), (5000, 40)]
    out = []
    for i in range(count):
        n, k = sizes[i % len(sizes)]
        a = rng.integers(0, k, n)
        out.append((a, a * 13 + 5))
    return out


def timed(score: Callable, cases: list) -> float:
    start = time.perf_counter()
    for a, b in cases:
        score(a, b)
    return (time.perf_counter() - start) / len(cases) * 1e3


def main() -> None:
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=5000)
    parser.add_argument("--clusters", type=int, default=40)
    parser.add_argument("--pairs", type=int, default=200)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    distinct, same = labelings(rng, args.points, args.clusters, args.pairs), identical(rng, args.pairs)
    cases = distinct + same
    for name, ours, theirs in (
        ("NMI", normalized_mutual_information, normalized_mutual_info_score),
        ("ARI", exact_ari, adjusted_rand_score),
    ):
        mine, sk = [ours(a, b) for a, b in distinct], [float(theirs(a, b)) for a, b in distinct]
        equal = sum(x == y for x, y in zip(mine, sk))
        gap = max(abs(x - y) for x, y in zip(mine, sk))
        print(
            f"{name}: {equal} of {len(distinct)} values equal bit for bit, largest difference {gap:.1e}; "
            f"identical partitions: ica {max(ours(a, b) for a, b in same)!r}, scikit-learn "
            f"{max(float(theirs(a, b)) for a, b in same)!r} (largest of {len(same)})"
        )
        print(
            f"     mean time per score over all {len(cases)}: ica {timed(ours, cases):.2f} ms, "
            f"scikit-learn {timed(theirs, cases):.2f} ms"
        )


if __name__ == "__main__":
    main()
