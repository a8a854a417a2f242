"""`gaussian`: p(x|z) = N(x; decoder(z), diag(σ²)), with σ fixed or learnt: one per seed (isotropic noise,
``log_scale`` ``[S, 1]``) or, with ``scale_per: "dimension"``, one per observed value and seed (``[S, *x_shape]``:
observed dimensions with different noise levels, e.g. channels of unequal quality). A learnt σ is logged as
``likelihood_scale`` in metrics.jsonl (its mean over the dimensions per seed: `ica.components.protocols.LogsValues`).

The iVAE theory assumes p(x|z) = p_ε(x - f(z)) with additive noise (§2): this is that model.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import torch
from pydantic import model_serializer, model_validator
from torch import Tensor, nn

from ica.plugin import BuildContext, Field, hookimpl, Options

_LOG_2PI = math.log(2 * math.pi)


class GaussianOptions(Options):
    """Observation noise of the decoder."""

    scale: float = Field(0.1, gt=0, description="Noise standard deviation (initial value when learnt).")
    learn_scale: bool = Field(False, description="Learn the log-scale with the other parameters.")
    scale_per: Literal["seed", "dimension"] = Field(
        "seed", description="With learn_scale: one σ per seed (isotropic noise) or one per observed dimension and seed."
    )

    @model_validator(mode="after")
    def _per_dimension_is_learnt(self) -> "GaussianOptions":
        if self.scale_per == "dimension" and not self.learn_scale:
            raise ValueError("scale_per 'dimension' needs learn_scale true (a fixed scale is the same everywhere)")
        return self

    @model_serializer(mode="wrap")
    def _seed_scale_unwritten(self, handler: Any) -> Any:
        """With one σ per seed, spec.json (and so the spec's hash) is what it was before ``scale_per``: runs
        written earlier resume."""
        data = handler(self)
        if self.scale_per == "seed" and isinstance(data, dict):
            data.pop("scale_per", None)
        return data


class GaussianLikelihood(nn.Module):
    """Gaussian noise around the decoder output, one σ per seed or per observed dimension."""

    multiplier = 1
    discrete = False  # a density, not a probability: no bits per dimension

    def __init__(self, options: GaussianOptions, ctx: BuildContext):
        super().__init__()
        self.learn_scale = options.learn_scale
        width = tuple(ctx.x_shape) if options.scale_per == "dimension" else (1,)
        log_scale = torch.full((ctx.seeds, *width), math.log(options.scale))
        if options.learn_scale:
            self.log_scale = nn.Parameter(log_scale)
        else:
            self.register_buffer("log_scale", log_scale)

    def log_prob(self, x: Tensor, params: Tensor) -> Tensor:
        log_scale = self.log_scale.unsqueeze(1)  # [S, 1, 1] or [S, 1, *x_shape]: broadcasts over the batch
        if log_scale.dim() < x.dim():
            log_scale = log_scale.reshape(*log_scale.shape, *([1] * (x.dim() - log_scale.dim())))
        z = (x - params) * torch.exp(-log_scale)
        per_dim = -0.5 * z.square() - log_scale - 0.5 * _LOG_2PI
        return per_dim.flatten(2).sum(-1)

    def mean(self, params: Tensor) -> Tensor:
        return params

    def logged(self) -> dict[str, Tensor]:
        """The learnt σ of each seed (its mean over the dimensions with ``scale_per: "dimension"``), for
        metrics.jsonl; nothing when σ is fixed, as the spec already says it."""
        return {"likelihood_scale": self.log_scale.detach().exp().flatten(1).mean(1)} if self.learn_scale else {}


def build(options: GaussianOptions, ctx: BuildContext) -> GaussianLikelihood:
    """Gaussian observation noise."""
    return GaussianLikelihood(options, ctx)


@hookimpl
def ica_register(register):
    register(
        "likelihood",
        "gaussian",
        GaussianOptions,
        build,
        description="Gaussian noise, fixed or learnt scale (one per seed or per dimension).",
    )
