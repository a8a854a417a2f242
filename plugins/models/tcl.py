"""`tcl`: time-contrastive learning (Hyvärinen & Morioka, 2016): tell which segment a point is from, and keep the
features the classifier used.

The data are nonstationary by segment (u, the segment label). A feature network h(x), ending in a fixed
nonlinearity, feeds a multinomial logistic regression (one linear layer to one logit per segment), and both are
trained by cross-entropy over u. Theorem 1 of the paper: when each segment changes the sources' distribution
through an exponential family with sufficient statistics q(s), the optimal features are h(x) = A q(s) + b, so
TCL recovers the sources' *statistics* up to a linear map: s² where only the variances change by segment (|s|
for Laplace sources, which the original evaluation assumes), s and s² together where the means change too (the
paper's §4.1 data). The original code then runs FastICA on the features to undo A and correlates them with |s|.

Follows the authors' code, hmorioka/TCL: ``tcl/tcl.py`` (``inference``: hidden layers, the last one followed by
``abs``, the MLR as one affine map to the segment logits; ``loss``: softmax cross-entropy plus weight decay 1e-4
as ``wd · ½ Σ w²`` on the weights, not the biases), ``tcl_training.py`` (its settings) and ``tcl_evaluation.py``
(FastICA on the features, correlation to |s|). Where this differs: the feature network is any registry encoder
(its mean output; the default mlp has LeakyReLU hidden layers where the original has maxout units), trained by the
trainer's per-seed Adam rather than SGD with momentum, without the original's first stage that trains the MLR alone
and without a moving average of the weights.

Seed batching: the encoder and the MLR (`SeedLinear`) carry the seed axis, and the weight penalty is summed per
seed, so a seed trained beside others trains as it would alone.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ica.plugin import Batch, BuildContext, Encoder, Field, hookimpl, LossOutput, Representation, SeedLinear, SpecError

from .contrastive import ContrastiveOptions, features
from .vae import resolve_latent_dim

NONLINEARITIES = {"abs": torch.abs, "square": torch.square, "none": lambda h: h}


class TCLOptions(ContrastiveOptions):
    """TCL: the feature network, its final nonlinearity and the weight decay."""

    feature_nonlinearity: Literal["abs", "square", "none"] = Field(
        "abs",
        description="Applied to the feature network's output to give the features h(x): 'abs' (the original "
        "code's, suited to Laplace-like sources), 'square', or 'none' (a linear last layer).",
    )
    weight_decay: float = Field(
        1e-4,
        ge=0,
        description="L2 penalty wd · ½ Σ w² on every weight (not the biases), added to each seed's loss "
        "(the original code: 1e-4).",
    )


class TCL(nn.Module):
    """Cross-entropy of the segment label u under logits = MLR(h(x)), plus the weight penalty.

    Args:
        encoder: the feature network (its mean output, before the final nonlinearity).
        classifier: the MLR, ``SeedLinear(d_z, n_u)``.
        nonlinearity: the name of the final nonlinearity (`NONLINEARITIES`).
        weight_decay: the penalty's factor.
    """

    needs_u = True
    represents_with_u = False  # u is the classifier's target: h(x) of new data needs none

    def __init__(self, encoder: Encoder, classifier: SeedLinear, nonlinearity: str, weight_decay: float):
        super().__init__()
        self.encoder, self.classifier = encoder, classifier
        self.nonlinearity, self.weight_decay = nonlinearity, weight_decay

    def noise_shape(self, batch_size: int) -> None:
        return None

    def features(self, x: Tensor) -> Tensor:
        """h(x) after the final nonlinearity, ``[S, B, d_z]``: the representation TCL's theorem is about."""
        return NONLINEARITIES[self.nonlinearity](features(self.encoder, x))

    def logits(self, x: Tensor) -> Tensor:
        """The MLR's segment logits, ``[S, B, n_u]``."""
        return self.classifier(self.features(x))

    def loss(self, batch: Batch, noise: Tensor | None = None) -> LossOutput:
        if batch.u is None:
            raise ValueError("tcl classifies the segment label u, but the batch has none")
        logits = self.logits(batch.x)
        u = batch.u.long()
        cross_entropy = F.cross_entropy(logits.flatten(0, 1), u.flatten(), reduction="none").view_as(u).to(logits.dtype)
        accuracy = (logits.argmax(-1) == u).to(logits.dtype)
        loss = cross_entropy
        if self.weight_decay:
            loss = loss + self.weight_decay * weight_penalty(self)[:, None]
        return LossOutput(loss, {"cross_entropy": cross_entropy, "accuracy": accuracy})

    def represent(self, batch: Batch) -> Representation:
        h = self.features(batch.x)
        return Representation(h, self.classifier(h).argmax(-1))


def weight_penalty(module: nn.Module) -> Tensor:
    """½ Σ w² over every weight of ``module`` (biases excluded, as the original's weight decay), per seed: ``[S]``.
    Added to each seed's own loss, so a seed's penalty never depends on the seeds beside it."""
    terms = [
        0.5 * p.square().reshape(p.shape[0], -1).sum(1)
        for name, p in module.named_parameters()
        if not name.rsplit(".", 1)[-1].startswith("bias")
    ]
    return torch.stack(terms).sum(0)


def build(options: TCLOptions, ctx: BuildContext) -> TCL:
    """TCL (Hyvärinen & Morioka, 2016): feature network + MLR over the segments, cross-entropy."""
    if ctx.u_dim is not None:
        raise SpecError(
            f"tcl classifies a discrete segment label u, and this data set's u is continuous ({ctx.u_dim} "
            "column(s)): discretise it into segments, or use a model that takes a continuous u (ivae)",
            where="tcl",
        )
    if not ctx.n_u:
        raise SpecError(
            "tcl needs u, the segment (or class) label each point is classified into, and the data set has none",
            where="tcl",
        )
    if ctx.n_u < 2:
        raise SpecError(
            "tcl needs u to take at least 2 values (segments to tell apart); this data set's u takes one", where="tcl"
        )
    latent_dim = resolve_latent_dim(options.latent_dim, ctx, "tcl")
    encoder = ctx.build_part(options.encoder, latent_dim=latent_dim, cond_dim=0)
    classifier = SeedLinear(latent_dim, ctx.n_u, ctx.seeds)
    return TCL(encoder, classifier, options.feature_nonlinearity, options.weight_decay)


@hookimpl
def ica_register(register):
    register(
        "model",
        "tcl",
        TCLOptions,
        build,
        description="TCL: time-contrastive learning, features h(x) trained to classify the segment u "
        "(Hyvärinen & Morioka, 2016).",
    )
