"""Which seeds of a model train together: all of them as one batched model, or one at a time where batching
would not help (large networks on the CPU) or cannot work (a component without the seed axis, a fitted peer).
`seed_groups` decides while running, with a one-line notice; `batching_decision` says the same beforehand,
for ``ica validate``."""

from __future__ import annotations

from typing import Any

from ica.components.protocols import DataSplits, count_parameters, is_fitted_peer
from ica.components.registry import Registry
from ica.nn.seeding import NotBatchable
from ica.running.building import CPU_BATCHING_LIMIT, Event, build_model


ONE_SEED, NOT_ASKED = "one seed", "training.batch_seeds is false"
"""`batching_decision`'s reasons that need no notice: nothing to batch, or batching was switched off."""


def seed_groups(
    reg: Registry, options: Any, data: DataSplits, seeds: list[int], batched: bool | str, label: str, on_event: Event
):
    """Yield (seeds, model) to train, as `batching_decision` decides: all seeds in one batched model, or one at a
    time when asked to, when batching would not help ('auto' on the CPU for large models), or when a component
    lacks the seed axis (each of the last two with a one-line notice)."""
    cuda = data.train.x.device.type == "cuda"
    together, why = batching_decision(reg, options, data, seeds, batched, label, cuda, probe=False)
    if together:
        try:
            yield seeds, build_model(reg, options, data, seeds, label)
            return
        except NotBatchable as exc:
            on_event("notice", cell=label, message=f"{label}: {exc}; training its seeds one at a time")
    elif why not in (ONE_SEED, NOT_ASKED):
        on_event("notice", cell=label, message=f"{label}: {why}")
    for seed in seeds:
        yield [seed], build_model(reg, options, data, [seed], label)


def small_enough_to_batch(reg: Registry, options: Any, data: DataSplits, label: str, on_event: Event) -> bool:
    """Whether batching this model's seeds pays on the CPU (`CPU_BATCHING_LIMIT`); a notice where not."""
    refusal = cpu_size_refusal(reg, options, data, label)
    if refusal is not None:
        on_event("notice", cell=label, message=f"{label}: {refusal}")
    return refusal is None


def cpu_size_refusal(reg: Registry, options: Any, data: DataSplits, label: str) -> str | None:
    """Why this model's seeds are too large to gain from batching on the CPU, or None where they are not."""
    model = build_model(reg, options, data, [0], label)
    if is_fitted_peer(model):
        return None  # batching it is refused where it is tried (`NotBatchable`), with the one-line notice
    size = count_parameters(model)
    if size <= CPU_BATCHING_LIMIT:
        return None
    return (
        f"{size:,} parameters per seed; on the CPU seeds this large train no faster batched, so one at a "
        "time (training.batch_seeds: true forces batching)"
    )


def batching_decision(
    reg: Registry,
    options: Any,
    data: DataSplits,
    seeds: list[int],
    batched: bool | str,
    label: str,
    cuda: bool,
    probe: bool = True,
) -> tuple[bool, str | None]:
    """Whether these seeds train as one batched model, and the one-line reason when not: `seed_groups` follows it
    and ``ica validate`` says it before anything trains. With ``probe`` two seeds are built to find a component
    without the seed axis, as building all of them would (`seed_groups` builds all of them instead)."""
    if len(seeds) < 2:
        return False, ONE_SEED
    if batched is False:
        return False, NOT_ASKED
    if batched == "auto" and not cuda:
        refusal = cpu_size_refusal(reg, options, data, label)
        if refusal is not None:
            return False, refusal
    if probe:
        try:
            build_model(reg, options, data, seeds[:2], label)
        except NotBatchable as exc:
            return False, str(exc)
    return True, None
