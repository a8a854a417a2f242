"""The tests and intervals `ica` prints hold their stated error rates: checked by simulation.

Each scenario draws many replicate experiments at once (vectorised) from a model with a known truth and runs
them through the very functions the commands use (`ica.evaluation.inference`). With R replicates the
Monte-Carlo standard error of a rate near 0.05 is about sqrt(0.05 * 0.95 / R); the bounds below are nominal
± `TOLERANCE` such errors. `calibration_table` gives the numbers the docs quote.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from ica.evaluation.corrections import adjust
from ica.evaluation.inference import Moments, draw_moments, pair_moments, seed_moments, t_test, welch

R = 4000
ALPHA = 0.05
TOLERANCE = 3.5
MC = math.sqrt(ALPHA * (1 - ALPHA) / R)


def per_seed(rng, n, shift=0.0, draws=None, difficulty=0.1):
    """Per-seed values ``[R, n]`` (or ``[R, D, n]`` with each data set's own ``difficulty``): MCC-like,
    0.7 ± 0.05 between seeds."""
    if draws is None:
        return 0.7 + shift + 0.05 * rng.standard_normal((R, n))
    draw = difficulty * rng.standard_normal((R, draws, 1))
    return 0.7 + shift + draw + 0.05 * rng.standard_normal((R, draws, n))


def per_pair(rng, n, shift=0.0, seed_sd=0.05, pair_sd=0.015, leading=()):
    """Per-pair values ``[..., n, n]``: pair (i, j) = 0.8 + shift + a_i + a_j + e_ij, a seed's effect a_i
    shared by its n - 1 pairs (one lucky seed lifts all of them), e_ij the pair's own noise."""
    a = seed_sd * rng.standard_normal((R, *leading, n))
    e = np.triu(pair_sd * rng.standard_normal((R, *leading, n, n)), 1)
    return 0.8 + shift + a[..., :, None] + a[..., None, :] + e + np.swapaxes(e, -1, -2)


def one_draw(kind, rng, n, shift):
    """(comparison moments, truth) for one draw of model a (shifted) against model b."""
    if kind == "seed":
        return welch(seed_moments(per_seed(rng, n, shift)), seed_moments(per_seed(rng, n)))
    return welch(pair_moments(per_pair(rng, n, shift)), pair_moments(per_pair(rng, n)))


def three_draws(kind, rng, n, shift, draws=3):
    """The paired comparison over draws: each draw's difficulty shared by both models, plus a draw-by-model
    interaction (the models react differently to each data set)."""
    shared = 0.1 * rng.standard_normal((R, draws))
    interaction = 0.02 * rng.standard_normal((R, draws, 2))
    if kind == "seed":
        a = seed_moments(per_seed(rng, n, shift, draws, difficulty=0.0)).mean
        b = seed_moments(per_seed(rng, n, 0.0, draws, difficulty=0.0)).mean
    else:
        a = pair_moments(per_pair(rng, n, shift, leading=(draws,))).mean
        b = pair_moments(per_pair(rng, n, leading=(draws,))).mean
    return draw_moments(a + shared + interaction[..., 0] - (b + shared + interaction[..., 1]))


SCHEMES = {"one draw": one_draw, "3 draws": three_draws}


def rates(kind, scheme, n, shift, seed=0, margin=None):
    m = SCHEMES[scheme](kind, np.random.default_rng(seed), n, shift)
    test = t_test(m, 0.95, margin)
    return {
        "flagged": float(np.mean(test.p < ALPHA)),
        "covered": float(np.mean((test.low <= shift) & (shift <= test.high))),
        "equivalent": float(np.mean(test.p_equivalent < ALPHA)) if margin else None,
    }


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("kind", ["seed", "pair"])
@pytest.mark.parametrize("n", [5, 10])
def test_with_no_difference_the_test_flags_at_most_alpha_and_the_interval_covers(kind, scheme, n):
    found = rates(kind, scheme, n, 0.0, seed=n)
    assert found["flagged"] <= ALPHA + TOLERANCE * MC, found
    assert found["covered"] >= 1 - ALPHA - TOLERANCE * MC, found
    if kind == "seed" or scheme == "3 draws":  # exact t references: the rate is nominal, not only below it
        assert found["flagged"] >= ALPHA - TOLERANCE * MC, found


@pytest.mark.parametrize(
    "kind, scheme, n, shift, floor",
    [
        ("seed", "one draw", 5, 0.1, 0.7),
        ("seed", "one draw", 10, 0.1, 0.95),
        ("pair", "one draw", 5, 0.2, 0.65),
        ("pair", "one draw", 10, 0.1, 0.45),
        ("seed", "3 draws", 5, 0.1, 0.5),
        ("pair", "3 draws", 5, 0.2, 0.6),
    ],
)
def test_a_known_difference_is_found_and_covered(kind, scheme, n, shift, floor):
    found = rates(kind, scheme, n, shift, seed=1)
    assert found["flagged"] >= floor, found
    assert found["covered"] >= 1 - ALPHA - TOLERANCE * MC, found


@pytest.mark.parametrize("kind, margin", [("seed", 0.05), ("seed", 0.1), ("pair", 0.15)])
def test_equivalence_is_claimed_at_most_alpha_at_the_margin_and_often_inside_it(kind, margin):
    at_margin = rates(kind, "one draw", 10, margin, seed=2, margin=margin)
    assert at_margin["equivalent"] <= ALPHA + TOLERANCE * MC, at_margin
    inside = rates(kind, "one draw", 10, 0.0, seed=3, margin=margin)
    assert inside["equivalent"] >= (0.3 if margin < 0.1 else 0.6), inside


def test_single_model_intervals_cover_the_true_mean():
    rng = np.random.default_rng(4)
    for m, truth in (
        (seed_moments(per_seed(rng, 5)), 0.7),
        (pair_moments(per_pair(rng, 5)), 0.8),
        (draw_moments(seed_moments(per_seed(rng, 5, draws=3)).mean), 0.7),
    ):
        test = t_test(m)
        covered = np.mean((test.low <= truth) & (truth <= test.high))
        assert covered >= 1 - ALPHA - TOLERANCE * MC, covered


def test_holm_keeps_the_chance_of_any_false_flag_among_twenty_at_alpha():
    rng = np.random.default_rng(5)
    p = np.stack([t_test(one_draw("seed", rng, 5, 0.0)).p for _ in range(20)], 1)  # [R, 20] null comparisons
    raw_any = np.mean((p < ALPHA).any(1))
    holm_any = np.mean([min(adjust(list(row))) < ALPHA for row in p])
    assert raw_any > 0.4  # uncorrected, twenty comparisons flag something most of the time
    assert holm_any <= ALPHA + TOLERANCE * MC, holm_any


def test_zero_spread_gives_a_point_interval_and_a_decided_p():
    test = t_test(Moments(np.array([0.0, 0.2]), np.array([0.0, 0.0]), np.array([4.0, 4.0])), margin=0.1)
    assert list(test.p) == [1.0, 0.0] and list(test.low) == [0.0, 0.2]
    assert list(test.p_equivalent) == [0.0, 1.0]


def calibration_table() -> list[dict]:
    """The numbers the docs quote: every scenario's false-flag rate, coverage and power."""
    rows = []
    for kind in ("seed", "pair"):
        for scheme in SCHEMES:
            for n in (5, 10):
                null, known = rates(kind, scheme, n, 0.0, seed=n), rates(kind, scheme, n, 0.1, seed=1)
                rows.append(
                    {
                        "values": kind,
                        "scheme": scheme,
                        "n": n,
                        "false flags": null["flagged"],
                        "coverage": null["covered"],
                        "power at +0.1": known["flagged"],
                    }
                )
    return rows


if __name__ == "__main__":
    for row in calibration_table():
        print(row)


def test_the_simulation_catches_a_scheme_that_counts_pairs_as_independent():
    """The check can fail: the textbook error of pairwise metrics, pairs taken as n(n-1)/2 independent
    values, flags far more than α in the very scenario the jackknife passes."""
    rng = np.random.default_rng(6)
    n = 10
    iu = np.triu_indices(n, 1)
    naive = [seed_moments(per_pair(rng, n)[:, iu[0], iu[1]]) for _ in range(2)]
    assert np.mean(t_test(welch(*naive)).p < ALPHA) > 3 * ALPHA
