"""What the loop keeps of each seed besides its part of the model and optimiser: whether it failed, and the
sums of its loss over the current logging and plateau windows. A checkpoint saves both per seed
(`ica.training.checkpoints`), so they live apart from the loop that updates them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from ica.training.sampling import own_copy


@dataclass
class SeedStatus:
    """Bookkeeping for one seed of a group."""

    seed: int
    failed_at: int | None = None
    last_finite_loss: float | None = None

    @property
    def failed(self) -> bool:
        return self.failed_at is not None


@dataclass
class Accumulator:
    """Per-seed sums of the loss and its terms over a window of steps, kept on the device."""

    seeds: int
    device: torch.device
    sums: dict[str, Tensor] = field(default_factory=dict)
    count: int = 0

    def add(self, values: dict[str, Tensor]) -> None:
        for k, v in values.items():
            if k in self.sums:
                self.sums[k] += v
            else:
                self.sums[k] = v.clone()
        self.count += 1

    def means(self) -> dict[str, Tensor]:
        return {k: v / max(1, self.count) for k, v in self.sums.items()}

    def reset(self) -> None:
        self.sums, self.count = {}, 0

    def seed_state(self, i: int) -> dict[str, Any]:
        return {"count": self.count, "sums": {k: own_copy(v[i : i + 1]) for k, v in self.sums.items()}}

    def load_seed_states(self, states: list[dict[str, Any]]) -> None:
        self.count = int(states[0]["count"])
        keys = states[0]["sums"].keys()
        self.sums = {k: torch.cat([st["sums"][k] for st in states]).to(self.device) for k in keys}
