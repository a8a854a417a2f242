"""Each seed's own data order: mini-batch indices for S seeds, each shuffling its own epochs.

A seed trained beside others draws the same indices it would draw alone, also when the seeds of packed
grid cells each draw from their own cell's split (sizes and offsets into the concatenated one). The
sampler's per-seed state goes into each seed's checkpoint; `own_copy` is the copy every per-seed part of a
checkpoint goes through, shared with the trainer's other per-seed state.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ica.nn.seeding import generator


def own_copy(part: Tensor) -> Tensor:
    """A seed's part as a tensor of its own on the CPU: torch.save writes a view's whole storage, so a view
    would put every seed's state into each seed's checkpoint."""
    return part.detach().to("cpu", copy=True)


def epoch_steps(n: int, batch_size: int) -> int:
    """Mini-batches in one pass over ``n`` examples (whole batches only, at least one): a training step count
    per epoch, for the sampler and for whoever states a run's steps before it trains (env.json)."""
    return max(1, n // max(1, min(batch_size, n)))


class SeedSampler:
    """Mini-batch indices ``[S, B]`` for S seeds: each seed shuffles its own epochs, without replacement.

    Usually every seed draws from the same split of ``n`` examples. Seeds of packed grid cells
    (`ica.running.packing`) each draw from their own cell's split: ``n`` is then one size per seed and ``offsets``
    say where each seed's split starts in the concatenated one. A seed's indices (less its offset) are the
    same as when it trains alone.
    """

    def __init__(
        self,
        n: int | list[int],
        batch_size: int,
        seeds: list[int],
        device: torch.device,
        offsets: list[int] | None = None,
    ):
        sizes = [n] * len(seeds) if isinstance(n, int) else list(n)
        self.offsets = list(offsets) if offsets is not None else [0] * len(seeds)
        self.shared = len(set(sizes)) == 1 and not any(self.offsets)
        self.n, self.sizes = sizes[0], sizes
        self.batch = min(batch_size, min(sizes))
        if not self.shared and any(min(batch_size, m) != self.batch for m in sizes):
            raise ValueError("seeds drawing from splits of different sizes need splits of at least batch_size")
        self.epochs_of = [epoch_steps(m, self.batch) for m in sizes]
        self.per_epoch = min(self.epochs_of)
        self.generators = [generator(s, "order") for s in seeds]
        self.device = device
        self.perm: Tensor | None = None
        self.position = self.per_epoch
        self.positions = list(self.epochs_of)  # per seed, when the splits differ
        self.drawn = [False] * len(seeds)  # per seed: has its first epoch's order been drawn
        if not self.shared:
            self.perm = torch.zeros(len(seeds), max(sizes), dtype=torch.long, device=device)
            self.shift = torch.tensor(self.offsets, device=device)[:, None]
            self.within = torch.arange(self.batch, device=device)[None, :]

    def next(self) -> Tensor:
        if not self.shared:
            return self._next_own_splits()
        if self.perm is None or self.position >= self.per_epoch:  # no order yet only at an epoch's end
            perms = [torch.randperm(self.n, generator=g) for g in self.generators]
            self.perm = torch.stack(perms).to(self.device, non_blocking=True)
            self.position = 0
        start = self.position * self.batch
        self.position += 1
        return self.perm[:, start : start + self.batch]

    @property
    def _own_perm(self) -> Tensor:
        """The ``[S, max n]`` orders of seeds that draw from their own splits (made with the sampler)."""
        if self.perm is None:
            raise RuntimeError("the sampler's seeds share one split; there are no per-seed orders")
        return self.perm

    def _next_own_splits(self) -> Tensor:
        perm = self._own_perm
        for i, g in enumerate(self.generators):
            if self.positions[i] >= self.epochs_of[i]:
                perm[i, : self.sizes[i]] = torch.randperm(self.sizes[i], generator=g).to(self.device)
                self.positions[i], self.drawn[i] = 0, True
        starts = torch.tensor([p * self.batch for p in self.positions]).to(self.device, non_blocking=True)
        self.positions = [p + 1 for p in self.positions]
        return perm.gather(1, starts[:, None] + self.within) + self.shift

    def seed_state(self, i: int) -> dict[str, Any]:
        if not self.shared:
            perm = own_copy(self._own_perm[i, : self.sizes[i]]) if self.drawn[i] else None
            return {"perm": perm, "position": self.positions[i], "generator": self.generators[i].get_state()}
        perm = None if self.perm is None else own_copy(self.perm[i])  # the sampler always has the seed axis
        return {"perm": perm, "position": self.position, "generator": self.generators[i].get_state()}

    def load_seed_states(self, states: list[dict[str, Any]]) -> None:
        for g, st in zip(self.generators, states):
            g.set_state(st["generator"])
        if not self.shared:
            self.positions = [int(st["position"]) for st in states]
            for i, st in enumerate(states):
                if st["perm"] is not None:
                    self._own_perm[i, : self.sizes[i]] = st["perm"].to(self.device)
                    self.drawn[i] = True
            return
        self.position = int(states[0]["position"])
        if states[0]["perm"] is not None:
            self.perm = torch.stack([st["perm"] for st in states]).to(self.device)
