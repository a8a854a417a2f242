"""Seeds: every run's randomness derived from its seed alone, separately for each purpose.

A seed k gives independent streams for initialisation, data order, reparameterisation noise and the
evaluation ELBO, so changing one (say the batch size) never shifts another, and a seed trained beside
others sees exactly the numbers it would see alone.
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from typing import Callable, Iterator

import numpy as np
import torch
from torch import nn

PURPOSES = {"init": 1, "order": 2, "noise": 3, "elbo": 4, "sample": 5}  # "sample": a trained model's draws


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


_ACTIVE_GENERATORS: ContextVar[list[torch.Generator] | None] = ContextVar("ica_seed_generators", default=None)


@contextmanager
def seed_generators(generators: list[torch.Generator]) -> Iterator[None]:
    """Make each seed's generator the source of randomness drawn inside a training step.

    The trainer wraps every loss computation in this, so stochastic layers (dropout) that draw through
    `seed_rand` take seed i's numbers from seed i's own stream, and a seed batched with others sees
    exactly the masks it would see alone. The generators' states are checkpointed with the run.
    """
    token = _ACTIVE_GENERATORS.set(list(generators))
    try:
        yield
    finally:
        _ACTIVE_GENERATORS.reset(token)


def seed_rand(seeds: int, shape: tuple[int, ...], device: torch.device | str = "cpu") -> torch.Tensor:
    """Uniform [0, 1) numbers ``[seeds, *shape]``, seed i's part drawn from seed i's active generator.

    Outside `seed_generators` (a module used on its own), the numbers come from torch's global RNG.
    """
    return _per_seed(torch.rand, seeds, shape, device)


def seed_randn(seeds: int, shape: tuple[int, ...], device: torch.device | str = "cpu") -> torch.Tensor:
    """Standard normals ``[seeds, *shape]``, drawn as `seed_rand` draws its uniforms."""
    return _per_seed(torch.randn, seeds, shape, device)


def _per_seed(
    draw: Callable[..., torch.Tensor], seeds: int, shape: tuple[int, ...], device: torch.device | str
) -> torch.Tensor:
    generators = _ACTIVE_GENERATORS.get()
    if generators is None:
        return draw(seeds, *shape, device=device)
    if len(generators) != seeds:
        raise RuntimeError(f"{seeds} seeds need random numbers, but {len(generators)} seed generators are active")
    return torch.stack([draw(shape, generator=g, device=device) for g in generators])


class NotBatchable(ValueError):
    """A component whose parameters lack the leading seed axis: its seeds must be trained one at a time."""


def check_seed_axis(module: nn.Module, seeds: int) -> None:
    """Raise `NotBatchable` if a parameter or buffer lacks the leading seed axis (the batching contract)."""
    for name, tensor in [*module.named_parameters(), *module.named_buffers()]:
        if tensor.dim() == 0 or tensor.shape[0] != seeds:
            raise NotBatchable(
                f"{type(module).__name__}.{name} has shape {tuple(tensor.shape)}; every parameter and buffer "
                f"must have the seed axis ({seeds}) first"
            )


def seed_part(tensor: torch.Tensor, index: int, seeds: int) -> torch.Tensor:
    """Seed ``index``'s part of a stacked tensor (``[1, ...]`` kept); a single-seed tensor is all its own.

    Single-seed modules need not have the seed axis at all (plugins that cannot be batched), so with
    one seed nothing is sliced.
    """
    part = tensor if seeds == 1 else tensor[index : index + 1]
    return part.detach().clone()


def seed_slice(state: dict[str, torch.Tensor], index: int, seeds: int) -> dict[str, torch.Tensor]:
    """Seed ``index``'s part of a stacked state dict."""
    return {k: seed_part(v, index, seeds) for k, v in state.items()}
