"""Training the cells of a grid that share shapes together: cells of a few seeds each become one
batched model holding all their seeds (on the CPU up to `CPU_PACK_SEEDS` seeds; on CUDA Fig. 2's five data
sizes become one model of 5 x 10 seeds).

Cells pack when a model label has the same options and training settings in each, its networks have the
same shapes (same observed and latent sizes, same number of segments) and training is counted in steps;
they differ only in their data. Each seed then draws its mini-batches from its own cell's training split
(`ica.training.loop.SeedSampler` with per-seed sizes and offsets into the concatenated splits), so every seed is
trained exactly as it would be in its own cell: its initialisation, data order, noise, optimiser state and
schedule are its own. After training, each cell's seeds are cut out of the packed model and finished in
their cell's directory (latents and ELBO on that cell's data); running the cells afterwards finds their
seeds finished and only evaluates. Interrupted packs resume from the same per-seed checkpoints.
"""

from __future__ import annotations

import json
from contextlib import ExitStack
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Callable

import torch

from ica.nn.seeding import NotBatchable
from ica.running.batching import small_enough_to_batch
from ica.running.building import build_model, planned_device, prepare_data, resolve_device
from ica.running.outcomes import finish_group, load_outcome
from ica.components.protocols import DataSplits, Split
from ica.components.sequences import training_split
from ica.rundir.layout import RunLayout
from ica.rundir.writing import safe_dir
from ica.training.loop import Trainer
from ica.spec.experiment import ExperimentSpec

Event = Callable[..., None]


@dataclass
class Member:
    """One grid cell's part of a pack: its spec, run directory, data (on the device) and unfinished seeds."""

    spec: ExperimentSpec
    layout: RunLayout
    data: DataSplits
    todo: list[int]


def train_packs(
    reg: Any, cells: list, root: Path, *, device: str | None, on_event: Event, only: str | None = None
) -> None:
    """Train every pack of two or more grid cells of each model label (or of ``only``); leave everything
    else to the cells."""
    for label, group in pack_groups(reg, cells):
        if only is None or label == only:
            train_pack(reg, label, members(reg, [(c.spec, root / c.directory) for c in group], device), on_event)


def pack_groups(reg: Any, cells: list) -> list[tuple[str, list]]:
    """``(label, cells)`` for every set of two or more grid cells whose model ``label`` can train packed:
    the same model and training options and device, networks of the same shapes, batches that fit. A fitted
    peer (FastICA, CEBRA) never packs: it has no seed axis, each cell fits it seed by seed."""
    candidates: dict[tuple[str, ...], list] = {}
    for cell in cells:
        if not cell.spec.training.pack_cells:
            continue
        data = prepare_data(cell.spec, reg)  # a grid builds it once (`ica.running.building.shared_data`)
        peers = fitted_peers(cell.spec, reg)
        for label in cell.spec.models:
            if label in peers:
                continue
            key = (label, _pack_key(cell.spec, label), _shape_key(cell.spec, data))
            candidates.setdefault(key, []).append(cell)
    return [(key[0], pack) for key, group in candidates.items() for pack in packs_of(group) if len(pack) > 1]


CPU_PACK_SEEDS = 16
"""On the CPU, cells are packed only up to this many seeds per model: a compiled step of 50 small seeds runs
slower per seed than one of 10-30 (measured 7,400-8,500 against 9,300-13,500 seed-steps/s, noisily), so Fig. 2's
grid (5 cells of 10 seeds) trains faster cell by cell: 7 min 7 s against 8 min 45 s packed, the same latents
(benchmarks/README.md, 2026-12-03). Cells of a few seeds each still pack. On CUDA there is no limit."""


def packs_of(group: list) -> list[list]:
    """``group``'s cells in packs of at most `CPU_PACK_SEEDS` seeds on the CPU (one pack on CUDA), in order."""
    if planned_device(group[0].spec.device).type == "cuda":
        return [group]
    packs: list[list] = [[]]
    for cell in group:
        seeds = len(cell.spec.seed_list)
        if packs[-1] and sum(len(c.spec.seed_list) for c in packs[-1]) + seeds > CPU_PACK_SEEDS:
            packs.append([])
        packs[-1].append(cell)
    return packs


def fitted_peers(spec: ExperimentSpec, reg: Any) -> set[str]:
    """The labels of ``spec``'s models that are fitted peers (fitted seed by seed, no optimisation steps, no seed
    axis): each model is built on the meta device for one seed, which allocates and fits nothing. Raises
    `DataError` where the data cannot be read yet."""
    from ica.components.protocols import is_fitted_peer
    from ica.running.building import model_context
    from ica.running.resources import on_meta

    ctx = model_context(prepare_data(spec, reg))
    return {
        label
        for label, options in spec.models.items()
        if is_fitted_peer(on_meta(partial(reg.build, options, ctx), f"models.{label}"))
    }


def members(reg: Any, cells: list[tuple[Any, Path]], device: str | None) -> list[Member]:
    """Each cell's part of a pack (validated spec, run directory), its directory claimed."""
    from ica.running.claims import claim_directory
    from ica.running.preprocessing import keep_record

    found = []
    for spec, out in cells:
        layout = RunLayout(Path(out))
        safe_dir(layout.root.parent, layout.root.name)  # a grid cell's directory, never a link out of the grid
        claim_directory(layout, spec)
        data, torch_device = prepare_data(spec, reg), resolve_device(device or spec.device)
        keep_record(layout, data)  # before any seed finishes: each records its digest
        found.append(Member(spec, layout, data.to(torch_device), []))
    return found


def _pack_key(spec: ExperimentSpec, label: str) -> str:
    """Cells whose model ``label`` may pack share this: the model's and the training's options, the device."""
    if spec.training.epochs is not None or spec.training.batch_seeds is False:
        return f"alone:{id(spec)}"
    return json.dumps(
        {
            "model": spec.models[label].model_dump(mode="json"),
            "training": spec.training.model_dump(mode="json"),
            "device": spec.device,
        },
        sort_keys=True,
    )


def _shape_key(spec: ExperimentSpec, data: DataSplits) -> str:
    """Same observed shape, number of segments (or columns of a continuous u) and source dimension: the networks
    come out the same shape.
    A training split smaller than a batch would give that seed smaller batches: it trains alone."""
    if spec.training.batch_size > len(data.train):
        return f"alone:{id(spec)}"
    return json.dumps([list(data.x_shape), data.n_u, data.source_dim, data.train.u is None, data.u_dim])


def train_pack(reg: Any, label: str, members: list[Member], on_event: Event) -> None:
    """Train the unfinished seeds of ``members`` (cells) as one batched model, holding each cell's lock."""
    from ica.running.claims import confirm_claim
    from ica.running.seed_training import model_lock, retry_diverged, seed_dir

    with ExitStack() as locks:
        for member in sorted(members, key=lambda m: str(m.layout.root)):
            locks.enter_context(model_lock(member.layout, label, on_event))
        for member in members:
            confirm_claim(member.layout, member.spec)
            for s in member.spec.seed_list:
                seed_dir(member.layout, label, s, create=False)
            member.todo = [s for s in member.spec.seed_list if load_outcome(member.layout.seed(label, s)) is None]
        members = [m for m in members if m.todo]
        if len(members) < 2:
            return
        first, options = members[0], members[0].spec.models[label]
        seeds = [s for m in members for s in m.todo]
        if (
            first.spec.training.batch_seeds == "auto"
            and first.data.train.x.device.type != "cuda"
            and not small_enough_to_batch(reg, options, first.data, label, on_event)
        ):
            return
        if not pack_fits(reg, options, members, len(seeds), label, on_event):
            return
        try:
            model = build_model(reg, options, first.data, seeds, label)
        except NotBatchable:
            return
        on_event(
            "notice",
            cell=label,
            message=f"{label}: training {len(seeds)} seeds of {len(members)} grid cells together (training.pack_cells)",
        )
        model = model.to(first.data.train.x.device)
        splits = [training_split(model, m.data.train, f"models.{label}") for m in members]  # pairs: each cell's own
        sizes, offsets, start = [], [], 0
        for m, split in zip(members, splits):
            sizes += [len(split)] * len(m.todo)
            offsets += [start] * len(m.todo)
            start += len(split)
        train = _concatenated(splits)
        files = [m.layout.seed(label, s) for m in members for s in m.todo]
        for m in members:
            for s in m.todo:
                seed_dir(m.layout, label, s)
        trainer = Trainer(
            model,
            train,
            seeds,
            first.spec.training,
            files,
            sizes=sizes,
            offsets=offsets,
            on_event=lambda name, **info: on_event(name, cell=label, **info),
        )
        statuses = trainer.run()
        state, at = model.state_dict(), 0
        for m in members:
            part = slice(at, at + len(m.todo))
            at = part.stop
            alone = build_model(reg, options, m.data, m.todo, label).to(first.data.train.x.device)
            alone.load_state_dict({k: v[part] for k, v in state.items()})
            points = m.data.eval if m.spec.evaluation.split == "eval" else m.data.train
            diverged = {st.seed for st in statuses[part] if st.failed}
            for outcome in finish_group(alone, statuses[part], trainer, m.data, points, files[part], m.layout):
                if outcome.seed in diverged and m.spec.training.retry_nan:
                    retry_diverged(reg, m.spec, label, options, m.data, m.layout, outcome.seed, on_event)


def pack_fits(reg: Any, options: Any, members: list[Member], seeds: int, label: str, on_event: Event) -> bool:
    """Whether one model of all the pack's ``seeds`` (each cell checked only its own) trains in the memory there
    is, with every cell's data on a GPU; if not, the cells train one by one, as each was checked to fit."""
    from ica.errors import SpecError
    from ica.running.building import check_seeds_memory, split_bytes

    first = members[0]
    device = first.data.train.x.device
    data_bytes = sum(split_bytes(m.data) for m in members) if device.type == "cuda" else 0
    try:
        check_seeds_memory(reg, options, first.data, label, seeds, first.spec.training.batch_size, device, data_bytes)
    except SpecError as exc:
        on_event(
            "notice",
            cell=label,
            message=f"{label}: not packing {len(members)} grid cells ({exc.message}); training them one by one",
        )
        return False
    return True


def _concatenated(splits: list[Split]) -> Split:
    """The cells' training splits one after another (sources are not needed for training; a model that reads
    pairs gets each cell's pairs, made before joining, so no pair spans two cells)."""

    def joined(parts: list[torch.Tensor | None]) -> torch.Tensor | None:
        given = [p for p in parts if p is not None]  # all or none: cells pack only so (`_shape_key`)
        return torch.cat(given) if given else None

    x = torch.cat([s.x for s in splits])
    return Split(x, joined([s.u for s in splits]), previous=joined([s.previous for s in splits]))


def train_packed_unit(unit: Any, device: str | None, on_event: Event) -> None:
    """A worker's or array task's packed unit (`ica.running.executor.Unit` with ``packed_with``)."""
    from ica.components.registry import registry
    from ica.spec.load import load_spec

    reg = registry()
    cells = [(load_spec(p.spec, reg), Path(p.out)) for p in unit.parts]
    train_pack(reg, unit.label, members(reg, cells, device), on_event)
