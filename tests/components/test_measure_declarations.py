"""Measures: what a metric declares about its records at registration, and how tables look them up (order, names,
members of indexed measures, controls, records no metric declares), with the registry's checks of the declaration."""

from __future__ import annotations

import math
import types

import pytest

from ica.components.measures import Measure, Measures, problems, stats_text, undeclared
from ica.components.registry import Registry, registry
from ica.plugin import Options, hookimpl

from third_party_metric import SPREAD, registry_with_plugin


class NoOptions(Options):
    pass


def plugin(**registrations) -> types.ModuleType:
    module = types.ModuleType("measured")

    @hookimpl
    def ica_register(register):
        for name, (kind, build, measures) in registrations.items():
            register(kind, name, NoOptions, build, measures=measures)

    module.ica_register = ica_register
    return module


def load(**registrations) -> Registry:
    return Registry.load(entry_points=False, extra=[("measured", plugin(**registrations))])


def build(options, ctx):
    """A metric."""
    return lambda evaluation: []


# ----------------------------------------------------------------------------------- one measure
def test_a_measure_names_its_records_members_and_controls():
    grid = Measure("grid_mcc_in", "grid MCC in sample", "grid MCC in", controls=("untrained",), indexed=True)
    assert grid.declares("grid_mcc_in") and grid.declares("grid_mcc_in_untrained")
    assert grid.declares("grid_mcc_in[0,1]") and grid.declares("grid_mcc_in[0,1]_untrained")
    assert not grid.declares("grid_mcc_in_pca") and not grid.declares("grid_mcc_out") and not grid.declares("grid")
    assert not Measure("mcc", "MCC").declares("mcc0")  # not indexed: no members
    assert Measure("s", "affine R² of source", indexed=True).member("s12") == "12"
    assert Measure("a", "a title").header == "a title" and Measure("a", "a title", "t").header == "t"
    assert Measure("e", "ELBO", digits=2).number(-1.2345) == "-1.23" and Measure("m", "m").number(None) == "failed"


def test_problems_name_what_is_wrong():
    assert problems(SPREAD) == []
    assert problems("mcc") == ["'mcc' is not an ica.plugin.Measure"]
    found = " | ".join(
        problems(
            Measure("mcc_pca", "", order=math.nan, digits=-1, controls=("random",), higher_is_better="yes", headline=1)
        )
    )
    for words in (
        "ends like a control",
        "title must be",
        "order must be a finite number",
        "digits must be",
        "controls must be",
        "higher_is_better must be",
        "headline must be True or False",
    ):
        assert words in found, found
    assert "longer than 14 characters" in problems(Measure("x", "a title far too long for a column"))[0]
    assert "record name" in problems(Measure("two words", "t"))[0]


def test_one_rule_writes_the_statistics():
    stats = {"median": 0.67961, "q25": 0.62431, "q75": 0.70781, "n": 5, "n_failed": 1}
    assert stats_text(stats) == "0.6796 [0.6243, 0.7078] n=5 (1 failed)"
    assert stats_text({"median": None, "q25": None, "q75": None, "n": 3, "n_failed": 3}) == "all failed n=3"
    assert stats_text(None) == "-"


# ------------------------------------------------------------------------------------ the lookup
def test_the_builtin_measures_keep_the_tables_order_and_names():
    measures = registry().measures()
    names = [
        "bpd_eval",
        "zeta",
        "elbo_train",
        "grid_mcc_in[0,1]",
        "grid_mcc_out",
        "grid_mcc_in",
        "mcc",
        "alpha",
        "cca_mcc_out",
        "cca_mcc_in",
        "mcc_spearman",
        "cluster_ari",
        "affine_r2",
        "active_dims",
    ]
    assert measures.order(names) == [
        "mcc",
        "mcc_spearman",
        "cca_mcc_in",
        "cca_mcc_out",
        "grid_mcc_in",
        "grid_mcc_in[0,1]",
        "grid_mcc_out",
        "cluster_ari",
        "elbo_train",
        "bpd_eval",
        "active_dims",
        "affine_r2",
        "alpha",
        "zeta",
    ]
    assert measures.title("mcc") == "MCC to sources" and measures.title("cca_mcc_out") == "CCA-MCC out of sample"
    assert measures.get("grid_mcc_in[0,1]").title == "grid MCC in sample [0,1]"
    assert measures.family("grid_mcc_in[0,1]").key == "grid_mcc_in" and measures.family("grid_mcc_in") is None
    assert measures.get("zeta") == undeclared("zeta") and measures.get("zeta").title == "zeta"
    assert measures.headline(names) == [
        "mcc",
        "cca_mcc_in",
        "cca_mcc_out",
        "grid_mcc_in",
        "grid_mcc_out",
        "cluster_ari",
        "elbo_train",
        "bpd_eval",
    ]
    assert measures.get("bpd_eval").higher_is_better is False and measures.get("active_dims").higher_is_better is None


def test_every_builtin_measure_is_well_formed_and_declared_once():
    metrics = registry().of_kind("metric")
    assert all(c.measures for c in metrics), [c.name for c in metrics if not c.measures]
    keys = [m.key for c in metrics for m in c.measures]
    assert len(keys) == len(set(keys))
    assert [p for c in metrics for m in c.measures for p in problems(m)] == []


def test_the_first_declaration_of_a_key_wins():
    first, second = Measure("x", "first"), Measure("x", "second")
    assert Measures([first, second]).get("x") is first


# ---------------------------------------------------------------------------------- registration
def test_a_metric_declares_measures_when_it_registers_or_on_its_class():
    reg = registry_with_plugin()
    assert reg.get("metric", "spread").measures == (SPREAD,)  # the registered class's attribute
    assert reg.get("metric", "legacy_score").measures == ()  # a metric from before measures still registers
    assert reg.measures().get("spread") is SPREAD
    given = load(given=("metric", build, (SPREAD,)))
    assert given.get("metric", "given").measures == (SPREAD,) and not given.failures


@pytest.mark.parametrize(
    "kind, measures, words",
    [
        ("metric", ("spread",), "must be a tuple of ica.plugin.Measure"),
        ("metric", SPREAD, "must be a tuple of ica.plugin.Measure"),
        ("prior", (SPREAD,), "only a metric declares measures"),
    ],
)
def test_a_wrong_declaration_fails_the_plugin_naming_the_component(kind, measures, words):
    reg = load(wrong=(kind, build, measures))
    assert ("wrong" not in reg.names(kind)) and len(reg.failures) == 1
    assert words in reg.failures[0].error and "'wrong'" in reg.failures[0].error
