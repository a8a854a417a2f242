"""What the two discriminative models, `tcl` and `pcl`, share: a feature network h(x) taken from the registry's
encoders, and its size.

Nonlinear ICA by contrastive learning (Hyvärinen & Morioka, 2016; 2017) trains h(x) as the bottom of a classifier
(which segment a point is from; whether a pair is in time order) and reads the sources off h itself. Any registry
encoder serves as h: its mean output is h(x) and its log-variance output is left unused, so a spec picks TCL's
or PCL's feature network exactly as it picks iVAE's encoder (and with the same default, so that the methods are
compared on the same network).
"""

from __future__ import annotations

from torch import Tensor

from ica.plugin import Encoder, Field, Options, Part, slot


class ContrastiveOptions(Options):
    """The feature network of a contrastive model and its size."""

    latent_dim: int | None = Field(
        None, ge=1, description="Number of features h(x) (d_z); defaults to the number of true sources."
    )
    encoder: Part = slot(
        "encoder",
        {"name": "mlp"},
        description="The feature network h(x): the encoder's mean output (its log-variance is not used). The "
        "default is the registry's mlp (hidden [50, 50], LeakyReLU), iVAE's default encoder, so that the "
        "methods are compared on the same network.",
    )


def features(encoder: Encoder, x: Tensor) -> Tensor:
    """h(x): the encoder's mean output, ``[S, B, d_z]`` (no u: the feature network sees x alone)."""
    mean, _ = encoder(x, None)
    return mean
