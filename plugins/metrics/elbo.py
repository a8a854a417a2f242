"""`elbo`: each seed's final mean ELBO per example, on all training points and on the evaluation points.

Fig. 3 plots the training ELBO against MCC; both are computed after training, in eval mode, with noise
drawn from a generator seeded by the run's seed, so the number is reproducible.
"""

from __future__ import annotations

from ica.evaluate import Evaluation
from ica.plugin import Options, hookimpl
from ica.protocols import BuildContext, MetricRecord


class ELBOOptions(Options):
    """No options."""


class FinalELBO:
    requires_sources = False

    def __call__(self, evaluation: Evaluation) -> list[MetricRecord]:
        records = []
        for outcome in evaluation.seeds:
            for split in ("train", "eval"):
                value = outcome.elbo.get(split, float("nan"))
                error = None if outcome.status == "finished" else (outcome.error or outcome.status)
                records.append(MetricRecord(f"elbo_{split}", value, seed=outcome.seed, error=error))
        return records


def build(options: ELBOOptions, ctx: BuildContext) -> FinalELBO:
    """Final ELBO per seed on the training and evaluation points."""
    return FinalELBO()


@hookimpl
def ica_register(register):
    register("metric", "elbo", ELBOOptions, build, description="Final ELBO per seed, train and eval (Fig. 3).")
