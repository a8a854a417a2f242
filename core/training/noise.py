"""Each seed's reparameterisation noise drawn a block of steps at a time, the same numbers as step by step.

Drawing ``[B, d]`` from each of S generators every step costs S calls (about 0.2 ms a step at S = 50, some
6% of a compiled MLP step). On the CPU, torch draws normal numbers in groups of 16 from consecutive
uniforms, so when a step's draw holds a multiple of 16 numbers, one draw of T steps gives exactly the T
draws one after another (checked on copies of the generators before use: `NoiseBlocks.create` returns None
where it does not hold). A checkpoint stores each generator as it would be had it drawn step by step
(`states`), so a run resumes identically and checkpoints do not depend on the block size.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

BLOCK_NUMBERS = 1 << 18
"""About this many numbers (1 MiB of float32) per block for all seeds together: small enough for the cache."""


def _generator_at(state: Tensor, device: torch.device) -> torch.Generator:
    """A new generator in ``state``: a copy to draw from without moving the original."""
    twin = torch.Generator(device=device)
    twin.set_state(state)
    return twin


class NoiseBlocks:
    """Noise ``[S, *shape]`` for one step at a time, drawn ``steps`` steps at once per seed."""

    def __init__(self, generators: list[torch.Generator], shape: tuple[int, ...], steps: int, device: torch.device):
        self.generators, self.shape, self.steps, self.device = generators, tuple(shape), steps, device
        self.block: Tensor | None = None
        self.position = steps
        self.starts: list[Tensor] = []

    @classmethod
    def create(
        cls, generators: list[torch.Generator], shape: tuple[int, ...] | None, device: torch.device
    ) -> "NoiseBlocks | None":
        """Blocks for these generators where they give the step-by-step numbers, else None (then draw per step)."""
        if shape is None or device.type != "cpu" or not generators:
            return None
        per_step = math.prod(shape)
        steps = min(64, BLOCK_NUMBERS // max(1, per_step * len(generators)))
        if steps < 2 or per_step % 16:
            return None
        g = generators[0]
        one, block = _generator_at(g.get_state(), g.device), _generator_at(g.get_state(), g.device)
        alone = torch.stack([torch.randn(shape, generator=one) for _ in range(3)])
        if not torch.equal(alone, torch.randn((3, *shape), generator=block)) or not torch.equal(
            one.get_state(), block.get_state()
        ):
            return None
        return cls(generators, shape, steps, device)

    def next(self) -> Tensor:
        if self.block is None or self.position >= self.steps:  # no block yet only where position is at steps
            self.starts = [g.get_state() for g in self.generators]
            draws = [torch.randn((self.steps, *self.shape), generator=g) for g in self.generators]
            self.block = torch.stack(draws, dim=1).to(self.device)  # [steps, S, *shape]: each step contiguous
            self.position = 0
        step = self.block[self.position]
        self.position += 1
        return step

    def states(self) -> list[Tensor]:
        """Each generator's state as if it had drawn step by step up to now."""
        if self.block is None or self.position >= self.steps:
            return [g.get_state() for g in self.generators]
        states = []
        for start in self.starts:
            twin = _generator_at(start, self.generators[0].device)
            if self.position:
                torch.randn((self.position, *self.shape), generator=twin)
            states.append(twin.get_state())
        return states

    def restart(self) -> None:
        """Forget the drawn block (the generators were set from a checkpoint): the next step draws anew."""
        self.block, self.position, self.starts = None, self.steps, []
