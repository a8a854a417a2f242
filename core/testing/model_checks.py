"""The contracts of a model: a torch module trained with the seed axis (loss, representation, save/load, each
seed's own initialisation, the optional generative methods), or a fitted peer (fitted seed by seed)."""

from __future__ import annotations

import io
import random
from typing import Any, cast

import numpy as np
import torch

from ica.components.protocols import Batch, Model, is_fitted_peer
from ica.components.sequences import training_split
from ica.errors import SpecError
from ica.nn.seeding import NotBatchable, build_seeded, check_seed_axis, seed_generators
from ica.running.building import build_model, model_context
from ica.testing.contract import NotApplicable, require
from ica.testing.inputs import B, D, S, Inputs, grads_reach_every_parameter, tiny_data


def built(reg: Any, name: str, extra: dict | None, seeds: list[int], n: int = 12):
    """``(model for seeds, data of n points, build)`` on flat data, or on 3x8x8 images for a model that takes
    images only; the model is None for a fitted peer. The data have time order (two recordings), which only a
    model that reads pairs in time reads."""
    inputs = Inputs(reg, extra)
    for x_shape in ((D,), (3, 8, 8)):
        data = tiny_data(n, x_shape=x_shape, ordered=True)
        ctx = model_context(data)

        def build(count: int, ctx=ctx):
            return reg.build(inputs.options("model", name), ctx.with_(seeds=count))

        try:
            if is_fitted_peer(build(1)):
                return None, data, build
            return build_seeded(build, seeds), data, build
        except SpecError:
            continue
    require(False, "it builds neither on flat data [N, 4] nor on 3x8x8 images")


def trained_module(reg: Any, name: str, extra: dict | None, seeds: list[int]):
    model, data, build = built(reg, name, extra, seeds)
    if model is None:
        raise NotApplicable("a fitted peer, not a torch module: fitted_peer_contract checks it")
    return model, data, build


def batch_of(model: Any, data: Any) -> Batch:
    """The first B training rows for each of S seeds; for a model that reads pairs in time, the first B rows that
    have a predecessor, each with it (`Batch.previous`), as the trainer gives them."""
    split = training_split(model, data.train, "data")
    return split.batch(torch.arange(B).expand(S, B))


def model_contract(reg: Any, name: str, extra: dict | None = None) -> None:
    """``loss(batch, noise)`` is [S,B] and finite (each term too) with gradients reaching every parameter;
    ``represent`` gives latents [S,B,d_z] (and assignments [S,B] if any), the same twice in eval mode and the
    same after a save and load into a model built for other seeds."""
    model, data, build = trained_module(reg, name, extra, [0, 1])
    check_seed_axis(model, S)
    require(hasattr(model, "needs_u"), "a model must say whether it needs u: the attribute `needs_u`")
    batch = batch_of(model, data)
    shape = model.noise_shape(B)
    out = model.loss(batch, None if shape is None else torch.randn(S, *shape))
    require(out.loss.shape == (S, B), f"loss has shape {tuple(out.loss.shape)}, expected (seeds, batch) {(S, B)}")
    require(torch.isfinite(out.loss).all(), "the loss is not finite")
    for term, value in out.terms.items():
        require(value.shape == (S, B), f"loss term {term!r} has shape {tuple(value.shape)}, expected {(S, B)}")
    out.loss.mean(1).sum().backward()
    grads_reach_every_parameter(model)

    model.eval()
    with torch.no_grad():
        first, second = model.represent(batch), model.represent(batch)
    require(
        first.latents.dim() == 3 and first.latents.shape[:2] == (S, B),
        f"latents have shape {tuple(first.latents.shape)}, expected (seeds, batch, d_z)",
    )
    require(torch.equal(first.latents, second.latents), "representations are not deterministic in eval mode")
    if first.assignments is not None:
        require(
            first.assignments.shape == (S, B),
            f"assignments have shape {tuple(first.assignments.shape)}, expected {(S, B)}",
        )
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    buffer.seek(0)
    fresh = build_seeded(build, [5, 6])
    fresh.load_state_dict(torch.load(buffer, weights_only=True))
    fresh.eval()
    with torch.no_grad():
        require(
            torch.equal(cast(Model, fresh).represent(batch).latents, first.latents),
            "a saved and reloaded model represents differently",
        )


def generative_methods(reg: Any, name: str, extra: dict | None = None) -> None:
    """The optional methods `ica.load` exposes: ``decode(latents)`` gives [S,B,*x_shape]; ``sample_latents(n, u)``
    gives [S,n,d_z], each seed drawn from its own generator."""
    model, data, _ = trained_module(reg, name, extra, [0, 1])
    if not hasattr(model, "decode") and not hasattr(model, "sample_latents"):
        raise NotApplicable("neither decodes nor samples (both are optional)")
    model.eval()
    with torch.no_grad():
        latents = model.represent(batch_of(model, data)).latents
        if hasattr(model, "decode"):
            got = tuple(model.decode(latents).shape)
            require(got == (S, B, *data.x_shape), f"decode gives {got}, expected {(S, B, *data.x_shape)}")
        if hasattr(model, "sample_latents"):

            def draw(streams):
                with seed_generators([torch.Generator().manual_seed(k) for k in streams]):
                    return model.sample_latents(5, None)[0]

            z = draw([1, 2])
            require(
                z.shape == (S, 5, latents.shape[-1]),
                f"sample_latents(5) gives {tuple(z.shape)}, expected {(S, 5, latents.shape[-1])}",
            )
            other = draw([9, 2])  # seed 0's stream changed, seed 1's kept
            require(torch.equal(draw([1, 2]), z), "sampling from the same generators twice differs")
            require(
                torch.equal(other[1], z[1]) and not torch.equal(other[0], z[0]),
                "each seed must draw from its own generator (`ica.plugin.seed_randn`)",
            )


def seeds_initialised_apart(reg: Any, name: str, extra: dict | None = None) -> None:
    """Seed 5 built beside seed 3 equals seed 5 built alone, and two seeds start from different weights."""
    pair, _, build = trained_module(reg, name, extra, [3, 5])
    alone = build_seeded(build, [5])
    for (pname, both), (_, single) in zip(pair.state_dict().items(), alone.state_dict().items()):
        require(torch.equal(both[1:2], single), f"{pname}: seed 5 built beside seed 3 differs from seed 5 alone")
    weights = [p for p in pair.parameters() if p[0].numel() > 1]
    require(any(not torch.equal(p[0], p[1]) for p in weights), "two seeds got the same initialisation")


def fitted_peer_contract(reg: Any, name: str, extra: dict | None = None) -> None:
    """A fitted peer (`ica.plugin.FittedPeer`): one finite float32 latent row per point, the same for the same
    seed and another for another seed, the global random generators left as they were, no seed axis."""
    model, data, build = built(reg, name, extra, [0], n=64)
    if model is not None:
        raise NotApplicable("a torch module, not a fitted peer: model_contract checks it")
    x, u, points = data.train.x.numpy(), data.train.u.numpy(), data.eval.x.numpy()

    def fitted(seed: int) -> np.ndarray:
        peer = build(1)
        peer.fit(x, u, seed=seed, device="cpu")
        return peer.transform(points)

    fitted(5)  # a first fit imports what the peer needs (an import may draw random numbers)
    states = torch.get_rng_state(), np.random.get_state(legacy=False)["state"]["key"].copy(), random.getstate()
    z = fitted(0)
    require(
        torch.equal(torch.get_rng_state(), states[0])
        and np.array_equal(np.random.get_state(legacy=False)["state"]["key"], states[1])
        and random.getstate() == states[2],
        "a fit must leave the global random generators as it found them",
    )
    require(
        isinstance(z, np.ndarray) and z.ndim == 2 and z.shape[0] == len(points) and z.dtype == np.float32,
        f"transform gives {getattr(z, 'shape', type(z))} {getattr(z, 'dtype', '')}, expected float32 [N, d_z]",
    )
    require(np.isfinite(z).all(), "the latents are not finite")
    require(np.array_equal(fitted(0), z), "fitting the same seed twice gives different latents")
    require(not np.allclose(fitted(1), z), "another seed gives the same fit: the seed is not used")
    try:
        build_model(reg, Inputs(reg, extra).options("model", name), data, [0, 1], name)
    except NotBatchable:
        return
    require(False, "built for two seeds it must refuse (NotBatchable): a fitted peer has no seed axis")
