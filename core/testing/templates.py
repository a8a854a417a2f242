"""The component skeletons `ica new plugin` writes, one per kind: small, working, and passing the contract checks
(`tests/testing/test_plugin_kit.py` installs each and runs the kit on it). ``$Class`` and ``$component`` are
filled in."""

from __future__ import annotations

HEADER = '''"""`$component`: $summary

Written by `ica new plugin`; it imports only `ica.plugin`, the surface for plugin authors. Every parameter
carries the seed axis first (``ctx.seeds``), so many seeds train as one batched model.
"""

from __future__ import annotations

'''

PRIOR = '''import math

import torch
from torch import nn
from torch.distributions import Independent, Normal

from ica.plugin import BuildContext, Field, Options, SpecError, hookimpl


class ${Class}Options(Options):
    conditional: bool = Field(True, description="One Gaussian per value of u, p(z|u) (iVAE), or a single p(z).")
    init_scale: float = Field(1.0, gt=0, description="Initial standard deviation of every dimension.")


class $Class(nn.Module):
    """A diagonal Gaussian per value of u (or one): learnt means and scales, [S, rows, d_z] each."""

    def __init__(self, options: ${Class}Options, ctx: BuildContext):
        super().__init__()
        if options.conditional and not ctx.n_u:
            raise SpecError("a conditional prior needs data with u; set conditional to false")
        self.conditional = options.conditional  # the models read it: whether forward() takes u
        rows = ctx.n_u if options.conditional else 1
        self.loc = nn.Parameter(0.1 * torch.randn(ctx.seeds, rows, ctx.latent_dim))
        self.log_scale = nn.Parameter(torch.full((ctx.seeds, rows, ctx.latent_dim), math.log(options.init_scale)))

    def forward(self, cond=None):
        if self.conditional:  # cond: one-hot u [S, B, n_u]; batch shape [S, B]
            loc, log_scale = cond @ self.loc, cond @ self.log_scale
        else:  # batch shape [S, 1]: broadcasts over each seed's examples
            loc, log_scale = self.loc, self.log_scale
        return Independent(Normal(loc, log_scale.exp(), validate_args=False), 1, validate_args=False)
'''

ENCODER = '''import math

import torch
from torch import nn

from ica.plugin import BuildContext, Field, Options, SeedLinear, hookimpl

class ${Class}Options(Options):
    hidden: int = Field(32, ge=1, description="Width of the hidden layer.")


class $Class(nn.Module):
    """q(z|x[,u]): x flattened (u's one-hot appended when given), one tanh layer, mean and log-variance."""

    def __init__(self, options: ${Class}Options, ctx: BuildContext):
        super().__init__()
        self.hidden = SeedLinear(math.prod(ctx.x_shape) + ctx.cond_dim, options.hidden, ctx.seeds)
        self.out = SeedLinear(options.hidden, 2 * ctx.latent_dim, ctx.seeds)

    def forward(self, x, cond=None):  # x [S, B, *x_shape], cond [S, B, cond_dim] or None
        h = x.flatten(2)
        if cond is not None:
            h = torch.cat([h, cond], dim=-1)
        mean, log_var = self.out(torch.tanh(self.hidden(h))).chunk(2, dim=-1)
        return mean, log_var  # each [S, B, d_z]
'''

DECODER = '''import math

import torch
from torch import nn

from ica.plugin import BuildContext, Field, Options, SeedLinear, hookimpl

class ${Class}Options(Options):
    hidden: int = Field(32, ge=1, description="Width of the hidden layer.")


class $Class(nn.Module):
    """z -> one tanh layer -> the likelihood's parameters, shaped like x with its first axis x out_multiplier."""

    def __init__(self, options: ${Class}Options, ctx: BuildContext):
        super().__init__()
        self.out_shape = (ctx.x_shape[0] * ctx.out_multiplier, *ctx.x_shape[1:])
        self.hidden = SeedLinear(ctx.latent_dim, options.hidden, ctx.seeds)
        self.out = SeedLinear(options.hidden, math.prod(self.out_shape), ctx.seeds)

    def forward(self, z):  # z [S, B, d_z]
        return self.out(torch.tanh(self.hidden(z))).reshape(*z.shape[:2], *self.out_shape)
'''

LIKELIHOOD = '''import math

from torch import nn
from torch.distributions import constraints

from ica.plugin import BuildContext, Field, Options, hookimpl

class ${Class}Options(Options):
    min_log_scale: float = Field(-7.0, description="Lower bound of the log-scale (keeps the density finite).")


class $Class(nn.Module):
    """p(x|z): per observed dimension, a density with a location and a log-scale the decoder gives for each."""

    multiplier = 2  # decoder outputs per observed dimension
    # The data it can describe, as a torch constraint: ica refuses other data before training, and the kit
    # tests it on data inside and checks the refusal (e.g. constraints.nonnegative_integer for counts).
    support = constraints.real

    def __init__(self, options: ${Class}Options, ctx: BuildContext):
        super().__init__()
        self.min_log_scale = options.min_log_scale

    def log_prob(self, x, params):  # x [S, B, *x_shape], params [S, B, 2 * x_shape[0], ...] -> [S, B]
        loc, log_scale = params.chunk(2, dim=2)
        log_scale = log_scale.clamp(min=self.min_log_scale)
        # log of the Laplace density exp(-|x - loc| / b) / (2b): replace it with your own
        return (-(x - loc).abs() / log_scale.exp() - log_scale - math.log(2.0)).flatten(2).sum(-1)

    def mean(self, params):
        return params.chunk(2, dim=2)[0]
'''

MODEL = '''import math

import torch
from torch import nn

from ica.plugin import BuildContext, Field, LossOutput, Options, Representation, SeedLinear, SpecError, hookimpl


class ${Class}Options(Options):
    latent_dim: int | None = Field(None, ge=1, description="d_z; defaults to the number of true sources.")
    hidden: int = Field(32, ge=1, description="Width of the encoder's and decoder's hidden layers.")


class $Class(nn.Module):
    """A small VAE with a standard normal prior: -ELBO with a unit-variance Gaussian p(x|z)."""

    needs_u = False  # True for a model that must be given u (an iVAE)

    def __init__(self, options: ${Class}Options, ctx: BuildContext):
        super().__init__()
        self.d_z = options.latent_dim or ctx.latent_dim
        if not self.d_z:
            raise SpecError("latent_dim is needed: the data has no true sources to take it from")
        self.x_shape, d_x, s = ctx.x_shape, math.prod(ctx.x_shape), ctx.seeds
        self.enc = nn.ModuleList([SeedLinear(d_x, options.hidden, s), SeedLinear(options.hidden, 2 * self.d_z, s)])
        self.dec = nn.ModuleList([SeedLinear(self.d_z, options.hidden, s), SeedLinear(options.hidden, d_x, s)])

    def noise_shape(self, batch_size):
        return (batch_size, self.d_z)  # drawn per seed by the trainer, so batching never changes a seed

    def encode(self, x):
        mean, log_var = self.enc[1](torch.tanh(self.enc[0](x.flatten(2)))).chunk(2, dim=-1)
        return mean, log_var

    def loss(self, batch, noise):
        mean, log_var = self.encode(batch.x)
        z = mean + (0.5 * log_var).exp() * noise
        x_hat = self.dec[1](torch.tanh(self.dec[0](z)))
        reconstruction = -0.5 * ((batch.x.flatten(2) - x_hat) ** 2 + math.log(2 * math.pi)).sum(-1)
        kl = 0.5 * (mean ** 2 + log_var.exp() - 1.0 - log_var).sum(-1)
        return LossOutput(kl - reconstruction, {"reconstruction": reconstruction, "kl": kl})  # each [S, B]

    def represent(self, batch):
        return Representation(self.encode(batch.x)[0])  # posterior means [S, B, d_z]
'''

METRIC = '''from typing import Literal

import numpy as np

from ica.plugin import BuildContext, Field, Measure, MetricRecord, Options, hookimpl, mcc


class ${Class}Options(Options):
    method: Literal["pearson", "spearman"] = Field("spearman", description="The correlation used.")


class $Class:
    """Per seed: the mean correlation of the latents with the true sources, matched one to one."""

    requires_sources = True  # a default metric list skips it for data without sources
    # How tables show its record: name, column header, shown by default (ica results --all shows the others)
    measures = (Measure("$component", "mean correlation to the sources", "mean corr.", headline=True),)

    def __init__(self, options: ${Class}Options, ctx: BuildContext):
        self.method = options.method

    def __call__(self, evaluation):
        sources = evaluation.points.s
        records = []
        for outcome in evaluation.seeds:
            if outcome.status != "finished" or outcome.latents is None:  # a failure is counted, never dropped
                records.append(MetricRecord("$component", float("nan"), seed=outcome.seed,
                                            error=outcome.error or "no latents"))
            elif sources is None:
                records.append(MetricRecord("$component", float("nan"), seed=outcome.seed,
                                            error="the data has no true sources"))
            else:
                value = mcc(np.asarray(outcome.latents), sources.numpy(), method=self.method)
                records.append(MetricRecord("$component", float(value), seed=outcome.seed))
        return records
'''

DATASET = '''import numpy as np
import torch

from ica.plugin import BuildContext, DataSplits, DatasetOptions, Field, Split, hookimpl


class ${Class}Options(DatasetOptions):
    segments: int = Field(5, ge=2, description="Number of segments (the values of u).")
    samples_per_segment: int = Field(100, ge=1, description="Training points per segment.")
    eval_samples_per_segment: int = Field(50, ge=1, description="Held-out points per segment.")
    dim: int = Field(3, ge=1, description="Number of sources and of observed dimensions.")
    data_seed: int = Field(0, description="Seed of the sources' scales, the mixing and the samples.")


def build(options: ${Class}Options, ctx: BuildContext) -> DataSplits:
    """Laplace sources whose scales change by segment, mixed by one random matrix and a tanh."""
    rng = np.random.default_rng(options.data_seed)
    scales = rng.uniform(0.2, 2.0, size=(options.segments, options.dim))
    mixing = rng.normal(size=(options.dim, options.dim))

    def split(per_segment: int) -> Split:
        u = np.repeat(np.arange(options.segments), per_segment)
        s = rng.laplace(size=(len(u), options.dim)) * scales[u]
        x = np.tanh(s @ mixing)
        return Split(torch.tensor(x, dtype=torch.float32), torch.tensor(u, dtype=torch.int64),
                     torch.tensor(s, dtype=torch.float32))

    return DataSplits(split(options.samples_per_segment), split(options.eval_samples_per_segment),
                      n_u=options.segments, info={"generator": "$component"})
'''

SKELETONS = {
    "prior": (PRIOR, "a Gaussian prior p(z|u) with learnt means and scales, or one p(z)."),
    "encoder": (ENCODER, "an encoder q(z|x[,u]): one hidden layer, seed-batched."),
    "decoder": (DECODER, "a decoder from z to the likelihood's parameters: one hidden layer, seed-batched."),
    "likelihood": (LIKELIHOOD, "a likelihood p(x|z): a location and a log-scale per observed dimension."),
    "model": (MODEL, "a small VAE with a standard normal prior, written from scratch."),
    "metric": (METRIC, "the per-seed mean correlation of latents with the true sources."),
    "dataset": (DATASET, "Laplace sources with segment-wise scales, mixed by a random matrix and a tanh."),
}
"""Per kind: the component's code (after `HEADER`) and the one-line summary its docstring starts with."""

RUN_DATA = {"name": "tcl", "segments": 4, "samples_per_segment": 30, "eval_samples_per_segment": 10, "dim": 2}
"""The data of a package's small run (its test ``..._trains_in_a_run``); a likelihood's run maps them into the
data it can describe (`ica.testing.data_checks.likelihood_data`)."""

REGISTER = """

@hookimpl
def ica_register(register):
    register("$kind", "$component", ${Class}Options, $builder, description="$summary")
"""
