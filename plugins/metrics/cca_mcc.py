"""`cca_mcc`: MCC between every pair of seeds after CCA alignment, in and out of sample (§4.2, Fig. 4).

CCA is fitted on a ``fit_fraction`` of the evaluation points; "in sample" is the MCC on those points,
"out of sample" on the rest. Which points form the fitted part is a fixed random choice (``shuffle_seed``),
the same for every pair: data sets are often stored sorted (TCL by segment, image sets by class), and
"the first half" would then fit CCA on some segments or classes and test it on others. A failed seed's
pairs are recorded as failures, so the number of pairs behind every median is always the full S(S-1)/2.

``pairing`` says how canonical variates are paired: ``"assignment"`` (default; icebeem's convention, an
optimal one-to-one matching, as MCC to the sources) or ``"index"`` (variate i with variate i, which reads
lower for unrelated data). See `ica.evaluation.cca_pairs`.

The observation control (``observations``, on by default): the same measure between each seed's latents and
the observations x of the evaluation points (flattened; where d_x ≠ d_z, their PCA to d_z fitted on the
training split), with the same split, order and pairing as the pairs, recorded per seed as
``cca_mcc_in_observations`` and ``cca_mcc_out_observations``. Seeds that agree with each other no better than
each agrees with the raw observations have found the observations' own linear structure, not more. It belongs
to the trained evaluation's floors (``evaluation.controls`` "observations"): the untrained control skips it.
"""

from __future__ import annotations

import itertools
from typing import Literal

import numpy as np

from ica.plugin import (
    BuildContext,
    Evaluation,
    Field,
    Measure,
    cca_mcc,
    fixed_order,
    hookimpl,
    MetricRecord,
    observation_records,
    Options,
    pairwise_cca_mcc,
)

MEASURES = (
    Measure(
        "cca_mcc_in", "CCA-MCC in sample", "CCA-MCC in", order=20, controls=("untrained", "observations"), headline=True
    ),
    Measure(
        "cca_mcc_out",
        "CCA-MCC out of sample",
        "CCA-MCC out",
        order=21,
        controls=("untrained", "observations"),
        headline=True,
    ),
)


class CCAMCCOptions(Options):
    """Split of the evaluation points between fitting CCA and measuring out of sample."""

    fit_fraction: float = Field(0.5, gt=0, lt=1, description="Fraction of evaluation points CCA is fitted on.")
    method: Literal["pearson", "spearman"] = Field("pearson", description="Correlation coefficient.")
    pairing: Literal["assignment", "index"] = Field(
        "assignment", description="Pair canonical variates by optimal assignment (icebeem's convention) or by index."
    )
    shuffle_seed: int | None = Field(
        0, ge=0, description="Seed of the fixed permutation of the evaluation points; null keeps their order."
    )
    observations: bool = Field(
        True,
        description="Also measure each seed against the observations (their PCA to d_z where d_x differs): "
        "cca_mcc_in_observations, cca_mcc_out_observations, per seed.",
    )


class PairwiseCCAMCC:
    requires_sources = False
    controlled = True  # the same measure on the untrained networks is its null control

    def __init__(self, options: CCAMCCOptions):
        self.options = options

    def __call__(self, evaluation: Evaluation) -> list[MetricRecord]:
        outcomes = evaluation.seeds
        usable = [(o.seed, o.latents) for o in outcomes if o.latents is not None and np.isfinite(o.latents).all()]
        results = {}
        if len(usable) >= 2:
            n = usable[0][1].shape[0]
            order = fixed_order(n, self.options.shuffle_seed)
            values = pairwise_cca_mcc(
                [z[order] for _, z in usable], self.options.fit_fraction, self.options.method, self.options.pairing
            )
            results = {(usable[i][0], usable[j][0]): v for (i, j), v in values.items()}
        records = []
        for a, b in itertools.combinations([o.seed for o in outcomes], 2):
            if (a, b) in results:
                r = results[(a, b)]
                records += [
                    MetricRecord("cca_mcc_in", r.in_sample, pair=(a, b)),
                    MetricRecord("cca_mcc_out", r.out_of_sample, pair=(a, b)),
                ]
            else:
                why = "a seed of this pair failed or has non-finite latents"
                records += [
                    MetricRecord("cca_mcc_in", float("nan"), pair=(a, b), error=why),
                    MetricRecord("cca_mcc_out", float("nan"), pair=(a, b), error=why),
                ]
        if self.options.observations:
            records += observation_records(
                evaluation,
                fixed_order(len(evaluation.points), self.options.shuffle_seed),
                ["cca_mcc_in_observations", "cca_mcc_out_observations"],
                self._pair,
            )
        return records

    def _pair(self, z: np.ndarray, x: np.ndarray) -> list[float]:
        """In- and out-of-sample CCA-MCC of one seed's latents with the observations, as the pairs are made."""
        r = cca_mcc(z, x, self.options.fit_fraction, self.options.method, self.options.pairing)
        return [r.in_sample, r.out_of_sample]


def build(options: CCAMCCOptions, ctx: BuildContext) -> PairwiseCCAMCC:
    """Pairwise-seed MCC after CCA, in and out of sample."""
    return PairwiseCCAMCC(options)


@hookimpl
def ica_register(register):
    register(
        "metric", "cca_mcc", CCAMCCOptions, build, description="MCC between seeds after CCA (§4.2).", measures=MEASURES
    )
