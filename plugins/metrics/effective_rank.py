"""`effective_rank`: how many latent dimensions each seed uses, on the evaluation points.

Per seed, from the latents ``z`` ``[N, d]``:

* ``active_dims``: the coordinates whose variance over the points exceeds ``threshold`` times the mean variance
  of a coordinate (the total variance over d). Counted per coordinate, not from the covariance's eigenvalues,
  because collapse happens per coordinate: a VAE's KL term drives a unit's posterior mean to a constant (the
  "active units" of Burda et al., 2016, who threshold the same variance), and a collapsed coordinate is one
  that MCC and CCA-MCC must match with nothing. Relative to the mean rather than to the total, so that the
  count does not depend on d (at d = 100 every coordinate of isotropic latents holds only 1% of the total)
  nor on the latents' scale. The default 0.1 (2% of the total at d = 5) splits what was measured on the
  quick-start's TCL data after 3,000 steps (iVAE and VaDE, 3 seeds each, 30 coordinates): the six coordinates
  under 7% of the mean variance carried at most 0.07 nats about x (½ log(1 + variance of the posterior mean /
  mean posterior variance)), every other one 0.16 nats or more, most 0.4-2. Variance is a statement about
  scale, so it means most where a prior fixes the scale (VAEs): an autoencoder's small coordinate may still
  carry information its decoder amplifies.
* ``participation_ratio``: (Σλ)² / Σλ² of the covariance's eigenvalues λ, between 1 (one direction holds all
  the variance) and d (isotropic): the eigenvalue view, which also sees dimensions that are linear copies of
  each other, where every coordinate varies. Computed as tr(C)² / ‖C‖²_F, which equals it without an
  eigendecomposition (grid latents can have thousands of dimensions).
* ``latent_dims``: d, so that a report can flag ``active_dims < latent_dims`` without knowing the model. Only
  in the trained evaluation: the untrained control would repeat it.

Where dimensions collapsed, the ``active_dims`` record says so in its ``error`` field while its value stays
finite (as FastICA's floor notes non-convergence): a note, never a failure. Collapse is easy to miss otherwise:
`consistency_r2` leaves a constant dimension out of its mean (nothing to explain) and an affine map needs only
the dimensions that carry information, so collapse can leave it high where CCA-MCC, which averages over all d
canonical pairs, drops.

`controlled`: the untrained networks' ``active_dims_untrained`` and ``participation_ratio_untrained`` show
whether few dimensions are the architecture's doing (a network that starts degenerate) or training's.
"""

from __future__ import annotations

import numpy as np

from ica.plugin import BuildContext, Evaluation, Field, Measure, hookimpl, MetricRecord, Options

MEASURES = (  # descriptions of the representation, shown and never compared (no direction)
    Measure(
        "active_dims",
        "active latent dimensions",
        "active dims",
        order=60,
        higher_is_better=None,
        controls=("untrained",),
    ),
    Measure("latent_dims", "latent dimensions", "latent dims", order=65, higher_is_better=None),
    Measure(
        "participation_ratio",
        "participation ratio of the latents",
        "partic. ratio",
        order=66,
        higher_is_better=None,
        controls=("untrained",),
    ),
)


class EffectiveRankOptions(Options):
    """When a latent dimension counts as used."""

    threshold: float = Field(
        0.1,
        gt=0,
        lt=1,
        description="A latent coordinate is active when its variance on the "
        "evaluation points exceeds this fraction of the mean variance of a coordinate.",
    )


def effective_rank(z: np.ndarray, threshold: float) -> tuple[int, float]:
    """``(active_dims, participation_ratio)`` of latents ``z`` ``[N, d]`` (see the module docstring); latents
    that do not vary at all have no active dimension and a participation ratio of 0."""
    z = np.asarray(z, dtype=np.float64)
    centred = z - z.mean(axis=0)
    variances = np.einsum("ij,ij->j", centred, centred) / len(z)
    total = float(variances.sum())
    if total <= 0.0:
        return 0, 0.0
    active = int((variances > threshold * total / z.shape[1]).sum())
    n, d = centred.shape
    gram = centred.T @ centred if d <= n else centred @ centred.T  # the same nonzero eigenvalues, times N
    frobenius = float(np.einsum("ij,ij->", gram, gram)) / n**2
    return active, total**2 / frobenius


class EffectiveRank:
    """Per-seed active dimensions and participation ratio of the latents."""

    requires_sources = False
    controlled = True  # an untrained network's rank tells architecture from training

    def __init__(self, options: EffectiveRankOptions):
        self.options = options

    def __call__(self, evaluation: Evaluation) -> list[MetricRecord]:
        names = ["active_dims", "participation_ratio"] + (["latent_dims"] if evaluation.control is None else [])
        records = []
        for outcome in evaluation.seeds:
            z = outcome.latents
            if z is None or not np.isfinite(z).all():
                why = outcome.error or ("no latents" if z is None else "non-finite latents")
                records += [MetricRecord(name, float("nan"), seed=outcome.seed, error=why) for name in names]
                continue
            if len(z) < 2:
                records += [
                    MetricRecord(name, float("nan"), seed=outcome.seed, error="fewer than 2 points") for name in names
                ]
                continue
            active, ratio = effective_rank(z, self.options.threshold)
            d = z.shape[1]
            note = (
                None
                if active == d
                else (
                    f"{d - active} of {d} latent dimensions collapsed (variance at most "
                    f"{self.options.threshold:g} of the mean per dimension)"
                )
            )
            values = {"active_dims": active, "participation_ratio": ratio, "latent_dims": d}
            records += [
                MetricRecord(
                    name, float(values[name]), seed=outcome.seed, error=note if name == "active_dims" else None
                )
                for name in names
            ]
        return records


def build(options: EffectiveRankOptions, ctx: BuildContext) -> EffectiveRank:
    """Active latent dimensions and participation ratio per seed."""
    return EffectiveRank(options)


@hookimpl
def ica_register(register):
    register(
        "metric",
        "effective_rank",
        EffectiveRankOptions,
        build,
        measures=MEASURES,
        description="Latent dimensions each seed uses: active coordinates and participation ratio.",
    )
