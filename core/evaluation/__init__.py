"""Evaluation: how identifiable representations are, measured the paper's way.

Owns: the measures on plain arrays, usable on embeddings from anywhere: MCC against ground truth
(`correlation`), closed-form CCA (`cca`) and CCA-MCC between seeds (`cca_pairs`); and the evaluation of
trained seeds (`seeds`): representations in eval mode on fixed points, mean ELBOs, and summaries that keep
failed seeds in every count; how sure those summaries are (`inference`): means with jackknife-over-seeds
intervals, hierarchical over data draws, and two-model tests with equivalence margins, read from summaries
by `significance`; corrections for the number of comparisons (`corrections`) and verdicts (`verdicts`).
May import: ica.errors, ica.components, ica.rundir
Exports: ``mcc``, ``correlation_matrix``, ``cca_mcc``, ``pairwise_cca_mcc``, ``fit_cca``, ``Evaluation``,
``SeedOutcome``, ``representation``, ``summarise``, ``quartiles``.
"""

from ica.evaluation.cca import CCA, fit_cca
from ica.evaluation.cca_pairs import CCAMCC, cca_mcc, pairwise_cca_mcc
from ica.evaluation.correlation import correlation_matrix, mcc
from ica.evaluation.seeds import Evaluation, SeedOutcome, quartiles, representation, summarise

__all__ = [
    "mcc",
    "correlation_matrix",
    "cca_mcc",
    "pairwise_cca_mcc",
    "fit_cca",
    "CCA",
    "CCAMCC",
    "Evaluation",
    "SeedOutcome",
    "representation",
    "summarise",
    "quartiles",
]
