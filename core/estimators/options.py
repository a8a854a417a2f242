"""The ``models`` entry of an estimator's spec, from its named parameters: the parts a user swaps most
(``likelihood``, ``prior``, ``encoder``, ``decoder``) and the sizes inside them (``hidden``, ``n_clusters``).

A part is given as a spec gives it, by name (``"poisson"``) or as its options (``{"name": "gaussian",
"learn_scale": True}``); None keeps the model's own. A setting given twice (``likelihood=`` and ``model=
{"likelihood": ...}``, or ``hidden=`` and ``encoder={"hidden": ...}``) is an error naming both, as for
``training`` (`ica.estimators.fitting.training_options`): one of them would otherwise be silently ignored.
"""

from __future__ import annotations

import copy
from typing import Any

from ica.estimators.fitting import InvalidParameter, given_twice

PARTS = ("likelihood", "prior", "encoder", "decoder")
"""The parts of a model an estimator takes as parameters (each where its model has it)."""


def part(value: Any, parameter: str) -> dict[str, Any] | None:
    """A part's parameter as a spec's options: None (the model's own), a name, or options with their name."""
    if value is None:
        return None
    if isinstance(value, str):
        return {"name": value}
    if isinstance(value, dict) and isinstance(value.get("name"), str):
        return copy.deepcopy(value)
    raise InvalidParameter(
        f"must be a component's name, e.g. 'gaussian', or its options with their name, e.g. "
        f"{{'name': 'gaussian', 'learn_scale': True}}; got {value!r}",
        where=parameter,
    )


def with_parts(options: dict[str, Any], estimator: Any, holder: str, parts: tuple[str, ...] = PARTS) -> dict[str, Any]:
    """``options`` with every part parameter of ``estimator`` that is set; one that ``options`` (the parameter
    ``holder``) sets too is given twice."""
    for name in parts:
        value = part(getattr(estimator, name, None), name)
        if value is None:
            continue
        if name in options:
            raise given_twice(name, getattr(estimator, name), holder, options[name], f"the model's {name}")
        options[name] = value
    return options


def set_inside(
    options: dict[str, Any], slot: str, default: dict[str, Any], key: str, value: Any, parameter: str
) -> None:
    """``options[slot][key] = value``, the slot being the part given (else ``default``), for a parameter that
    sizes a part (``hidden``: the MLPs' widths; ``n_clusters``: the mixture's components). A part that sets
    ``key`` itself gives it twice."""
    inner = dict(options.get(slot) or default)
    if key in inner:
        raise given_twice(parameter, value, slot, inner[key], f"the {slot}'s {key}", key)
    options[slot] = {**inner, key: value}


def vae_options(
    estimator: Any, name: str, hidden: Any, networks: tuple[str, ...] = ("encoder", "decoder")
) -> dict[str, Any]:
    """A model's entry with a latent size (iVAE, VaDE; TCL and PCL, whose one network is the encoder): its latent
    size, its parts, and ``hidden`` in each of its ``networks`` where given."""
    options = with_parts({"name": name, "latent_dim": estimator.n_components}, estimator, "model")
    if hidden is not None:
        for slot in networks:
            set_inside(options, slot, {"name": "mlp"}, "hidden", list(hidden), "hidden")
    return options


DEFAULT_CLUSTERS = 10
"""A mixture's components where neither ``n_clusters`` nor the prior's options say."""


def mixture_prior(options: dict[str, Any], n_clusters: Any) -> dict[str, Any]:
    """``options`` whose prior, a Gaussian mixture unless ``prior`` names another, has ``n_clusters``
    components (None: those the prior's options give, else `DEFAULT_CLUSTERS`); another prior sets its own
    size (``rademacher``'s bits, ``quantised``'s codebook_size)."""
    prior = options.setdefault("prior", {"name": "gmm"})
    if prior["name"] != "gmm":
        return options
    if n_clusters is not None:
        set_inside(options, "prior", prior, "components", n_clusters, "n_clusters")
    elif "components" not in prior:
        options["prior"] = {**prior, "components": DEFAULT_CLUSTERS}
    return options
