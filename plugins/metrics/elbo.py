"""`elbo`: each seed's final mean ELBO per example, on all training points and on the evaluation points.

For discrete likelihoods (Bernoulli, discretised logistic) it also reports bits per dimension,
-ELBO / (D ln 2), as ``bpd_train`` and ``bpd_eval``.

Fig. 3 plots the training ELBO against MCC; both are computed after training, in eval mode, with noise
drawn from a generator seeded by the run's seed, so the number is reproducible.
"""

from __future__ import annotations

from ica.plugin import BuildContext, Evaluation, Measure, MetricRecord, Options, hookimpl

MEASURES = (
    Measure("elbo_train", "ELBO train (nats/example)", "ELBO (train)", order=50, digits=2, headline=True),
    Measure("elbo_eval", "ELBO eval (nats/example)", "ELBO (eval)", order=51, digits=2),
    Measure("bpd_train", "bits/dim train", "bits/dim train", order=52, higher_is_better=False, digits=2),
    Measure("bpd_eval", "bits/dim eval", "bits/dim eval", order=53, higher_is_better=False, digits=2, headline=True),
)


class ELBOOptions(Options):
    """No options."""


class FinalELBO:
    requires_sources = False
    requires_elbo = True  # ica.score leaves it out: embeddings from elsewhere come without an ELBO

    def __call__(self, evaluation: Evaluation) -> list[MetricRecord]:
        records = []
        discrete = any("bpd_train" in o.elbo for o in evaluation.seeds)
        keys = [("elbo_train", "train"), ("elbo_eval", "eval")]
        if discrete:
            keys += [("bpd_train", "bpd_train"), ("bpd_eval", "bpd_eval")]
        for outcome in evaluation.seeds:
            error = None if outcome.status == "finished" else (outcome.error or outcome.status)
            for metric, key in keys:
                records.append(
                    MetricRecord(metric, outcome.elbo.get(key, float("nan")), seed=outcome.seed, error=error)
                )
        return records


def build(options: ELBOOptions, ctx: BuildContext) -> FinalELBO:
    """Final ELBO per seed on the training and evaluation points."""
    return FinalELBO()


@hookimpl
def ica_register(register):
    register(
        "metric",
        "elbo",
        ELBOOptions,
        build,
        description="Final ELBO per seed, train and eval (Fig. 3).",
        measures=MEASURES,
    )
