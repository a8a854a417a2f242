"""Contract tests, parametrised over every registered component of each kind (third-party ones included).

The checks are `ica.testing`'s, the kit plugin authors run on their own components (``pytest --pyargs
ica.testing``), so the built-ins are held to exactly what a plugin is: shapes with the leading seed axis,
finite values, gradients reaching every parameter, eval-mode determinism, save/load, spec round trip.
"""

from __future__ import annotations

import numpy as np
import pytest

from ica.components.registry import registry
from ica.evaluation.seeds import Evaluation, SeedOutcome
import ica.testing.test_components as kit
from ica.testing.inputs import tiny_data

REG = registry()


@pytest.mark.parametrize("kind", ["dataset", "encoder", "decoder", "prior", "likelihood", "model", "metric"])
def test_every_kind_has_components(kind):
    assert REG.names(kind)


# The kit's own test, one per check of every registered component (no --ica-plugin given: all of them), so the
# built-ins are held to exactly what `pytest --pyargs ica.testing` holds a plugin to.
test_component_contract = kit.test_component_contract
pytest_generate_tests = kit.pytest_generate_tests


def test_cca_mcc_fits_on_a_fixed_random_half_not_the_first_rows():
    """Sorted evaluation points (here: two regimes, one per half, related by different linear maps) must
    not put the fit and test halves in different regimes; the permutation is fixed, so values repeat."""
    from ica.plugins.metrics.cca_mcc import CCAMCCOptions, PairwiseCCAMCC

    rng = np.random.default_rng(0)
    z1 = rng.normal(size=(400, 2))
    c = np.sqrt(0.5)
    z2 = np.vstack([z1[:200], z1[200:] @ [[c, -c], [c, c]]])  # the second half is rotated by 45 degrees
    outcomes = [SeedOutcome(0, "finished", z1), SeedOutcome(1, "finished", z2)]
    ev = Evaluation(tiny_data(), "eval", outcomes)
    shuffled = PairwiseCCAMCC(CCAMCCOptions())(ev)
    ordered = PairwiseCCAMCC(CCAMCCOptions(shuffle_seed=None))(ev)
    out = {r.metric: r.value for r in shuffled}
    assert out == {r.metric: r.value for r in PairwiseCCAMCC(CCAMCCOptions())(ev)}
    assert abs(out["cca_mcc_out"] - out["cca_mcc_in"]) < 0.1
    ordered_out = {r.metric: r.value for r in ordered}
    assert ordered_out["cca_mcc_out"] < out["cca_mcc_out"] - 0.1
