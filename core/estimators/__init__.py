"""Estimators: `ica`'s models as scikit-learn transformers, for pipelines, grid searches and cross-validation.

Owns: the estimator a spec's model becomes (`base`: ``fit`` is ``ica run`` on the user's arrays, then
``ica.load``; scikit-learn's input checks, tags, pickling, ``save`` to a run directory), what ``fit`` writes
and runs (`fitting`: the arrays as an ``npz`` data set, the spec, the run directory kept or temporary), the
model's spec entry from named parameters, each setting given once (`options`), what a fit shows while it trains
(`progress`: ``verbose``), the paper's models with named parameters (`models`) and the discriminative ones,
TCL and PCL (`contrastive`). An estimator and
``ica run`` with the same settings and seeds train the same model.
May import: ica.errors, ica.spec, ica.rundir, ica.running, ica.trained
Exports: ``IcaEstimator``, ``IVAE``, ``VaDE``, ``GMMFlow``, ``TCL``, ``PCL``.
"""

from ica.estimators.base import IcaEstimator
from ica.estimators.contrastive import PCL, TCL
from ica.estimators.models import GMMFlow, IVAE, VaDE

__all__ = ["IcaEstimator", "IVAE", "VaDE", "GMMFlow", "TCL", "PCL"]
