"""`gmmflow`: a normalising flow whose base distribution is a learnt Gaussian mixture (App. D).

x = f(z) is bijective and p(z) = Σ_u p(u) p(z|u) is the `gmm` prior (any unconditional mixture prior
fits the slot), trained by maximum likelihood, Eq. D.4:

    log p(x) = log p(f⁻¹(x)) + log |det ∂f⁻¹/∂x|.

The flow is zuko's masked autoregressive flow (MAF; Papamakarios et al., 2017), "an autoregressive
flow of 10 layers" as App. D: each layer is an autoregressive map whose per-dimension shift and log
scale come from a masked MLP (MADE), the dimension order reversed between layers. For MAF the
data→base direction f⁻¹ is one network pass per layer, so training and representing are both cheap;
sampling (base→data) would take d passes. App. D does not give the conditioner's widths: two hidden
layers of 64 (zuko's default) are ours. ``univariate="spline"`` swaps the affine map for a monotonic
rational-quadratic spline (zuko's NSF), which App. D does not use.

Latents are z = f⁻¹(x) (so d_z = d_x: a flow keeps the dimension) and cluster assignments are the
argmax of the mixture's responsibilities at z, as VaDE reads them. Only flat observations are taken:
a fully autoregressive flow over a flattened image would be a different model from App. D's (and a
very slow one), so image-shaped data is refused rather than silently flattened.

Seed batching: zuko's modules have no seed axis, so the flow is held by `ica.nn.stacked.SeedStacked`
(S stacked copies evaluated with vmap); the prior is the seed-batched `gmm` itself.
"""

from __future__ import annotations

from typing import Literal

import zuko
from pydantic import PositiveInt
from torch import Tensor, nn

from ica.plugin import (
    Batch,
    BuildContext,
    Field,
    hookimpl,
    gives_mixture,
    LossOutput,
    Options,
    Representation,
    responsibilities,
    seed_sample,
    SeedStacked,
    Part,
    slot,
    SpecError,
)

from .mixtures import MixturePrior

ACTIVATIONS = {"relu": nn.ReLU, "elu": nn.ELU, "tanh": nn.Tanh, "silu": nn.SiLU}


class GMMFlowOptions(Options):
    """Size of the flow and of its mixture base distribution."""

    transforms: PositiveInt = Field(10, description="Number of autoregressive layers (App. D: 10).")
    hidden: list[PositiveInt] = Field(
        [64, 64], description="Hidden widths of each layer's masked MLP conditioner (not given in App. D; ours)."
    )
    activation: Literal["relu", "elu", "tanh", "silu"] = Field("relu", description="Activation of the conditioners.")
    univariate: Literal["affine", "spline"] = Field(
        "affine",
        description="Per-dimension map of each layer: 'affine' (MAF, as App. D) or a monotonic "
        "rational-quadratic 'spline' (neural spline flow).",
    )
    bins: PositiveInt = Field(8, description="Spline bins (univariate='spline' only).")
    randperm: bool = Field(
        False, description="Random variable order per layer (drawn per seed); else alternately ascending/descending."
    )
    vectorize: bool = Field(
        True,
        description="Evaluate the seeds' flows with one vmap over the seed axis; False loops over seeds "
        "(same results, for comparison).",
    )
    prior: Part = slot(
        "prior",
        {"name": "gmm", "components": 50},
        description="The base distribution p(z): an unconditional mixture (App. D: a 50-component Gaussian mixture).",
    )


class GMMFlow(nn.Module):
    """Maximum likelihood (Eq. D.4) for a flow with a mixture base; no noise, no u.

    Args:
        flow: S stacked zuko flow transforms (x → z), see `make_transform`.
        prior: the mixture base distribution, seed-batched, built with latent_dim = d_x.
    """

    needs_u = False

    def __init__(self, flow: SeedStacked, prior: MixturePrior):
        super().__init__()
        self.flow, self.prior = flow, prior

    def noise_shape(self, batch_size: int) -> None:
        return None

    def to_base(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """z = f⁻¹(x) and log|det ∂f⁻¹/∂x|: ``[S,B,d]`` and ``[S,B]``."""
        return self.flow.per_seed(_call_and_ladj, x)

    def to_data(self, z: Tensor) -> Tensor:
        """x = f(z), ``[S,B,d]`` (d sequential passes per layer for an autoregressive flow)."""
        return self.flow.per_seed(_inverse, z)

    def decode(self, z: Tensor) -> Tensor:
        """x = f(z): a flow's decoder is its forward map."""
        return self.to_data(z)

    def sample_latents(self, n: int, u: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        """``n`` draws per seed from the mixture base, with each draw's component (seed_sample's streams)."""
        return seed_sample(self.prior(None), n)

    def loss(self, batch: Batch, noise: Tensor | None = None) -> LossOutput:
        z, log_det = self.to_base(batch.x)
        log_base = self.prior(None).log_prob(z)
        return LossOutput(-(log_base + log_det), {"log_base": log_base, "log_det": log_det})

    def represent(self, batch: Batch) -> Representation:
        z, _ = self.to_base(batch.x)
        assignments = responsibilities(self.prior(None), z).argmax(-1)
        return Representation(z, assignments)


def _call_and_ladj(transform: nn.Module, x: Tensor) -> tuple[Tensor, Tensor]:
    return transform().call_and_ladj(x)


def _inverse(transform: nn.Module, z: Tensor) -> Tensor:
    return transform().inv(z)


def make_transform(options: GMMFlowOptions, features: int) -> nn.Module:
    """One seed's zuko transform x → z (the flow's base distribution is not kept: the mixture replaces it)."""
    kwargs = dict(
        transforms=options.transforms,
        hidden_features=list(options.hidden),
        activation=ACTIVATIONS[options.activation],
        randperm=options.randperm,
    )
    if options.univariate == "spline":
        return zuko.flows.NSF(features, bins=options.bins, **kwargs).transform
    return zuko.flows.MAF(features, **kwargs).transform


def build(options: GMMFlowOptions, ctx: BuildContext) -> GMMFlow:
    """GMM-Flow (App. D): MAF with a learnt Gaussian-mixture base, maximum likelihood."""
    if len(ctx.x_shape) != 1:
        raise SpecError(
            f"gmmflow takes flat observations (x_shape (d,)), but the data has x_shape {tuple(ctx.x_shape)}; "
            "flatten the data set first if a fully autoregressive flow over every value is really meant",
            where="gmmflow",
        )
    features = ctx.x_shape[0]
    prior = ctx.build_part(options.prior, latent_dim=features)
    if getattr(prior, "conditional", False) or not gives_mixture(prior):
        raise SpecError(
            f"gmmflow needs an unconditional mixture prior (one returning MixtureSameFamily); "
            f"{options.prior.name!r} is not one",
            where="gmmflow.prior",
        )
    # The prior draws its initial values first, then the flow: a fixed order, so each seed's start is reproducible.
    flow = SeedStacked(lambda: make_transform(options, features), ctx.seeds, vectorize=options.vectorize)
    return GMMFlow(flow, prior)


@hookimpl
def ica_register(register):
    register(
        "model",
        "gmmflow",
        GMMFlowOptions,
        build,
        description="GMM-Flow: MAF with a learnt Gaussian-mixture base, maximum likelihood (App. D, Eq. D.4).",
    )
