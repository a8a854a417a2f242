"""Running: from a validated spec to a finished run directory.

Owns: choosing how a spec trains and running it (`dispatch`); building a run's parts from its spec through the
registry: device, data (built once per grid, `data_cache`), models per group of seeds, metrics (`building`), with
memory checked before anything is allocated (`resources`) and the data checked to hold enough to train and
measure (`data_limits`); a run in this process, resuming where it stopped (`runner`), one model's unfinished
seeds (`seed_training`), and what it did to its data, for its trained models (`preprocessing`); which directory a
run writes to and claiming it for its spec (`claims`); what trained seeds leave behind and read back
(`outcomes`); training the cells of a grid together (`packing`); ``ica validate`` (`validate`); worker processes
(`executor`) and starting each with its slot, GPU and CPU share (`processes`), SLURM arrays (`slurm`), locks
between processes (`locks`) and env.json (`environment`).
May import: ica.errors, ica.components, ica.spec, ica.nn, ica.rundir, ica.training, ica.evaluation
Exports: ``run`` and ``execute`` (one path from a spec to its summaries, `dispatch`), ``decide``, ``RunResult``,
``check``, ``plan``, ``run_with_workers``, ``run_on_slurm``.
"""

from ica.running.dispatch import RunResult, decide, execute, run
from ica.running.executor import run_with_workers
from ica.running.slurm import run_on_slurm
from ica.running.validate import check, plan

__all__ = ["run", "execute", "decide", "RunResult", "check", "plan", "run_with_workers", "run_on_slurm"]
