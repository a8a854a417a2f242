"""The data a likelihood can describe: the ``support`` it declares (a `torch.distributions.constraints` object, the
same vocabulary as a torch distribution's ``support``), checked on the data as the model will see them, and what
lies outside it, in words.

A likelihood without ``support`` accepts any data. One that declares it has data outside it refused before
anything trains (``ica validate``, `check_likelihood_data`), with a message that counts what is wrong (negative
values, values that are not whole numbers, values above a bound) and, when the spec standardised the data, says
that this is the likely cause. The plugin kit (`ica.testing`) draws data inside and outside the declared support
from the same bounds (`support_bounds`), so a likelihood's tests run on data it can describe.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch.distributions import constraints
from torch.distributions.constraints import Constraint

from ica.components.options import Options
from ica.components.protocols import BuildContext, DataSplits
from ica.components.registry import component_of
from ica.errors import DataError, SpecError

SUPPORT_WORDS: dict[int, str] = {
    id(constraints.nonnegative_integer): "counts (whole numbers >= 0)",
    id(constraints.positive_integer): "counts of at least 1 (whole numbers >= 1)",
    id(constraints.boolean): "binary values (0 or 1)",
    id(constraints.unit_interval): "values in [0, 1]",
    id(constraints.nonnegative): "values >= 0",
    id(constraints.positive): "values > 0",
    id(constraints.real): "real numbers (no NaN)",
}
"""How the common supports read in a message (keyed by identity: torch's constraints are singletons)."""


def support_bounds(support: Constraint) -> tuple[float | None, float | None]:
    """The numeric lower and upper bound of ``support`` (None where it has none, or a bound that is not a
    number, as a constraint that depends on a distribution's parameters)."""
    if support is constraints.boolean:
        return 0.0, 1.0

    def number(name: str) -> float | None:
        value = getattr(support, name, None)
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None

    return number("lower_bound"), number("upper_bound")


def support_words(support: Constraint) -> str:
    """``support`` as a person reads it: 'counts (whole numbers >= 0)', or its name for the rare one."""
    return SUPPORT_WORDS.get(id(support), f"values in {support_name(support)}")


def support_name(support: Constraint) -> str:
    """The constraint's name, ``Interval(lower_bound=0.0, upper_bound=2.0)``: torch's repr, which drops the first
    letter of the class name (torch's own classes start with '_'), or the class name of another."""
    name = type(support).__name__
    return repr(support) if name.startswith("_") else f"{name}()"


def outside_support(support: Constraint, x: torch.Tensor) -> str | None:
    """What in ``x`` lies outside ``support``, counted by reason, or None when every value lies in it. Phrased to
    follow "needs <support words>; x has": '37 values (of 4,000) that are not: 37 negative, 12 not whole numbers'
    (a value may have two reasons)."""
    outside = ~support.check(x)
    total = int(outside.sum())
    if total == 0:
        return None
    finite = torch.isfinite(x)
    low, high = support_bounds(support)
    bad = outside & finite
    counts = {"not finite": int((~finite).sum())}
    if low is not None:
        counts["negative" if low == 0 else f"below {low:g}"] = int((bad & (x < low)).sum())
        counts[f"equal to {low:g}"] = int((bad & (x == low)).sum())  # a strict bound: values > 0
    if high is not None:
        counts[f"above {high:g}"] = int((bad & (x > high)).sum())
        counts[f"equal to {high:g}"] = int((bad & (x == high)).sum())
    if support.is_discrete:
        counts["not whole numbers"] = int((bad & (x != torch.round(x))).sum())
    reasons = ", ".join(f"{n:,} {why}" for why, n in counts.items() if n)
    values = "1 value" if total == 1 else f"{total:,} values"
    return f"{values} (of {x.numel():,}) that {'is' if total == 1 else 'are'} not" + (f": {reasons}" if reasons else "")


def likelihood_parts(options: Options, where: str) -> Iterator[tuple[str, Options]]:
    """Every likelihood among a component's validated options, nested parts included, with its field path
    (``models.ivae.likelihood``)."""
    for field_name in type(options).model_fields:
        value = getattr(options, field_name)
        if not isinstance(value, Options):
            continue
        path = f"{where}.{field_name}"
        try:
            kind = component_of(value)[0]
        except TypeError:  # options that are not a component's (a plain nested model)
            continue
        if kind == "likelihood":
            yield path, value
        else:
            yield from likelihood_parts(value, path)


def check_likelihood_data(reg: Any, model: Options, data: DataSplits, data_name: str, where: str) -> None:
    """Refuse ``data`` (as the model sees them: standardised where the spec asks) that a likelihood of ``model``
    declares it cannot describe: a `DataError` naming the likelihood, the data set and what lies outside its
    support, or a `SpecError` when ``standardize`` is the likely cause. Likelihoods without ``support``, and any
    that cannot be built (building the model says why), are passed over."""
    ctx = BuildContext(seeds=1, x_shape=data.x_shape, latent_dim=data.source_dim or 0, n_u=data.n_u)
    for path, options in likelihood_parts(model, where):
        try:
            support = getattr(reg.build(options, ctx), "support", None)
        except Exception:
            continue
        if support is None:
            continue
        for split_name, split in (("training", data.train), ("evaluation", data.eval)):
            problem = outside_support(support, split.x)
            if problem is None:
                continue
            needs = f"likelihood {component_of(options)[1]!r} needs {support_words(support)}"
            message = f"{needs}; x of the {split_name} split of {data_name!r}"
            if data.info.get("standardized"):
                raise SpecError(
                    f"{message}, standardized as data.standardize asks, has {problem}. Standardizing turns such "
                    "data into z-scores: set data.standardize to false for this likelihood",
                    where=path,
                )
            raise DataError(f"{message} has {problem}", where=path)
