"""Writes ``tests/rundir/old_rundir/``: run directories as ica 0.2.0 wrote them, which every reader must still read
(`tests/rundir/test_old_rundir.py`). Run once, with that version of ica, from the repository's root:
``python tests/rundir/make_old_rundir.py``. Checkpoints and locks are removed afterwards (no reader needs them).

``grid/``: a grid of two cells (``training.retry_nan`` 0 and 1) of the test model that fails seed 1
(`tests/failing_model.py`): a failed seed, and a diverged seed retried. ``stopped/``: an iVAE and a VaDE,
only the iVAE's seeds trained (``only``), so it has no summary: a run that stopped.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import torch

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent))

MLP = {"encoder": {"name": "mlp", "hidden": [4]}, "decoder": {"name": "mlp", "hidden": [4]}}
DATA = {
    "name": "tcl",
    "segments": 2,
    "samples_per_segment": 16,
    "eval_samples_per_segment": 4,
    "dim": 2,
    "data_seed": 3,
}
TRAINING = {"steps": 20, "batch_size": 8, "log_every": 10, "checkpoint_every": 10}
EVALUATION = {"metrics": [{"name": "mcc"}, {"name": "cca_mcc"}, {"name": "elbo"}]}  # few: small summaries
COMMON = {"data": DATA, "training": TRAINING, "seeds": 2, "device": "cpu", "evaluation": EVALUATION}
GRID = {
    "name": "old-grid",
    **COMMON,
    "models": {"failing": {"name": "failing", "fail_index": 1}},
    "grid": {"training.retry_nan": [0, 1]},
}
STOPPED = {
    "name": "old-stopped",
    **COMMON,
    "models": {
        "ivae": {"name": "ivae", **MLP},
        "vade": {"name": "vade", **MLP, "prior": {"name": "gmm", "components": 2}},
    },
}


def main(out: Path = HERE / "old_rundir") -> None:
    import ica
    from ica.components.registry import Registry
    from failing_model import failing_plugin

    torch.set_num_threads(1)
    shutil.rmtree(out, ignore_errors=True)
    reg = Registry.load(entry_points=False, extra=[("tests", failing_plugin())])
    ica.run(GRID, out=out / "grid", reg=reg)
    try:
        from ica.running.runner import train_label  # after 0.2.0 (to compare what a later ica writes)
    except ImportError:
        ica.run(STOPPED, out=out / "stopped", only="ivae")
    else:
        train_label(STOPPED, out / "stopped", "ivae")
    for path in [*out.rglob("checkpoint*.pt"), *out.rglob(".training.lock")]:
        path.unlink()


if __name__ == "__main__":
    main()
