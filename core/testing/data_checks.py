"""The contracts of the components around the models: data sets, metrics (and the measures they declare), every
kind's options, and the data a likelihood declares it can describe (its ``support``), with the data of a
likelihood's small run drawn inside it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.distributions.constraints import Constraint

from ica.components.measures import problems
from ica.components.protocols import BuildContext, DataSplits, MetricRecord
from ica.components.support import outside_support, support_bounds, support_name
from ica.evaluation.seeds import Evaluation, SeedOutcome
from ica.testing.contract import NotApplicable, require, required
from ica.testing.inputs import B, D, DZ, S, Inputs, tiny_data


def options_round_trip(reg: Any, name: str, extra: dict | None = None) -> None:
    """The options of every component called ``name`` (defaults, or those given) survive a JSON round trip
    unchanged: a spec written by `ica` reads back as the same run."""
    matches = reg.find(name)
    require(matches, f"no component named {name!r}")
    for component in matches:
        try:
            opts = Inputs(reg, extra).options(component.kind, name)
        except Exception as exc:
            raise NotApplicable(
                f"has required options without defaults ({type(exc).__name__}); give them as "
                "check_component(..., options={...})"
            ) from None
        again = type(opts).model_validate_json(opts.model_dump_json())
        require(again == opts, f"options change in a JSON round trip: {opts!r} became {again!r}")


def dataset_contract(reg: Any, name: str, extra: dict | None = None) -> None:
    """Train and eval splits of float32 finite observations with the same shape, u int64 (or None; a continuous u,
    declared by ``u_dim``, finite float32 [N, u_dim]), sources (or None) one row per example."""
    if "root" in reg.get("dataset", name).options.model_fields and not (extra or {}).get("root"):
        raise NotApplicable("reads files from its root: give check_component(..., options={'root': ...})")
    try:
        options = Inputs(reg, extra).options("dataset", name)
    except Exception:
        raise NotApplicable(
            "has required options (a file, say): give them as check_component(..., options=...)"
        ) from None
    data = reg.build(options, BuildContext())
    require(isinstance(data, DataSplits), f"build gives {type(data).__name__}, expected ica.plugin.DataSplits")
    for part, split in (("train", data.train), ("eval", data.eval)):
        require(split.x.dtype == torch.float32, f"{part}.x is {split.x.dtype}, expected torch.float32")
        require(torch.isfinite(split.x).all(), f"{part}.x is not finite")
        if data.u_dim is None:
            require(
                split.u is None or (split.u.dtype == torch.int64 and len(split.u) == len(split)),
                f"{part}.u must be None or int64 with one value per example",
            )
        else:  # a continuous u, declared by u_dim
            require(
                split.u is not None
                and split.u.dtype == torch.float32
                and tuple(split.u.shape) == (len(split), data.u_dim)
                and bool(torch.isfinite(split.u).all())
                and data.n_u is None,
                f"{part}.u must be finite float32 [N, u_dim] for a continuous u (u_dim {data.u_dim}, n_u None)",
            )
        require(split.s is None or len(split.s) == len(split), f"{part}.s must be None or one row per example")
    require(
        data.eval.x.shape[1:] == data.train.x.shape[1:],
        f"eval observations {tuple(data.eval.x.shape[1:])} "
        f"and train observations {tuple(data.train.x.shape[1:])} differ in shape",
    )


def metric_contract(reg: Any, name: str, extra: dict | None = None) -> None:
    """Called on three finished seeds and one failed: `MetricRecord`s, finite for the finished ones, and records
    of the failed seed (or its pairs) NaN with an error, so that failures are counted, never silently dropped."""
    records = _scored(reg, name, extra)
    require(
        records and all(isinstance(r, MetricRecord) for r in records),
        "a metric returns a non-empty list of ica.plugin.MetricRecord",
    )
    failed = [r for r in records if r.seed == 3 or (r.pair and 3 in r.pair)]
    require(failed, "no record for the failed seed 3: a failure must be counted (a NaN record with an error)")
    require(all(np.isnan(r.value) and r.error for r in failed), "the failed seed's records must be NaN with an error")
    finished = [r for r in records if r not in failed]
    require(all(np.isfinite(r.value) for r in finished), "a finished seed's record is not finite")


def metric_measures(reg: Any, name: str, extra: dict | None = None) -> None:
    """The measures a metric declares (`ica.plugin.Measure`: how tables show its records) are well formed, one per
    key, and every record it writes on three finished seeds and one failed is one of them, a member of an indexed
    one, or one of their controls: a record no measure names would be shown under its bare key."""
    measures = reg.get("metric", name).measures
    if not measures:
        raise NotApplicable(
            "declares no measures: its records are shown under their own names, after every declared "
            "one; declare them with register(..., measures=(Measure(...), ...))"
        )
    found = [problem for m in measures for problem in problems(m)]
    require(not found, "malformed measure: " + "; ".join(found))
    keys = [m.key for m in measures]
    twice = sorted({k for k in keys if keys.count(k) > 1})
    require(not twice, f"measures declared twice: {', '.join(twice)}")
    written = dict.fromkeys(r.metric for r in _scored(reg, name, extra) if isinstance(r, MetricRecord))
    unnamed = [r for r in written if not any(m.declares(r) for m in measures)]
    require(
        not unnamed,
        f"records {', '.join(unnamed)} are not among the measures declared ({', '.join(keys)}) nor their controls",
    )


def _scored(reg: Any, name: str, extra: dict | None) -> list:
    """The metric's records on tiny data: three finished seeds and one failed (seed 3)."""
    data = tiny_data(40)
    rng = np.random.default_rng(0)
    outcomes = [
        SeedOutcome(s, "finished", rng.normal(size=(40, DZ)), rng.integers(0, 3, 40), {"train": -1.0, "eval": -1.5})
        for s in range(3)
    ]
    outcomes.append(SeedOutcome(3, "failed", error="diverged"))
    metric = reg.build(Inputs(reg, extra).options("metric", name), BuildContext())
    return metric(Evaluation(data, "eval", outcomes))


# ------------------------------------------------------------------------- the data a likelihood describes
def likelihood_support(reg: Any, name: str, extra: dict | None = None) -> None:
    """A likelihood that declares the data it can describe (``support``, a `torch.distributions.constraints`
    object) scores data drawn inside it, edge values included, finitely and with finite gradients, and data
    outside it (below or above its bounds, fractions where it counts, NaN for the real line) are refused as
    ``ica validate`` refuses them (`ica.components.support.outside_support`)."""
    inputs = Inputs(reg, extra)
    lik = reg.build(inputs.options("likelihood", name), inputs.ctx)
    support = getattr(lik, "support", None)
    if support is None:
        raise NotApplicable(
            "declares no support, so any data are accepted; declare the data it can describe as "
            "`support = constraints.nonnegative_integer` (torch.distributions.constraints) to have others refused"
        )
    require(
        isinstance(support, Constraint),
        f"support must be a torch.distributions.constraints.Constraint, not {type(support).__name__}",
    )
    named = support_name(support)
    x = points_in(support, (S, B, D))
    if x is None:
        raise NotApplicable(f"cannot draw data inside its support {named} (its bounds say too little)")
    params = torch.randn(S, B, D * lik.multiplier, requires_grad=True)
    log_p = lik.log_prob(x, params)
    require(torch.isfinite(log_p).all(), f"log_prob is not finite on data inside its support {named}")
    log_p.sum().backward()
    grad = required(params.grad, "no gradient reached the parameters")
    require(torch.isfinite(grad).all(), f"the gradient is not finite on data inside its support {named}")
    for what, bad in points_outside(support, x):
        require(outside_support(support, bad) is not None, f"data with {what} pass its support {named}")


def points_in(support: Constraint, shape: tuple[int, ...], seed: int = 0) -> torch.Tensor | None:
    """Values drawn inside ``support`` (its lower bound and a large value among them where it has them), or None
    for a support whose bounds say too little to draw from."""
    g = torch.Generator().manual_seed(seed)
    low, high = support_bounds(support)
    u = torch.rand(shape, generator=g)
    if support.is_discrete:
        if low is not None and high is not None:
            x = (low + torch.floor(u * (high - low + 1))).clamp(max=high)
        elif low is not None:
            x = low + torch.poisson(3 * u, generator=g)
        elif high is not None:
            x = high - torch.poisson(3 * u, generator=g)
        else:
            x = torch.round(6 * u - 3)
    elif low is not None and high is not None:
        x = low + (high - low) * (0.05 + 0.9 * u)
    elif low is not None:
        x = low + 0.05 + 3 * u
    elif high is not None:
        x = high - 0.05 - 3 * u
    else:
        x = torch.randn(shape, generator=g)
    edges = [v for v in (low, high) if v is not None]
    if low is not None and high is None:
        edges.append(low + 1000.0)  # a large count, say
    flat = x.view(-1)
    for i, value in enumerate(edges[: flat.numel()]):
        if bool(support.check(torch.tensor(value))):  # an open bound is left out
            flat[i] = value
    return x if bool(support.check(x).all()) else None


def points_outside(support: Constraint, inside: torch.Tensor) -> list[tuple[str, torch.Tensor]]:
    """``inside`` with one value moved out of ``support`` in each way it can be left: below its lower bound,
    above its upper one, between two whole numbers where it counts, NaN where it has no bound."""
    low, high = support_bounds(support)

    def moved(value: float) -> torch.Tensor:
        x = inside.clone()
        x.view(-1)[0] = value
        return x

    cases = []
    if low is not None:
        cases.append((f"a value below {low:g}", moved(low - 1)))
    if high is not None:
        cases.append((f"a value above {high:g}", moved(high + 1)))
    if support.is_discrete:
        cases.append(("a fraction", moved((low if low is not None else 0.0) + 0.5)))
    if low is None and high is None and not support.is_discrete:
        cases.append(("NaN", moved(float("nan"))))
    return cases


def likelihood_data(name: str, folder: str | Path, data: dict[str, Any], reg: Any = None) -> dict[str, Any]:
    """The data spec of a small run of likelihood ``name`` on data it can describe: ``data`` itself when the
    likelihood declares no ``support`` or its observations lie in it; else the same sources and u, their
    observations mapped into the support (counts drawn with rates e^x, values in [a, b] squashed, ...) and written
    to ``folder/likelihood_data.npz``: the training split's rows, then the evaluation split's (``eval_fraction``
    says how many)."""
    from ica.components.registry import registry
    from ica.spec.models import spec_models

    reg = reg or registry()
    models = spec_models(reg)
    splits = reg.build(models.tagged[("dataset", data["name"])].model_validate(data), BuildContext())
    ctx = BuildContext(seeds=1, x_shape=splits.x_shape, latent_dim=splits.source_dim or 0, n_u=splits.n_u)
    support = getattr(reg.build(models.default("likelihood", name), ctx), "support", None)
    if support is None or all(outside_support(support, s.x) is None for s in (splits.train, splits.eval)):
        return data
    x = torch.cat([splits.train.x, splits.eval.x])
    mapped = mapped_into(support, (x - x.mean(0)) / x.std(0).clamp(min=1e-6))
    if mapped is None:
        raise ValueError(f"cannot map the run's data into the support {support_name(support)} of likelihood {name!r}")
    path = Path(folder) / "likelihood_data.npz"
    arrays: dict[str, Any] = {"x": mapped.numpy().astype(np.float32)}
    for key in ("u", "s"):
        values = [getattr(split, key) for split in (splits.train, splits.eval)]
        if values[0] is not None:
            arrays[key] = torch.cat(values).numpy()
    np.savez(path, **arrays)
    held_out = len(splits.eval) / (len(splits.train) + len(splits.eval))
    return {"name": "npz", "path": str(path), "eval_fraction": held_out}


def mapped_into(support: Constraint, z: torch.Tensor, seed: int = 0) -> torch.Tensor | None:
    """Standardised observations ``z`` mapped into ``support``, monotone in each value (counts drawn with rate
    e^z, bits with probability sigmoid(z)), or None where the support's bounds say too little."""
    g = torch.Generator().manual_seed(seed)
    low, high = support_bounds(support)
    z = z.clamp(-3, 3)
    if support.is_discrete and low is not None and high is not None:
        x = low + torch.binomial(torch.full_like(z, high - low), torch.sigmoid(z), generator=g)
    elif support.is_discrete and low is not None:
        x = low + torch.poisson(z.exp(), generator=g)
    elif support.is_discrete and high is not None:
        x = high - torch.poisson(z.exp(), generator=g)
    elif low is not None and high is not None:
        x = low + (high - low) * (0.02 + 0.96 * torch.sigmoid(z))
    elif low is not None:
        x = low + z.exp()
    elif high is not None:
        x = high - z.exp()
    else:
        x = torch.round(z) if support.is_discrete else z
    return x if bool(support.check(x).all()) else None
