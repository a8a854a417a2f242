"""Resumable checkpoints: each seed's state written at a step, and training continued from it.

A seed's checkpoint holds everything its path depends on (its part of the model and of Adam, its plateau
schedule, data order, noise generator, the loss windows and its failure status), so a resumed seed follows
the path it would have followed without the stop. A group resumes from the newest step every seed has
readable, and ``metrics.jsonl`` is cut back to that step (`truncate_log`). These are the `Trainer`'s
checkpoint methods as plain functions of the trainer, which it calls; the file formats and their checks
live in `ica.rundir`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Protocol

import torch
from torch import Tensor, nn

from ica.errors import IcaError
from ica.rundir.layout import SeedFiles
from ica.rundir.writing import atomic_write, save_checkpoint
from ica.rundir.checkpoints import load_torch
from ica.rundir.checkpoints import CHECKPOINT_FORMAT, CheckpointExpectation, check_checkpoint, check_group, state_digest
from ica.rundir.metrics_log import read_metrics_lines
from ica.nn.seeding import seed_part, seed_slice
from ica.training.noise import NoiseBlocks
from ica.training.optim import SeedAdam, SeedPlateau, StackedAdam
from ica.training.sampling import SeedSampler, own_copy
from ica.training.seed_state import Accumulator, SeedStatus

LOG_ADVICE = "delete that line to resume, or the seed's checkpoint*.pt and metrics.jsonl to train it from the start"


class CheckpointedTrainer(Protocol):
    """The trainer as checkpointing sees it: what a checkpoint saves and restores. `ica.training.loop.Trainer` is
    the one there is; naming what is read here, not importing it, keeps the loop free to call these functions."""

    spec: Any
    seeds: list[int]
    files: list[SeedFiles] | None
    step: int
    saved_step: int | None
    model: nn.Module
    optimizer: SeedAdam | StackedAdam
    scheduler: SeedPlateau | None
    sampler: SeedSampler
    noise: list[torch.Generator]
    noise_blocks: NoiseBlocks | None
    log_window: Accumulator
    plateau_window: Accumulator
    status: list[SeedStatus]
    on_event: Callable[..., None]

    @property
    def total_steps(self) -> int: ...

    def noise_states(self) -> list[Tensor]: ...


def save_checkpoints(trainer: CheckpointedTrainer) -> None:
    if trainer.files is None:
        raise ValueError("a trainer that keeps nothing on disk has no checkpoints to write")
    trainer.saved_step = trainer.step
    state = trainer.model.state_dict()
    adam = trainer.optimizer.state_dict()
    noise = trainer.noise_states()
    n = len(trainer.seeds)
    for i, files in enumerate(trainer.files):
        checkpoint = {
            "format": CHECKPOINT_FORMAT,
            "seed": trainer.seeds[i],
            "step": trainer.step,
            "model": seed_slice(state, i, n),
            "adam": {
                "lr": own_copy(adam["lr"][i : i + 1]),
                "step": adam["step"],
                "exp_avg": [seed_part(t, i, n).cpu() for t in adam["exp_avg"]],
                "exp_avg_sq": [seed_part(t, i, n).cpu() for t in adam["exp_avg_sq"]],
            },
            "plateau": None
            if not trainer.scheduler
            else {
                "best": own_copy(trainer.scheduler.best[i : i + 1]),
                "bad": own_copy(trainer.scheduler.bad[i : i + 1]),
            },
            "sampler": trainer.sampler.seed_state(i),
            "noise": noise[i],
            "log_window": trainer.log_window.seed_state(i),
            "plateau_window": trainer.plateau_window.seed_state(i),
            "failed_at": trainer.status[i].failed_at,
            "last_finite_loss": trainer.status[i].last_finite_loss,
        }
        checkpoint["digest"] = state_digest(checkpoint)  # a byte changed on disk is seen on resume
        save_checkpoint(files, checkpoint, trainer.spec.checkpoint_keep)


def checkpoint_states(trainer: CheckpointedTrainer) -> list[dict[str, Any]] | None:
    """Each seed's checkpoint at the newest step that every seed of the group has readable, or None.

    An unreadable newest checkpoint (a damaged disk, a copy cut short) falls back to an older kept one,
    with a notice; if some checkpoint is unreadable and no step is common to all seeds, that is an
    error naming the file, and nothing is touched. A checkpoint that loads but is not one this trainer
    can resume (not a dict, another format, a wrong shape or step, a bad generator or sampler state:
    `ica.rundir.checkpoints.check_checkpoint`) is an error naming it, and nothing is touched either: starting
    again would overwrite it, and falling back past it would hide the damage.
    """
    if not trainer.files:
        return None
    readable: list[dict[int, dict[str, Any]]] = []
    broken: list[tuple[Path, str]] = []
    paths: list[dict[int, Path]] = []
    for i, f in enumerate(trainer.files):
        found, where = {}, {}
        for path in f.checkpoints(trainer.spec.checkpoint_keep):
            if not path.exists():
                continue
            try:
                state = load_torch(path)
            except IcaError as exc:
                broken.append((path, exc.message))
                continue
            state = check_checkpoint(state, path, checkpoint_expectation(trainer, i))
            # newest file first: after a resume from an older common step, a stale file of the
            # aborted attempt can hold the same step as a fresh one, and must not win
            if state["step"] not in found:
                found[state["step"]], where[state["step"]] = state, path
        readable.append(found)
        paths.append(where)
    common = set.intersection(*(set(found) for found in readable))
    if not common:
        if broken:
            path, message = broken[0]
            raise IcaError(f"{message}; no older checkpoint of this group's seeds can replace it", where=str(path))
        return None
    step = max(common)
    if broken or any(max(found) != step for found in readable):
        trainer.on_event(
            "notice",
            message=f"resuming seeds {trainer.seeds} from step {step}, the newest step "
            "all of them have readable" + (f" ({broken[0][0]} is unreadable)" if broken else ""),
        )
    states = [found[step] for found in readable]
    check_group(states, [where[step] for where in paths], trainer.sampler.shared)
    return states


def checkpoint_expectation(trainer: CheckpointedTrainer, i: int) -> CheckpointExpectation:
    """What seed ``i``'s checkpoint must hold to be resumed here: this model's and optimiser's shapes (a
    seed's part of each stacked tensor, as `seed_part` cuts it), this sampler's sizes, these generators'."""
    n = len(trainer.seeds)

    def part(shape: torch.Size) -> tuple[int, ...]:
        return tuple(shape) if n == 1 else (1, *shape[1:])

    sampler = trainer.sampler
    return CheckpointExpectation(
        seed=trainer.seeds[i],
        total_steps=trainer.total_steps,
        model={k: (part(v.shape), v.dtype) for k, v in trainer.model.state_dict().items()},
        adam=[(part(p.shape), p.dtype) for p in trainer.optimizer.params],
        scheduler=trainer.scheduler is not None,
        perm_length=sampler.n if sampler.shared else sampler.sizes[i],
        positions=sampler.per_epoch if sampler.shared else sampler.epochs_of[i],
        order_state=(sampler.generators[i].get_state().numel(), str(sampler.generators[i].device)),
        noise_state=(trainer.noise[i].get_state().numel(), str(trainer.noise[i].device)),
    )


def resume(trainer: CheckpointedTrainer) -> None:
    """Continue from the seeds' checkpoints when every seed of the group has one at the same step."""
    states = checkpoint_states(trainer)
    files = trainer.files or []  # states are found only where there are files
    if states is None:
        for f in files:
            f.metrics.unlink(missing_ok=True)  # a fresh start: no stale log lines
        return
    for f in files:  # every log checked before anything is loaded or rewritten
        if f.metrics.exists():
            read_metrics_lines(f.metrics, LOG_ADVICE)
    trainer.step = int(states[0]["step"])
    stacked = {k: torch.cat([st["model"][k] for st in states]) for k in states[0]["model"]}
    trainer.model.load_state_dict(stacked)
    trainer.optimizer.load_state_dict(
        {
            "lr": torch.cat([st["adam"]["lr"] for st in states]),
            "step": states[0]["adam"]["step"],
            "exp_avg": [torch.cat(ts) for ts in zip(*[st["adam"]["exp_avg"] for st in states])],
            "exp_avg_sq": [torch.cat(ts) for ts in zip(*[st["adam"]["exp_avg_sq"] for st in states])],
        }
    )
    if trainer.scheduler and states[0]["plateau"] is not None:
        trainer.scheduler.load_state_dict(
            {
                "best": torch.cat([st["plateau"]["best"] for st in states]),
                "bad": torch.cat([st["plateau"]["bad"] for st in states]),
            }
        )
    trainer.sampler.load_seed_states([st["sampler"] for st in states])
    for g, st in zip(trainer.noise, states):
        g.set_state(st["noise"])
    if trainer.noise_blocks is not None:
        trainer.noise_blocks.restart()
    trainer.log_window.load_seed_states([st["log_window"] for st in states])
    trainer.plateau_window.load_seed_states([st["plateau_window"] for st in states])
    for status, st in zip(trainer.status, states):
        status.failed_at, status.last_finite_loss = st["failed_at"], st["last_finite_loss"]
    for f in files:
        truncate_log(f, trainer.step)
    trainer.on_event("resumed", seeds=trainer.seeds, step=trainer.step)


def truncate_log(files: SeedFiles, step: int) -> None:
    """Drop metrics.jsonl lines written after ``step`` (they will be written again), and a line torn by a
    kill in the middle of an append (it is after the checkpoint's step too). Any other line that is not one
    the trainer wrote is an error naming the file and line (`ica.rundir.metrics_log.read_metrics_lines`)."""
    if not files.metrics.exists():
        return
    lines = read_metrics_lines(files.metrics, LOG_ADVICE)
    kept = [text for text, line in lines if line["step"] <= step]
    atomic_write(files.metrics, "".join(text + "\n" for text in kept).encode())  # a full disk loses no line
