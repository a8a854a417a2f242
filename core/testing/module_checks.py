"""The contracts of the parts a model is built from: encoder, decoder, prior, likelihood (shapes with the seed
axis first, finite values, gradients reaching every parameter, eval-mode determinism)."""

from __future__ import annotations

from typing import Any

import torch

from ica.errors import IcaError, SpecError
from ica.nn.layers import one_hot
from ica.nn.seeding import check_seed_axis
from ica.testing.contract import require, required
from ica.testing.inputs import B, D, D_U, DZ, K_U, S, X_SHAPES, Inputs, grads_reach_every_parameter


def _shapes_built(kind: str, reg: Any, name: str, extra: dict | None, **ctx: Any) -> list[tuple[tuple, Any]]:
    """``(x_shape, module)`` for every shape of `X_SHAPES` the architecture builds for (at least one)."""
    inputs = Inputs(reg, extra)
    built = []
    for shape in X_SHAPES:
        try:
            built.append((shape, reg.build(inputs.options(kind, name), inputs.ctx.with_(x_shape=shape, **ctx))))
        except SpecError:
            continue
    require(built, f"it builds for none of the observation shapes {X_SHAPES} (each refused with a SpecError)")
    return built


def encoder_contract(reg: Any, name: str, extra: dict | None = None) -> None:
    """``forward(x [S,B,*x_shape], cond [S,B,cond_dim] or None)`` gives ``(mean, log_var)``, each [S,B,d_z],
    without u, with a one-hot discrete u and with a continuous u; gradients reach every parameter; eval mode is
    deterministic."""
    for cond_dim, continuous in ((0, False), (K_U, False), (D_U, True)):
        for shape, enc in _shapes_built("encoder", reg, name, extra, cond_dim=cond_dim):
            check_seed_axis(enc, S)
            x = torch.randn(S, B, *shape)
            cond = _cond(cond_dim, continuous)
            mean, log_var = enc(x, cond)
            where = f"x_shape {shape}, cond_dim {cond_dim}"
            require(
                mean.shape == log_var.shape == (S, B, DZ),
                f"{where}: mean {tuple(mean.shape)} and log_var {tuple(log_var.shape)}, expected both {(S, B, DZ)}",
            )
            (mean.sum() + log_var.sum()).backward()
            grads_reach_every_parameter(enc)
            enc.eval()
            with torch.no_grad():
                require(torch.equal(enc(x, cond)[0], enc(x, cond)[0]), f"{where}: eval mode is not deterministic")


def decoder_contract(reg: Any, name: str, extra: dict | None = None) -> None:
    """``forward(z [S,B,d_z])`` gives parameters [S,B,*x_shape] with the first observed axis times
    ``ctx.out_multiplier``; gradients reach every parameter."""
    for multiplier in (1, 2):
        for shape, dec in _shapes_built("decoder", reg, name, extra, out_multiplier=multiplier):
            check_seed_axis(dec, S)
            out = dec(torch.randn(S, B, DZ))
            expected = (S, B, shape[0] * multiplier, *shape[1:])
            require(
                out.shape == expected,
                f"x_shape {shape}, out_multiplier {multiplier}: output {tuple(out.shape)}, expected {expected}",
            )
            out.sum().backward()
            grads_reach_every_parameter(dec)


def _cond(width: int, continuous: bool) -> torch.Tensor | None:
    """u as a network takes it: None (width 0), one-hot of a discrete u, or a continuous u in [0, 1)."""
    if not width:
        return None
    return torch.rand(S, B, width) if continuous else one_hot(torch.randint(0, width, (S, B)), width)


def prior_contract(reg: Any, name: str, extra: dict | None = None) -> None:
    """``forward(cond)`` (for a ``conditional`` prior one-hot u [S,B,n_u], else None) gives a distribution with
    event shape [d_z] whose ``log_prob`` of z [S,B,d_z] is [S,B], finite, differentiable in every parameter. A
    conditional prior built for a continuous u (``ctx.u_dim``) does the same with u [S,B,d_u], or refuses to be
    built with an ``IcaError`` (a SpecError or DataError saying it needs a discrete u)."""
    inputs = Inputs(reg, extra)
    prior = reg.build(inputs.options("prior", name), inputs.ctx)
    require(hasattr(prior, "conditional"), "a prior must say whether it needs u: the attribute `conditional`")
    _check_prior(prior, _cond(K_U if prior.conditional else 0, False), "")
    if prior.conditional:
        try:
            continuous = reg.build(inputs.options("prior", name), inputs.ctx.with_(n_u=None, u_dim=D_U))
        except IcaError:
            return  # refused, as a prior that cannot take a continuous u must be
        except Exception as exc:
            require(
                False,
                f"built for a continuous u (ctx.u_dim = {D_U}, ctx.n_u None) it raised {type(exc).__name__}: {exc}; "
                "a conditional prior takes u [S, B, ctx.u_dim] then, or refuses it with ica.plugin.SpecError",
            )
        _check_prior(continuous, _cond(D_U, True), f"with a continuous u of {D_U} columns: ")


def _check_prior(prior: Any, cond: torch.Tensor | None, where: str) -> None:
    """`prior_contract`'s checks of one built prior, given ``cond``; ``where`` starts each message."""
    check_seed_axis(prior, S)
    dist = prior(cond)
    require(tuple(dist.event_shape) == (DZ,), f"{where}event shape {tuple(dist.event_shape)}, expected {(DZ,)}")
    try:
        broadcast = torch.broadcast_shapes(tuple(dist.batch_shape), (S, B))
    except RuntimeError:
        broadcast = None
    require(
        broadcast == (S, B),
        f"{where}batch shape {tuple(dist.batch_shape)} does not broadcast to [S, B] = {(S, B)} "
        "(an unconditional prior's batch shape is [S, 1], a mixture's components [S, 1, K])",
    )
    log_p = dist.log_prob(torch.randn(S, B, DZ))
    require(
        log_p.shape == (S, B),
        f"{where}log_prob of z [S, B, d_z] has shape {tuple(log_p.shape)}, expected {(S, B)} "
        "(an unconditional prior's batch shape is [S, 1], a mixture's components [S, 1, K])",
    )
    require(torch.isfinite(log_p).all(), f"{where}log_prob is not finite")
    log_p.sum().backward()
    grads_reach_every_parameter(prior)


def likelihood_contract(reg: Any, name: str, extra: dict | None = None) -> None:
    """``log_prob(x, params)`` with params [S,B,D x multiplier] is [S,B] (summed over observed dimensions),
    finite, differentiable in the parameters; ``mean(params)`` keeps [S,B]."""
    inputs = Inputs(reg, extra)
    lik = reg.build(inputs.options("likelihood", name), inputs.ctx)
    require(
        isinstance(getattr(lik, "multiplier", None), int),
        "a likelihood needs an int attribute `multiplier` (decoder outputs per observed dimension)",
    )
    check_seed_axis(lik, S)
    x = torch.rand(S, B, D)
    params = torch.randn(S, B, D * lik.multiplier, requires_grad=True)
    log_p = lik.log_prob(x, params)
    require(log_p.shape == (S, B), f"log_prob has shape {tuple(log_p.shape)}, expected {(S, B)}")
    require(torch.isfinite(log_p).all(), "log_prob is not finite")
    log_p.sum().backward()
    grad = required(params.grad, "no gradient reached the parameters")
    require(torch.isfinite(grad).all(), "the gradient with respect to the parameters is not finite")
    require(
        lik.mean(params).shape[:2] == (S, B),
        f"mean(params) has shape {tuple(lik.mean(params).shape)}, expected it to start with {(S, B)}",
    )
