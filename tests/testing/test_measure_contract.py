"""The plugin kit's check of a metric's measures (`metric_measures`): well formed, one per key, and naming every
record the metric writes; a metric without measures is told how to declare them instead of failing."""

from __future__ import annotations

import types

import pytest

from ica.components.registry import Registry
from ica.plugin import Measure, Options, hookimpl
from ica.testing import ContractError, check_component

from third_party_metric import Spread, registry_with_plugin


class NoOptions(Options):
    pass


class LongHeader(Spread):
    measures = (Measure("spread", "spread of the latents over the evaluation points"),)  # no short header


class Twice(Spread):
    measures = (Measure("spread", "spread", controls=("untrained",)), Measure("spread", "spread again"))


class Unnamed(Spread):
    measures = (Measure("sprd", "spread"),)  # writes "spread", declares "sprd"


@hookimpl
def ica_register(register):
    register("metric", "long_header", NoOptions, LongHeader)
    register("metric", "twice", NoOptions, Twice)
    register("metric", "unnamed", NoOptions, Unnamed)


BROKEN = Registry.load(entry_points=False, extra=[("broken", types.SimpleNamespace(ica_register=ica_register))])


@pytest.mark.parametrize(
    "name, words",
    [
        (
            "long_header",
            "malformed measure: spread: the column header 'spread of the latents over the evaluation points' "
            "is longer than 14 characters",
        ),
        ("twice", "measures declared twice: spread"),
        ("unnamed", "records spread are not among the measures declared (sprd)"),
    ],
)
def test_a_metric_with_a_malformed_measure_fails_the_check(name, words):
    with pytest.raises(ContractError) as caught:
        check_component("metric", name, reg=BROKEN)
    assert f"metric {name!r} fails metric_measures" in str(caught.value) and words in str(caught.value), str(
        caught.value
    )


def test_declared_measures_pass_and_none_is_said_not_to_apply():
    reg = registry_with_plugin()
    report = check_component("metric", "spread", reg=reg)
    assert report.passed == ["options_round_trip", "metric_contract", "metric_measures"]
    legacy = check_component("metric", "legacy_score", reg=reg)
    assert "declares no measures" in legacy.not_applicable["metric_measures"]
