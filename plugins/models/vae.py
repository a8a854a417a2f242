"""The one VAE that iVAE and VaDE are made of: encoder + decoder + prior + likelihood.

iVAE and VaDE differ only in what the encoder and prior are conditioned on and in how u is read
back (given, or the mixture's responsibilities), so the ELBO is written once, here. A discrete u enters the
networks one-hot; a continuous u (``[.., d_u]`` floats) enters as it is, and is no assignment: a model given one
assigns nothing, and drawing from its prior needs u given (there is no p(u) to draw it from).
"""

from __future__ import annotations

import math
from typing import Literal, Protocol, cast

import torch
from torch import Tensor, nn
from torch.distributions import Distribution, MixtureSameFamily, kl_divergence

from ica.plugin import (
    Batch,
    BuildContext,
    DataError,
    Decoder,
    diagonal_normal,
    Encoder,
    Field,
    IcaError,
    Likelihood,
    LossOutput,
    one_hot,
    Options,
    Prior,
    Representation,
    responsibilities,
    seed_rand,
    seed_sample,
    Part,
    slot,
    SpecError,
)


_LOG_2PI = math.log(2 * math.pi)


class HashedPrior(Prior, Protocol):
    """A prior that reads u off x itself (App. C's hash, `rademacher`): q(u|x) is a point mass at ``assign(x)``."""

    components: int

    def assign(self, x: Tensor) -> Tensor: ...

    def log_weights(self) -> Tensor: ...


class VAEOptions(Options):
    """The parts every VAE of this family has; each model adds its prior (with its own default)."""

    latent_dim: int | None = Field(None, ge=1, description="d_z; defaults to the number of true sources.")
    encoder: Part = slot(
        "encoder", {"name": "mlp"}, description="q(z|x[,u]); a discrete u enters one-hot, a continuous u as it is."
    )
    decoder: Part = slot("decoder", {"name": "mlp"}, description="Maps z to the parameters of p(x|z).")
    likelihood: Part = slot("likelihood", {"name": "gaussian"}, description="p(x|z).")


class VAE(nn.Module):
    """ELBO = E_q log p(x|z) - KL[q(z|x[,u]) || p(z[|u])], estimated with one reparameterised sample.

    Args:
        condition_encoder: q(z|x,u) (iVAE, Eq. 3) rather than q(z|x) (VaDE, Eq. 6).
        kl: 'analytic' uses the closed form where torch has one (falls back to 'sample' otherwise);
            'sample' uses log q(z|x) - log p(z) at the sample, the single-sample estimator of Eq. 6.
    """

    def __init__(
        self,
        encoder: Encoder,
        decoder: Decoder,
        prior: Prior,
        likelihood: Likelihood,
        *,
        latent_dim: int,
        n_u: int | None,
        condition_encoder: bool,
        kl: Literal["analytic", "sample"],
        u_dim: int | None = None,
    ):
        super().__init__()
        self.encoder, self.decoder, self.prior, self.likelihood = encoder, decoder, prior, likelihood
        self.latent_dim, self.n_u, self.u_dim = latent_dim, n_u, u_dim
        self.condition_encoder = condition_encoder
        self.kl = kl
        self.needs_u = condition_encoder or bool(getattr(prior, "conditional", False))
        # A prior with `assign(x)` reads u off x itself (App. C's hash): q(u|x) is a point mass there.
        self.hashed_u = not self.needs_u and hasattr(prior, "assign")

    def noise_shape(self, batch_size: int) -> tuple[int, ...]:
        return (batch_size, self.latent_dim)

    def _cond(self, batch: Batch) -> Tensor | None:
        if not self.needs_u:
            return None
        if batch.u is None:
            raise ValueError("this model needs u, but the batch has none")
        if self.u_dim is not None:  # a continuous u [S, B, d_u] is the networks' input as it is
            return batch.u.to(torch.get_default_dtype())
        return one_hot(batch.u, self._u_values())

    def _u_values(self) -> int:
        """n_u, which a model that needs u always has (`build_vae` refuses data without it)."""
        if self.n_u is None:
            raise ValueError("this model needs u, but its data set has none")
        return self.n_u

    def _hashed_prior(self) -> HashedPrior:
        """The prior, as one that hashes x to u: only where ``hashed_u`` (it has ``assign``)."""
        return cast(HashedPrior, self.prior)

    def posterior(self, batch: Batch) -> tuple[Tensor, Tensor]:
        """Mean and log-variance of q(z|x[,u]), each ``[S, B, d_z]``."""
        cond = self._cond(batch)
        return self.encoder(batch.x, cond if self.condition_encoder else None)

    def loss(self, batch: Batch, noise: Tensor | None) -> LossOutput:
        cond = self._cond(batch)
        mean, log_var = self.encoder(batch.x, cond if self.condition_encoder else None)
        if noise is None:
            raise ValueError("the VAE samples z and needs noise of shape noise_shape(B)")
        z = mean + torch.exp(0.5 * log_var) * noise
        log_likelihood = self.likelihood.log_prob(batch.x, self.decoder(z))
        if self.hashed_u:
            return self._hashed_loss(batch, mean, log_var, noise, z, log_likelihood)
        p = self.prior(cond if self.prior.conditional else None)
        kl = self._kl(mean, log_var, noise, p, z)
        return LossOutput(kl - log_likelihood, {"log_likelihood": log_likelihood, "kl": kl})

    def _hashed_loss(
        self, batch: Batch, mean: Tensor, log_var: Tensor, noise: Tensor, z: Tensor, log_likelihood: Tensor
    ) -> LossOutput:
        """ELBO with q(u|x) a point mass at u(x): log p(x|z) - KL[q(z|x) || p(z|u(x))] + log p(u(x))."""
        prior = self._hashed_prior()
        u = prior.assign(batch.x)
        p = prior(one_hot(u, prior.components))
        kl = self._kl(mean, log_var, noise, p, z)
        kl_u = -prior.log_weights().gather(1, u)  # KL[δ_u || p(u)] = -log p(u): q(u|x) has no entropy
        return LossOutput(kl + kl_u - log_likelihood, {"log_likelihood": log_likelihood, "kl": kl, "kl_u": kl_u})

    def _kl(self, mean: Tensor, log_var: Tensor, noise: Tensor, p: Distribution, z: Tensor) -> Tensor:
        if self.kl == "analytic":
            try:
                return kl_divergence(diagonal_normal(mean, log_var), p)
            except NotImplementedError:
                self.kl = "sample"  # no closed form for this prior: the estimator of Eq. 6 instead
        # log q(z|x) at z = mean + σ·noise is Σ -½ noise² - ½ log σ² - ½ log 2π: the same value and
        # gradient as evaluating the density at z, without building a distribution every step.
        log_q = (-0.5 * noise.square() - 0.5 * log_var).sum(-1) - 0.5 * self.latent_dim * _LOG_2PI
        return log_q - p.log_prob(z)

    def represent(self, batch: Batch) -> Representation:
        mean, _ = self.posterior(batch)
        if self.condition_encoder or self.prior.conditional:
            # iVAE: u is given, q(u|x) is a lookup (Eq. 4); a continuous u is no assignment
            assignments = batch.u if self.u_dim is None else None
        elif self.hashed_u:
            assignments = self._hashed_prior().assign(batch.x)
        else:
            prior = self.prior(None)
            # isinstance, as `is_mixture` does, so that the type checker knows the mixture
            assignments = responsibilities(prior, mean).argmax(-1) if isinstance(prior, MixtureSameFamily) else None
        return Representation(mean, assignments)

    def decode(self, z: Tensor) -> Tensor:
        """The mean of p(x|z) for latents ``[S, B, d_z]``: ``[S, B, *x_shape]``."""
        return self.likelihood.mean(self.decoder(z))

    def sample_latents(self, n: int, u: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        """``n`` draws of z per seed from the prior, with the u each came from (``[S, n, d_z]``, ``[S, n]``).

        A conditional prior draws z ~ p(z|u) at the given u (``[S, n]``; a continuous u ``[S, n, d_u]``), or at u
        uniform over its values: iVAE learns no p(u), and for a continuous u there is no such default, so u
        must be given. A mixture prior draws u from its weights, then z. Randomness comes from
        `seed_rand` / `seed_randn`, so each seed's draws come from its own generator.
        """
        first = next(self.parameters())  # every parameter starts with the seed axis
        seeds, device = int(first.shape[0]), first.device
        if self.needs_u and self.u_dim is not None:
            if u is None:
                raise DataError(
                    f"this model was trained with a continuous u ({self.u_dim} column(s)) and learnt no p(u) to "
                    f"draw it from: give u, [n, {self.u_dim}], the values to draw z ~ p(z|u) at",
                    where="u",
                )
            z, _ = seed_sample(self.prior(u.to(first.dtype)), n)
            return z, u
        if self.needs_u:
            n_u = self._u_values()
            if u is None:
                u = (seed_rand(seeds, (n,), device) * n_u).long().clamp_(max=n_u - 1)
            z, _ = seed_sample(self.prior(one_hot(u, n_u)), n)
            return z, u
        return seed_sample(self.prior(None), n)


def resolve_latent_dim(requested: int | None, ctx: BuildContext, model: str) -> int:
    """The model's latent size: as requested, else the data's number of sources (d_z = d_s)."""
    if requested:
        return requested
    if ctx.latent_dim:
        return ctx.latent_dim
    raise SpecError(
        "latent_dim is required: the data set has no ground-truth sources to take its size from", where=model
    )


def built_prior(options, ctx: BuildContext, name: str) -> Prior:
    """The model's prior; one that fails to build for a continuous u (written for a discrete one only, without
    refusing the other) is refused as a SpecError saying so, not a crash."""
    try:
        return ctx.build_part(options.prior)
    except IcaError:
        raise
    except Exception as exc:
        if ctx.u_dim is None:
            raise
        raise SpecError(
            f"prior {options.prior.name!r} cannot be built for this data set's continuous u ({type(exc).__name__}: "
            f"{exc}); it needs a discrete u",
            where=f"{name}.prior",
        ) from None


def build_vae(
    options, ctx: BuildContext, *, condition_encoder: bool, kl: Literal["analytic", "sample"], name: str
) -> VAE:
    """Build the parts named by a model's options and compose them into a VAE."""
    latent_dim = resolve_latent_dim(options.latent_dim, ctx, name)
    ctx = ctx.with_(latent_dim=latent_dim)
    prior = built_prior(options, ctx, name)
    if condition_encoder or prior.conditional:  # the model needs u
        if not ctx.n_u and not ctx.u_dim:
            raise SpecError(f"{name} needs u (segment or class labels) and the data set provides none", where=name)
        if ctx.n_u is not None and ctx.n_u < 2:
            raise SpecError(
                f"{name} needs u to take at least 2 values, and the data set's u takes only one: p(z|u) "
                "could not depend on it, which leaves a plain VAE with nothing that makes it identifiable "
                "(give u with several values, or use a model that does not need u)",
                where=name,
            )
    likelihood = ctx.build_part(options.likelihood)
    encoder = ctx.build_part(options.encoder, cond_dim=ctx.u_width if condition_encoder else 0)
    decoder = ctx.build_part(options.decoder, out_multiplier=likelihood.multiplier)
    return VAE(
        encoder,
        decoder,
        prior,
        likelihood,
        latent_dim=latent_dim,
        n_u=ctx.n_u,
        condition_encoder=condition_encoder,
        kl=kl,
        u_dim=ctx.u_dim,
    )
