"""Where each file of a run directory lives: `RunLayout` for the run, `SeedFiles` for one seed of one cell.

Only paths: nothing here touches the disk. Writing the files is `ica.rundir.writing`, reading them back the
checked readers of the room.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class SeedFiles:
    """The files of one seed of one cell."""

    root: Path

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.jsonl"

    @property
    def checkpoint(self) -> Path:
        return self.root / "checkpoint.pt"

    def checkpoints(self, keep: int) -> list[Path]:
        """The newest checkpoint first, then the ``keep - 1`` kept before it."""
        return [self.checkpoint] + [self.root / f"checkpoint.{k}.pt" for k in range(1, keep)]

    @property
    def weights(self) -> Path:
        return self.root / "model.safetensors"

    @property
    def latents(self) -> Path:
        return self.root / "latents.npz"

    @property
    def result(self) -> Path:
        return self.root / "result.json"


@dataclass(frozen=True)
class RunLayout:
    """``<out>/spec.json, env.json, summary.json`` and ``<out>/<label>/seeds/<seed>/...`` per cell."""

    root: Path

    @property
    def spec(self) -> Path:
        return self.root / "spec.json"

    @property
    def env(self) -> Path:
        return self.root / "env.json"

    @property
    def preprocessing(self) -> Path:
        return self.root / "preprocessing.json"

    @property
    def summary(self) -> Path:
        return self.root / "summary.json"

    def cell(self, label: str) -> Path:
        return self.root / label

    def cell_summary(self, label: str) -> Path:
        return self.cell(label) / "summary.json"

    def seed(self, label: str, seed: int) -> SeedFiles:
        return SeedFiles(self.cell(label) / "seeds" / str(seed))
