"""`ica.components.support`: the data a likelihood declares it can describe, checked and put in words (issue #30)."""

from __future__ import annotations

import types

import pytest
import torch
from torch import nn
from torch.distributions import constraints

import ica
from ica.components.protocols import DataSplits, Split
from ica.components.registry import Registry, registry
from ica.components.support import check_likelihood_data, likelihood_parts, outside_support, support_name, support_words
from ica.errors import DataError, SpecError
from ica.plugin import Options, hookimpl


def test_the_common_supports_read_as_words_and_others_by_name():
    assert support_words(constraints.nonnegative_integer) == "counts (whole numbers >= 0)"
    assert support_words(constraints.unit_interval) == "values in [0, 1]"
    assert support_words(constraints.interval(-1.0, 2.0)) == "values in Interval(lower_bound=-1.0, upper_bound=2.0)"

    class Odd(constraints.Constraint):
        def check(self, value):
            return value == value

    assert support_name(Odd()) == "Odd()" and support_words(Odd()) == "values in Odd()"


@pytest.mark.parametrize(
    "support, values, expected",
    [
        (constraints.nonnegative_integer, [0, 3, 7], None),
        (constraints.nonnegative_integer, [-1, -2, 0.5, 4], "3 values (of 4) that are not: 2 negative, 1 not whole"),
        (constraints.nonnegative_integer, [-0.5, 1], "1 value (of 2) that is not: 1 negative, 1 not whole numbers"),
        (constraints.nonnegative_integer, [float("inf"), 1], "1 value (of 2) that is not: 1 not finite"),
        (constraints.unit_interval, [0.0, 1.0, 1.5, -0.1], "2 values (of 4) that are not: 1 negative, 1 above 1"),
        (constraints.positive, [0.0, 2.0], "1 value (of 2) that is not: 1 equal to 0"),
        (constraints.boolean, [0.0, 1.0, 0.5, 2.0], "2 values (of 4) that are not: 1 above 1, 1 not whole numbers"),
        (constraints.integer_interval(1, 6), [0, 7, 3], "2 values (of 3) that are not: 1 below 1, 1 above 6"),
        (constraints.real, [float("nan"), 1.0], "1 value (of 2) that is not: 1 not finite"),
    ],
)
def test_what_lies_outside_a_support_is_counted_by_reason(support, values, expected):
    got = outside_support(support, torch.tensor(values))
    assert got == expected if expected is None else got.startswith(expected), got


# ------------------------------------------------------------------------------ finding and checking
class NoOptions(Options):
    pass


class Unbuildable(nn.Module):
    multiplier = 1
    support = constraints.nonnegative_integer

    def __init__(self, options, ctx):
        raise RuntimeError("this likelihood cannot be built here")


@hookimpl
def ica_register(register):
    register("likelihood", "unbuildable", NoOptions, Unbuildable)


def splits(x: torch.Tensor, **info) -> DataSplits:
    return DataSplits(Split(x), Split(x.clone()), info=info)


def ivae_options(likelihood: dict, reg=None):
    spec = ica.load_spec(
        {"data": {"name": "tcl"}, "models": {"m": {"name": "ivae", "likelihood": likelihood}}}, reg or registry()
    )
    return spec.models["m"]


def test_the_likelihood_of_a_model_is_found_with_its_path():
    found = list(likelihood_parts(ivae_options({"name": "poisson", "link": "softplus"}), "models.m"))
    assert [(path, o.link) for path, o in found] == [("models.m.likelihood", "softplus")]


def test_data_outside_are_refused_naming_the_likelihood_data_set_and_split():
    reg = registry()
    options = ivae_options({"name": "negative_binomial"})
    check_likelihood_data(reg, options, splits(torch.tensor([[0.0, 2.0], [5.0, 1.0]])), "tcl", "models.m")
    with pytest.raises(DataError) as caught:
        check_likelihood_data(reg, options, splits(torch.tensor([[0.0, -2.0], [5.0, 1.0]])), "mine", "models.m")
    assert caught.value.where == "models.m.likelihood"
    assert caught.value.message == (
        "likelihood 'negative_binomial' needs counts (whole numbers >= 0); x of the training split of 'mine' has "
        "1 value (of 4) that is not: 1 negative"
    )
    with pytest.raises(SpecError, match="standardized as data.standardize asks.*set data.standardize to false"):
        check_likelihood_data(reg, options, splits(torch.tensor([[-1.0, 1.0]]), standardized=True), "d", "models.m")


def test_likelihoods_without_support_or_that_cannot_be_built_are_passed_over():
    reg = Registry.load(entry_points=False, extra=[("t", types.SimpleNamespace(ica_register=ica_register))])
    negative = splits(torch.tensor([[-3.0, 0.5]]))
    check_likelihood_data(reg, ivae_options({"name": "gaussian"}, reg), negative, "d", "models.m")
    check_likelihood_data(reg, ivae_options({"name": "unbuildable"}, reg), negative, "d", "models.m")
