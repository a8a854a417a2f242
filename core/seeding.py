"""Seeds: every run's randomness derived from its seed alone, separately for each purpose.

A seed k gives independent streams for initialisation, data order, reparameterisation noise and the
evaluation ELBO, so changing one (say the batch size) never shifts another, and a seed trained beside
others sees exactly the numbers it would see alone.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch import nn

PURPOSES = {"init": 1, "order": 2, "noise": 3, "elbo": 4}


def derived_seed(seed: int, purpose: str) -> int:
    """A 63-bit seed for ``purpose`` drawn from numpy's SeedSequence of (seed, purpose)."""
    state = np.random.SeedSequence([seed, PURPOSES[purpose]]).generate_state(1, dtype=np.uint64)[0]
    return int(state >> np.uint64(1))


def generator(seed: int, purpose: str, device: torch.device | str = "cpu") -> torch.Generator:
    """A torch generator on ``device`` seeded for ``purpose``."""
    g = torch.Generator(device=device)
    g.manual_seed(derived_seed(seed, purpose))
    return g


def build_seeded(build: Callable[[int], nn.Module], seeds: list[int]) -> nn.Module:
    """A module holding ``len(seeds)`` runs, each initialised exactly as if built alone.

    Args:
        build: ``build(n)`` returns a module whose every parameter and buffer has leading size ``n``.
        seeds: the runs' seeds; run i is built with ``n = 1`` under ``derived_seed(seeds[i], "init")``.
    """
    singles = []
    for seed in seeds:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(derived_seed(seed, "init"))
            singles.append(build(1))
    if len(seeds) == 1:
        return singles[0]
    with torch.random.fork_rng(devices=[]):
        stacked = build(len(seeds))
    states = [m.state_dict() for m in singles]
    stacked.load_state_dict({k: torch.cat([s[k] for s in states]) for k in states[0]})
    return stacked


def check_seed_axis(module: nn.Module, seeds: int) -> None:
    """Raise if a parameter or buffer lacks the leading seed axis (the batching contract)."""
    for name, tensor in [*module.named_parameters(), *module.named_buffers()]:
        if tensor.dim() == 0 or tensor.shape[0] != seeds:
            raise ValueError(
                f"{type(module).__name__}.{name} has shape {tuple(tensor.shape)}; every parameter and buffer "
                f"must have the seed axis ({seeds}) first"
            )


def seed_slice(state: dict[str, torch.Tensor], index: int) -> dict[str, torch.Tensor]:
    """Seed ``index``'s part of a stacked state dict (shape ``[1, ...]`` kept)."""
    return {k: v[index : index + 1].detach().clone() for k, v in state.items()}
