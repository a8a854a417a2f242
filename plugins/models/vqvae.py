"""`vqvae`: App. B's VQ-VAE, "a kind of mixture model in disguise", relaxed or hard.

The grid encoder maps an image to a vector z_e ∈ R^d at each of P grid positions; each position picks a
codebook vector, and the grid of picks is decoded. The codebook is the prior's component means (the
`quantised` prior: p(z) = (1/K) Σ_k N(z; e_k, I)), and the posterior over codes at a position is:

- ``quantiser: "relaxed"`` (Sønderby et al., 2017; App. B's rVQ-VAE): q(k|x) = p(k | z_e), the prior's
  responsibilities, softmax_k(-||z_e - e_k||²/2) for `quantised`. The decoder gets z_q = Σ_k w_k e_k
  with w a relaxed one-hot (Gumbel-softmax / concrete) sample of q(k|x) at ``temperature``, or w = q
  (``relaxed_sample: "expectation"``). Objective per example:
  -log p(x | z_q) + Σ_positions KL(q(k|x) || p(k)), p(k) uniform for `quantised`.
  Any unconditional mixture prior works here (``gmm`` gives a mixture with learnt covariances).
- ``quantiser: "hard"`` (van den Oord et al., 2017): q(k|x) one-hot on the nearest code; the decoder gets
  z_q = e_k with straight-through gradients to z_e, the encoder is held near its codes by the commitment
  loss β ||z_e - sg(e_k)||², and the codebook is learnt by exponential moving averages (see
  `QuantisedPrior.learn_by_ema`), updated under no_grad in every training forward pass. Like batch-norm
  statistics the EMA state is a buffer with the seed axis, so each seed keeps its own. The objective
  also counts KL(one-hot || uniform) = log K per position, a constant, so the reported loss is comparable
  with the relaxed model's: -log p(x | z_q) + P log K + β Σ_positions ||z_e - sg(e_k)||² in training; in
  eval mode (the evaluation ELBO) the commitment term, a training device, is left out, and -loss is the
  ELBO log p(x | z_q) - P log K of van den Oord et al. (2017).

Gumbel noise comes through ``noise_shape(B) = (B, P, K)``: the trainer draws standard normal noise n per
seed from the seed's own generator, and we turn it into Gumbel(0, 1) noise by the probability integral
transform, U = Φ(n) ~ Uniform(0, 1) and G = -log(-log U) (computed as -log(-log Φ(n)) with
``log_ndtr`` so that no precision is lost where Φ(n) is near 1), so a seed's samples never depend on which
seeds share its batch. In eval mode (evaluation ELBO, representations) no noise is used: the relaxed
model decodes the expectation Σ_k q_k e_k.

Representation (what `grid_mcc` compares across seeds, App. B): z_e at every position, ``[S, B, P·d]``
position-major, with ``grid_shape = (h, w, d)``; there is no single discrete assignment per example.
"""

from __future__ import annotations

import math
from typing import Literal, Protocol

import torch
from torch import Tensor
from torch.distributions import Independent, MixtureSameFamily, Normal

from ica.plugin import (
    Batch,
    BuildContext,
    Field,
    hookimpl,
    LossOutput,
    responsibilities,
    seed_rand,
    Part,
    slot,
    SpecError,
)
from ica.plugins.priors.quantised import QuantisedPrior

from .ae import GridAutoencoder, GridModelOptions, build_grid_parts
from .mixtures import MixturePrior

_LOG_2PI = math.log(2 * math.pi)


class VQVAEOptions(GridModelOptions):
    """The quantiser and its settings, on top of the grid networks and the likelihood."""

    quantiser: Literal["relaxed", "hard"] = Field(
        "relaxed",
        description="'relaxed': Sønderby et al. (2017), App. B's rVQ-VAE; 'hard': van den Oord et al. (2017).",
    )
    prior: Part = slot(
        "prior", {"name": "quantised"}, description="The codebook as a mixture prior; 'hard' needs 'quantised'."
    )
    temperature: float = Field(
        0.5, gt=0, description="Relaxed: temperature of the Gumbel-softmax sample (0.5 as in the reference code)."
    )
    relaxed_sample: Literal["gumbel", "expectation"] = Field(
        "gumbel", description="Relaxed: decode a Gumbel-softmax sample of q(k|x), or its expectation Σ_k q_k e_k."
    )
    commitment: float = Field(0.25, ge=0, description="Hard: β of the commitment loss β||z_e - sg(e)||².")
    ema_decay: float = Field(0.99, gt=0, lt=1, description="Hard: decay γ of the codebook's moving averages.")
    ema_epsilon: float = Field(1e-5, gt=0, description="Hard: Laplace smoothing ε of the EMA cluster sizes.")


# ------------------------------------------------------------------------------ the quantisers
def code_log_posterior(mixture: MixtureSameFamily, z: Tensor) -> Tensor:
    """log p(k | z) for every code k, ``z [S, N, d] -> [S, N, K]`` (= `ica.nn.distributions.responsibilities`).

    For diagonal Gaussian components the squared distances are expanded, Σ_j (z_j - μ_kj)² / σ²_kj =
    z²·σ⁻² - 2 z·(μ σ⁻²) + Σ_j μ²_kj σ⁻²_kj, into two batched matrix products, so that [S, N, K, d] is
    never materialised (N = batch × grid positions, K = 512 codes: gigabytes otherwise).
    """
    comp = mixture.component_distribution
    base = comp.base_dist if isinstance(comp, Independent) and comp.reinterpreted_batch_ndims == 1 else None
    if not (isinstance(base, Normal) and base.loc.dim() == 4 and base.loc.shape[1] == 1):
        return responsibilities(mixture, z)
    mean = base.loc.squeeze(1)  # [S, K, d]
    log_var = 2 * torch.log(base.scale).expand_as(base.loc).squeeze(1)
    precision = torch.exp(-log_var)
    quadratic = (
        torch.bmm(z.square(), precision.transpose(1, 2))
        - 2 * torch.bmm(z, (mean * precision).transpose(1, 2))
        + (mean.square() * precision).sum(-1).unsqueeze(1)
    )
    component = -0.5 * (quadratic + log_var.sum(-1).unsqueeze(1) + z.shape[-1] * _LOG_2PI)
    return torch.log_softmax(component + mixture_log_weights(mixture, z.shape[0]), dim=-1)


def component_means(mixture: MixtureSameFamily, seeds: int) -> Tensor:
    """The codebook, i.e. the mixture's component means, ``[S, K, d]``."""
    mean = mixture.component_distribution.mean
    return mean.reshape(seeds, *mean.shape[-2:])


def mixture_log_weights(mixture: MixtureSameFamily, seeds: int) -> Tensor:
    """log p(k), ``[S, 1, K]``."""
    logits = mixture.mixture_distribution.logits
    return torch.log_softmax(logits, -1).reshape(seeds, 1, logits.shape[-1])


def gumbel_from_normal(noise: Tensor) -> Tensor:
    """Gumbel(0, 1) noise from standard normal noise: G = -log(-log Φ(n)) (Φ(n) is uniform on (0, 1))."""
    minus_log_u = -torch.special.log_ndtr(noise)
    return -torch.log(minus_log_u.clamp_min(torch.finfo(noise.dtype).tiny))


def relaxed_weights(log_q: Tensor, gumbel: Tensor | None, temperature: float) -> Tensor:
    """A concrete / Gumbel-softmax sample softmax((log q + G) / τ) of q, or q itself when ``gumbel`` is None."""
    if gumbel is None:
        return log_q.exp()
    return torch.softmax((log_q + gumbel) / temperature, dim=-1)


def kl_categorical(log_q: Tensor, log_p: Tensor) -> Tensor:
    """KL(q || p) = Σ_k q_k (log q_k - log p_k) over the last axis (0 · log 0 counted as 0)."""
    q = log_q.exp()
    return torch.where(q > 0, q * (log_q - log_p), torch.zeros_like(q)).sum(-1)


def nearest_codes(z: Tensor, codebook: Tensor) -> Tensor:
    """Index of the nearest codebook vector (Euclidean) for each ``z [S, N, d]``; codebook ``[S, K, d]``."""
    distances = torch.baddbmm(codebook.square().sum(-1).unsqueeze(1), z, codebook.transpose(1, 2), alpha=-2.0)
    return distances.argmin(-1)  # ||z||² is the same for every code and left out


def straight_through(z_e: Tensor, z_q: Tensor) -> Tensor:
    """z_q in the forward pass, the identity's gradient to z_e in the backward pass (van den Oord et al., 2017)."""
    return z_e + (z_q - z_e).detach()


# ---------------------------------------------------------------------------------- the model
class CodebookPrior(MixturePrior, Protocol):
    """A mixture prior that holds its component means as a codebook ``[S, K, d]`` (`QuantisedPrior`), which
    `VQVAE.sample_latents` and the hard quantiser read and update."""

    codebook: Tensor

    def ema_update(self, z: Tensor, codes: Tensor) -> None: ...


class VQVAE(GridAutoencoder):
    """Grid autoencoder whose grid of vectors is quantised against the prior's codebook."""

    def __init__(self, encoder, decoder, likelihood, prior: CodebookPrior, options: VQVAEOptions, codes: int):
        super().__init__(encoder, decoder, likelihood, options.latent_dim)
        self.prior = prior
        self.quantiser = options.quantiser
        self.temperature = options.temperature
        self.sampled = options.quantiser == "relaxed" and options.relaxed_sample == "gumbel"
        self.commitment = options.commitment
        self.codes = codes

    def noise_shape(self, batch_size: int) -> tuple[int, ...] | None:
        return (batch_size, self.encoder.positions, self.codes) if self.sampled else None

    def loss(self, batch: Batch, noise: Tensor | None) -> LossOutput:
        z_e = self.encode(batch.x)  # [S, B, P, d]
        s, b, p, d = z_e.shape
        flat = z_e.reshape(s, b * p, d)
        if self.quantiser == "relaxed":
            z_q, terms = self._relaxed(flat, noise)
        else:
            z_q, terms = self._hard(flat)
        log_likelihood = self.likelihood.log_prob(batch.x, self.decoder(z_q.reshape(s, b, p, d)))
        per_example = {k: v.reshape(s, b, p).sum(-1) for k, v in terms.items()}
        loss = -log_likelihood + per_example["kl"]
        if "commitment" in per_example and self.training:  # a training device, not part of the bound
            loss = loss + self.commitment * per_example["commitment"]
        return LossOutput(loss, {"log_likelihood": log_likelihood, **per_example})

    def quantised(self, z: Tensor) -> Tensor:
        """The grid ``z_e`` ``[S, B, P, d]`` quantised as evaluation does (no Gumbel noise, no EMA step)."""
        s, b, p, d = z.shape
        flat = z.reshape(s, b * p, d)
        z_q = self._relaxed(flat, None)[0] if self.quantiser == "relaxed" else self._hard(flat)[0]
        return z_q.reshape(s, b, p, d)

    def sample_latents(self, n: int, u: Tensor | None = None) -> tuple[Tensor, None]:
        """``n`` grids per seed from the prior: a code drawn uniformly at each position (App. B's uniform p(k)),
        flattened as `represent` flattens grids, ``[S, n, P·d]``."""
        codebook = self.prior.codebook
        s, k, d = codebook.shape
        codes = (seed_rand(s, (n * self.encoder.positions,), codebook.device) * k).long().clamp_(max=k - 1)
        z = torch.gather(codebook, 1, codes.unsqueeze(-1).expand(-1, -1, d))
        return z.reshape(s, n, -1), None

    def _relaxed(self, z: Tensor, noise: Tensor | None) -> tuple[Tensor, dict[str, Tensor]]:
        """z_q = Σ_k w_k e_k and KL(q(k|x) || p(k)) per position (Sønderby et al., 2017)."""
        s = z.shape[0]
        mixture = self.prior(None)
        log_q = code_log_posterior(mixture, z)
        gumbel = None
        if self.sampled and self.training:
            if noise is None:
                raise ValueError("the relaxed VQ-VAE samples in training and needs noise of shape noise_shape(B)")
            gumbel = gumbel_from_normal(noise.reshape(log_q.shape))
        weights = relaxed_weights(log_q, gumbel, self.temperature)
        z_q = torch.bmm(weights, component_means(mixture, s))
        return z_q, {"kl": kl_categorical(log_q, mixture_log_weights(mixture, s))}

    def _hard(self, z: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """Nearest code with straight-through gradients, the commitment term, and the codebook's EMA step."""
        codebook = self.prior.codebook
        codes = nearest_codes(z.detach(), codebook)
        e = torch.gather(codebook, 1, codes.unsqueeze(-1).expand(-1, -1, codebook.shape[-1]))
        commitment = (z - e.detach()).square().sum(-1)
        if self.training:
            self.prior.ema_update(z.detach(), codes)
        kl = torch.full_like(commitment, math.log(self.codes))  # KL(one-hot || uniform) = log K
        return straight_through(z, e), {"kl": kl, "commitment": commitment}


def build(options: VQVAEOptions, ctx: BuildContext) -> VQVAE:
    """VQ-VAE with a relaxed (Sønderby et al., 2017) or hard (van den Oord et al., 2017) quantiser (App. B)."""
    likelihood, encoder, decoder = build_grid_parts(options, ctx, "vqvae")
    prior = ctx.build_part(options.prior, latent_dim=options.latent_dim)
    if getattr(prior, "conditional", False):
        raise SpecError("vqvae needs an unconditional prior (its codebook)", where="vqvae.prior")
    mixture = prior(None)
    if not isinstance(mixture, MixtureSameFamily):
        raise SpecError(
            f"vqvae needs a mixture prior (MixtureSameFamily) whose component means are the codebook; "
            f"{options.prior.name!r} is not one",
            where="vqvae.prior",
        )
    if options.quantiser == "hard":
        if not isinstance(prior, QuantisedPrior):
            raise SpecError(
                f"the hard quantiser learns its codebook by moving averages and needs the 'quantised' "
                f"prior, not {options.prior.name!r}",
                where="vqvae.prior",
            )
        prior.learn_by_ema(options.ema_decay, options.ema_epsilon)
    codes = int(mixture.mixture_distribution.logits.shape[-1])
    return VQVAE(encoder, decoder, likelihood, prior, options, codes)


@hookimpl
def ica_register(register):
    register(
        "model",
        "vqvae",
        VQVAEOptions,
        build,
        description="VQ-VAE, relaxed (App. B's rVQ-VAE) or hard, with a latent grid (App. B).",
    )
