"""`pcl`: permutation-contrastive learning (Hyvärinen & Morioka, 2017): tell real pairs in time (x_t, x_{t-1}) from
pairs whose partner is taken from another time point, and keep the features the discriminator used.

The sources are stationary and temporally dependent (PCL's model: each s_i an AR process with non-Gaussian
innovations). A logistic regression with the regression function

    r(x_t, x_{t-1}) = -Σ_i |w1_i h_i(x_t) + w2_i h_i(x_{t-1}) + b_i| + a Σ_i h_i(x_t)² + m,   a ≥ 0,

learns to tell the real pairs (label 1) from pairs whose x_{t-1} is replaced by another time point's (label 0);
its optimum is the log density ratio log p(s_t | s_{t-1}) - log p(s_t), which for the model's sources makes h(x)
the sources up to a pointwise map (the paper's Theorem 1). The first term is a Laplace AR(1) transition's log
density, the second a Gaussian-like marginal's.

Follows simonbing/CRLSanityCheck ``crc/baselines/PCL/pcl/pcl.py`` (the feature network ending in batch norm, the
discriminator above, [w1, w2, b] initialised to [1, -1, 0], a = 1, m = 0) and ``crc/baselines/PCL/pcl/train.py``
(negatives: x_{t-1} replaced by a random other point; binary cross-entropy with logits; a clamped at ≥ 0 after each
step). Where this differs:

* The final batch norm: the seeds are batched, so it is a per-seed scaling of each feature by its standard
  deviation over the batch (the pairs' x_t and x_{t-1} together), without affine parameters or running statistics,
  used inside the loss only. It does not centre: centring makes the loss exactly invariant to shifts of h, so every
  parameter that only shifts h (the encoder's last bias, which the original leaves out, and the bias of a hidden
  unit that stays on one linear piece over a batch) gets a gradient of pure rounding noise, which Adam turns into
  full-size steps: the compiled and eager steps then part after one step. Uncentred, the shift is learnt through the
  encoder's biases, as the original learns it through batch norm's β (the same functions, with γ = 1); measured on
  the known-answer data, both reach MCC 0.99 in 6,000 steps. ``represent`` gives h(x) before the scaling; MCC (and
  every measure of recovery up to a per-dimension affine map) is unchanged by it.
* The negative partner is another example's x_{t-1} in the batch: each seed's examples are put in a random cyclic
  order (``noise.argsort(-1)``, the noise drawn by the trainer from each seed's own generator, so results do not
  depend on batching) and each takes its successor's x_{t-1}, so no example is paired with its own.
* a ≥ 0 by parameterisation, a = softplus(ã) (ã starts at log(e - 1): a = 1), not by clamping after the step.
* The loss per example is BCE(real pair, 1) + BCE(permuted pair, 0), twice the original's mean over both halves.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ica.plugin import Batch, BuildContext, Encoder, hookimpl, LossOutput, Representation

from .contrastive import ContrastiveOptions, features
from .vae import resolve_latent_dim

SCALE_EPS = 1e-5
"""Added to the batch variance before dividing by its square root, as batch norm's default."""


class PCLOptions(ContrastiveOptions):
    """PCL: the feature network (the discriminator's form is fixed, as the original's)."""


class PCL(nn.Module):
    """Logistic regression of real against permuted pairs in time, r(x_t, x_{t-1}) as in the module docstring.

    Parameters (each with the seed axis first): ``w`` ``[S, 2, d]`` (w1, w2), ``b`` ``[S, 1, d]``, ``a_raw``
    ``[S, 1]`` (a = softplus(a_raw)), ``m`` ``[S, 1]``.
    """

    needs_u = False
    reads_pairs = True

    def __init__(self, encoder: Encoder, latent_dim: int, seeds: int):
        super().__init__()
        self.encoder = encoder
        self.w = nn.Parameter(torch.tensor([1.0, -1.0])[None, :, None].repeat(seeds, 1, latent_dim))
        self.b = nn.Parameter(torch.zeros(seeds, 1, latent_dim))
        self.a_raw = nn.Parameter(torch.full((seeds, 1), math.log(math.e - 1)))
        self.m = nn.Parameter(torch.zeros(seeds, 1))

    def noise_shape(self, batch_size: int) -> tuple[int, ...]:
        return (batch_size,)

    @property
    def a(self) -> Tensor:
        """The marginal term's weight, ≥ 0, ``[S, 1]``."""
        return F.softplus(self.a_raw)

    def regression(self, h_now: Tensor, h_before: Tensor) -> Tensor:
        """r for pairs of features ``[S, B, d]`` (h(x_t), h(x_{t-1})): the logits ``[S, B]``."""
        q = (self.w[:, :1] * h_now + self.w[:, 1:] * h_before + self.b).abs().sum(-1)
        return -q + self.a * h_now.square().sum(-1) + self.m

    def loss(self, batch: Batch, noise: Tensor | None) -> LossOutput:
        if batch.previous is None:
            raise ValueError(
                "pcl trains on pairs in time and the batch has no `previous` (each example's predecessor); "
                "train it on data with time order (a split with `sequence`)"
            )
        if noise is None:
            raise ValueError("pcl draws its negative pairs from noise of shape noise_shape(B)")
        batch_size = batch.x.shape[1]
        h = scaled(features(self.encoder, torch.cat([batch.x, batch.previous], 1)))
        h_now, h_before = h[:, :batch_size], h[:, batch_size:]
        partner = cyclic_partners(noise)
        h_other = h_before.gather(1, partner[..., None].expand_as(h_before))
        real, permuted = self.regression(h_now, h_before), self.regression(h_now, h_other)
        bce_real, bce_permuted = F.softplus(-real), F.softplus(permuted)  # BCE with logits, labels 1 and 0
        accuracy = 0.5 * ((real > 0).to(real.dtype) + (permuted < 0).to(real.dtype))
        terms = {"bce_real": bce_real, "bce_permuted": bce_permuted, "accuracy": accuracy}
        return LossOutput(bce_real + bce_permuted, terms)

    def represent(self, batch: Batch) -> Representation:
        return Representation(features(self.encoder, batch.x))


def scaled(h: Tensor) -> Tensor:
    """Each seed's features divided by their standard deviation over the batch (axis 1), not centred (the module
    docstring says why): batch norm's scaling, without affine parameters or running statistics."""
    var = h.var(1, unbiased=False, keepdim=True)
    return h * torch.rsqrt(var + SCALE_EPS)


def cyclic_partners(noise: Tensor) -> Tensor:
    """For noise ``[S, B]``, each example's partner ``[S, B]``: its successor in the random cyclic order
    ``noise.argsort(-1)``. A permutation without fixed points (for B ≥ 2), uniform over the cyclic orders."""
    order = noise.argsort(-1)
    rank = order.argsort(-1)
    return order.roll(-1, dims=-1).gather(-1, rank)


def build(options: PCLOptions, ctx: BuildContext) -> PCL:
    """PCL (Hyvärinen & Morioka, 2017): feature network + the AR(1) Laplace discriminator, on pairs in time."""
    latent_dim = resolve_latent_dim(options.latent_dim, ctx, "pcl")
    encoder = ctx.build_part(options.encoder, latent_dim=latent_dim, cond_dim=0)
    return PCL(encoder, latent_dim, ctx.seeds)


@hookimpl
def ica_register(register):
    register(
        "model",
        "pcl",
        PCLOptions,
        build,
        description="PCL: permutation-contrastive learning, features h(x) trained to tell pairs in time from "
        "time-permuted pairs (Hyvärinen & Morioka, 2017).",
    )
