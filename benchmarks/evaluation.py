"""Evaluation speed: pairwise CCA-MCC between seeds, `ica`'s closed form against scikit-learn's CCA.

    python -m benchmarks.evaluation [--seeds 10] [--dim 200] [--points 10000] [--sklearn-pairs 1]

The latents are synthetic: a shared linear signal plus independent noise per seed, so every pair has a
known, strong alignment. `ica.evaluation.cca_pairs.pairwise_cca_mcc` does all S(S-1)/2 pairs; scikit-learn's
iterative `CCA` (the straightforward implementation many published scripts use) is timed on the first
``--sklearn-pairs`` pairs and extrapolated per pair, and its out-of-sample MCC is printed beside ours
so the two can be compared on the same data.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from ica.evaluation.correlation import mcc
from ica.evaluation.cca_pairs import pairwise_cca_mcc


def sklearn_cca_mcc(z1: np.ndarray, z2: np.ndarray, n_fit: int, components: int) -> tuple[float, float]:
    from sklearn.cross_decomposition import CCA

    cca = CCA(n_components=components, max_iter=500)
    cca.fit(z1[:n_fit], z2[:n_fit])
    c1, c2 = cca.transform(z1, z2)
    return mcc(c1[:n_fit], c2[:n_fit]), mcc(c1[n_fit:], c2[n_fit:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--dim", type=int, default=200)
    parser.add_argument("--points", type=int, default=10_000)
    parser.add_argument("--sklearn-pairs", type=int, default=1)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    signal = rng.normal(size=(args.points, args.dim))
    latents = [
        signal @ rng.normal(size=(args.dim, args.dim)) + 0.5 * rng.normal(size=(args.points, args.dim))
        for _ in range(args.seeds)
    ]
    pairs = args.seeds * (args.seeds - 1) // 2

    start = time.perf_counter()
    ours = pairwise_cca_mcc(latents)
    ica_seconds = time.perf_counter() - start
    print(
        f"ica pairwise_cca_mcc: {pairs} pairs, d={args.dim}, N={args.points}: {ica_seconds:.2f} s "
        f"({ica_seconds / pairs * 1e3:.0f} ms per pair)"
    )

    timed = []
    for i, j in list(ours)[: args.sklearn_pairs]:
        start = time.perf_counter()
        in_sample, out_of_sample = sklearn_cca_mcc(latents[i], latents[j], args.points // 2, args.dim)
        timed.append(time.perf_counter() - start)
        print(
            f"  pair {i}-{j}: ica in/out {ours[(i, j)].in_sample:.4f}/{ours[(i, j)].out_of_sample:.4f}, "
            f"scikit-learn in/out {in_sample:.4f}/{out_of_sample:.4f}, scikit-learn took {timed[-1]:.1f} s"
        )
    if timed:
        per_pair = float(np.mean(timed))
        print(
            f"scikit-learn CCA: {per_pair:.1f} s per pair, {per_pair * pairs:.0f} s projected for {pairs} pairs; "
            f"ratio to ica: {per_pair * pairs / ica_seconds:.0f}x"
        )


if __name__ == "__main__":
    main()
