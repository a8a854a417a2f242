"""Training: the one loop every model trains in, S seeds at once, each on its own path.

Owns: the trainer (`loop`) with its failure detection and logging, the whole step compiled as one graph
(`compiled`), each seed's own data order (`sampling`), failure status and loss windows (`seed_state`) and
resumable checkpoints (`checkpoints`); per-seed Adam (eager and compiled) and plateau schedules (`optim`); the
L-matrix constraint of iVAE's identifiability condition (`identifiability`); clean stops at SIGINT/SIGTERM
(`signals`); and the optional TensorBoard log (`tensorboard`). It knows models only through the ``Model``
contract and never reads a spec.
May import: ica.errors, ica.components, ica.nn, ica.rundir
Exports: ``Trainer``, ``SeedSampler``, ``SeedAdam``, ``SeedPlateau``, ``LConstraint``, ``Interrupted``.
"""

from ica.training.identifiability import LConstraint, l_matrix
from ica.training.loop import Trainer
from ica.training.optim import SeedAdam, SeedPlateau
from ica.training.sampling import SeedSampler
from ica.training.signals import Interrupted

__all__ = ["Trainer", "SeedSampler", "SeedAdam", "SeedPlateau", "LConstraint", "l_matrix", "Interrupted"]
