"""Optional TensorBoard logging (``training.logger: "tensorboard"``; install ``ica-toolkit[tensorboard]``).

Run directories stay the record; TensorBoard is a view for people watching many seeds train: one event
directory per seed, ``<run>/<model>/seeds/<seed>/tensorboard``, scalars at every ``log_every`` step and,
when the seed is evaluated, its hyper-parameters with its final metrics.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ica.errors import SpecError


def require_tensorboard() -> None:
    """Fail before training, with the fix, when TensorBoard is asked for but not installed."""
    try:
        from torch.utils.tensorboard import SummaryWriter  # noqa: F401
    except ImportError:
        raise SpecError(
            "TensorBoard logging needs the tensorboard package: pip install 'ica-toolkit[tensorboard]'",
            where="training.logger",
        ) from None


class TensorBoardLog:
    """One ``SummaryWriter`` per seed of a group."""

    def __init__(self, directories: list[Path]):
        from torch.utils.tensorboard import SummaryWriter

        from ica.rundir.writing import safe_dir

        # The seed's folder is checked by the run; its tensorboard/ sub-folder must not be a planted link either.
        self.writers = [SummaryWriter(log_dir=str(safe_dir(Path(d).parent, Path(d).name))) for d in directories]

    def scalars(self, index: int, step: int, values: dict[str, Any]) -> None:
        for name, value in values.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                self.writers[index].add_scalar(name, value, step)
        self.writers[index].flush()

    def hparams(self, index: int, hparams: dict[str, Any], metrics: dict[str, float]) -> None:
        clean = {k: v if isinstance(v, (int, float, str, bool)) else str(v) for k, v in hparams.items()}
        self.writers[index].add_hparams(clean, {f"final/{k}": v for k, v in metrics.items()}, run_name=".")
        self.writers[index].flush()

    def close(self) -> None:
        for w in self.writers:
            w.close()
