"""`consistency_r2`: how well one seed's latents predict another's through an affine map, out of sample.

CEBRA's consistency score, beside `cca_mcc`: for every pair of seeds, the affine map from one to the other is
fitted on a fixed random part of the evaluation points (``fit_fraction``, order fixed by ``shuffle_seed``)
and its R² measured on the rest, in both directions, averaged (`ica.evaluation.affine.consistency_r2`). A
failed seed's pairs are recorded as failures: every median stands on all S(S-1)/2 pairs.

The observation control (``observations``, on by default): the same score between each seed's latents and the
observations x of the evaluation points (flattened; where d_x ≠ d_z, their PCA to d_z fitted on the training
split), with the same split and order as the pairs, per seed as ``consistency_r2_observations``. It belongs to
the trained evaluation's floors (``evaluation.controls`` "observations"): the untrained control skips it.
"""

from __future__ import annotations

import itertools

import numpy as np

from ica.plugin import (
    BuildContext,
    Evaluation,
    Field,
    Measure,
    consistency_r2,
    fixed_order,
    hookimpl,
    MetricRecord,
    observation_records,
    Options,
)

MEASURES = (
    Measure(
        "consistency_r2",
        "consistency R² between seeds",
        "consistency R²",
        order=64,
        controls=("untrained", "observations"),
    ),
)


class ConsistencyOptions(Options):
    """Split of the evaluation points between fitting the map and scoring it."""

    fit_fraction: float = Field(0.5, gt=0, lt=1, description="Fraction of evaluation points the map is fitted on.")
    shuffle_seed: int | None = Field(
        0, ge=0, description="Seed of the fixed permutation of the evaluation points; null keeps their order."
    )
    observations: bool = Field(
        True,
        description="Also score each seed against the observations (their PCA to d_z where d_x differs): "
        "consistency_r2_observations, per seed.",
    )


class PairwiseConsistency:
    requires_sources = False
    controlled = True

    def __init__(self, options: ConsistencyOptions):
        self.options = options

    def __call__(self, evaluation: Evaluation) -> list[MetricRecord]:
        outcomes = evaluation.seeds
        usable = {o.seed: o.latents for o in outcomes if o.latents is not None and np.isfinite(o.latents).all()}
        order = fixed_order(len(evaluation.points), self.options.shuffle_seed)
        records = []
        for a, b in itertools.combinations([o.seed for o in outcomes], 2):
            if a in usable and b in usable:
                try:
                    value, why = consistency_r2(usable[a][order], usable[b][order], self.options.fit_fraction), None
                except ValueError as exc:
                    value, why = float("nan"), str(exc)
            else:
                value, why = float("nan"), "a seed of this pair failed or has non-finite latents"
            records.append(MetricRecord("consistency_r2", value, pair=(a, b), error=why))
        if self.options.observations:
            records += observation_records(
                evaluation,
                order,
                ["consistency_r2_observations"],
                lambda z, x: [consistency_r2(z, x, self.options.fit_fraction)],
            )
        return records


def build(options: ConsistencyOptions, ctx: BuildContext) -> PairwiseConsistency:
    """Pairwise-seed consistency R² (CEBRA's score)."""
    return PairwiseConsistency(options)


@hookimpl
def ica_register(register):
    register(
        "metric",
        "consistency_r2",
        ConsistencyOptions,
        build,
        measures=MEASURES,
        description="R² of an affine map between every pair of seeds, out of sample (CEBRA's consistency).",
    )
