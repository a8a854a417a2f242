"""Trained models: a finished run's models rebuilt from its directory, to encode and cluster new data.

Owns: loading one model of a run (``spec.json``, ``preprocessing.json`` and each seed's ``model.safetensors``,
rebuilt through the registry, all seeds batched where the model can be: `loading`); new data checked and
prepared as training prepared its data (`inputs`); and the object that encodes, clusters, scores, decodes and
samples with it in eval mode, in chunks (`model`). It is the same representation a run's evaluation takes,
so loading a run reproduces its saved latents exactly. And scoring embeddings made by anything with the
metrics a run computes (`scoring`), written as a run-like directory (`score_directory`).
May import: ica.errors, ica.components, ica.spec, ica.nn, ica.rundir, ica.training, ica.evaluation, ica.running
Exports: ``load``, ``TrainedModel``, ``score``.
"""

from ica.trained.loading import load
from ica.trained.model import TrainedModel
from ica.trained.scoring import score

__all__ = ["load", "TrainedModel", "score"]
