"""The one training loop: any model honouring the ``Model`` contract, S seeds at once.

Each seed keeps its own data order, reparameterisation noise, Adam state and learning-rate schedule,
so a seed trained beside others follows the path it would follow alone. The loop avoids host-device
synchronisation inside a step: losses are accumulated on the device and read every ``log_every``
steps, which is also when non-finite seeds are detected and marked failed (the others go on).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from torch import Tensor, nn

from ica.identifiability import LConstraint
from ica.optim import SeedAdam, SeedPlateau
from ica.protocols import Batch, Split
from ica.errors import IcaError
from ica.results import SeedFiles, append_text, atomic_write, load_torch, save_checkpoint
from ica.run_files import CheckpointExpectation, check_checkpoint, check_group, read_metrics_lines, state_digest
from ica.seeding import generator, seed_generators, seed_part, seed_slice
from ica.signals import Interrupted, stop_requests

CHECKPOINT_FORMAT = 1
LOG_ADVICE = "delete that line to resume, or the seed's checkpoint*.pt and metrics.jsonl to train it from the start"
Event = Callable[..., None]


def _own(part: Tensor) -> Tensor:
    """A seed's part as a tensor of its own on the CPU: torch.save writes a view's whole storage, so a view
    would put every seed's state into each seed's checkpoint."""
    return part.detach().to("cpu", copy=True)


class SeedSampler:
    """Mini-batch indices ``[S, B]`` for S seeds: each seed shuffles its own epochs, without replacement.

    Usually every seed draws from the same split of ``n`` examples. Seeds of packed grid cells
    (`ica.packing`) each draw from their own cell's split: ``n`` is then one size per seed and ``offsets``
    say where each seed's split starts in the concatenated one. A seed's indices (less its offset) are the
    same as when it trains alone.
    """

    def __init__(self, n: int | list[int], batch_size: int, seeds: list[int], device: torch.device,
                 offsets: list[int] | None = None):
        sizes = [n] * len(seeds) if isinstance(n, int) else list(n)
        self.offsets = list(offsets) if offsets is not None else [0] * len(seeds)
        self.shared = len(set(sizes)) == 1 and not any(self.offsets)
        self.n, self.sizes = sizes[0], sizes
        self.batch = min(batch_size, min(sizes))
        if not self.shared and any(min(batch_size, m) != self.batch for m in sizes):
            raise ValueError("seeds drawing from splits of different sizes need splits of at least batch_size")
        self.epochs_of = [max(1, m // self.batch) for m in sizes]
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
        if self.position >= self.per_epoch:
            perms = [torch.randperm(self.n, generator=g) for g in self.generators]
            self.perm = torch.stack(perms).to(self.device, non_blocking=True)
            self.position = 0
        start = self.position * self.batch
        self.position += 1
        return self.perm[:, start : start + self.batch]

    def _next_own_splits(self) -> Tensor:
        for i, g in enumerate(self.generators):
            if self.positions[i] >= self.epochs_of[i]:
                self.perm[i, : self.sizes[i]] = torch.randperm(self.sizes[i], generator=g).to(self.device)
                self.positions[i], self.drawn[i] = 0, True
        starts = torch.tensor([p * self.batch for p in self.positions]).to(self.device, non_blocking=True)
        self.positions = [p + 1 for p in self.positions]
        return self.perm.gather(1, starts[:, None] + self.within) + self.shift

    def seed_state(self, i: int) -> dict[str, Any]:
        if not self.shared:
            perm = _own(self.perm[i, : self.sizes[i]]) if self.drawn[i] else None
            return {"perm": perm, "position": self.positions[i], "generator": self.generators[i].get_state()}
        perm = None if self.perm is None else _own(self.perm[i])  # the sampler always has the seed axis
        return {"perm": perm, "position": self.position, "generator": self.generators[i].get_state()}

    def load_seed_states(self, states: list[dict[str, Any]]) -> None:
        for g, st in zip(self.generators, states):
            g.set_state(st["generator"])
        if not self.shared:
            self.positions = [int(st["position"]) for st in states]
            for i, st in enumerate(states):
                if st["perm"] is not None:
                    self.perm[i, : self.sizes[i]] = st["perm"].to(self.device)
                    self.drawn[i] = True
            return
        self.position = int(states[0]["position"])
        if states[0]["perm"] is not None:
            self.perm = torch.stack([st["perm"] for st in states]).to(self.device)


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
        return {"count": self.count, "sums": {k: _own(v[i : i + 1]) for k, v in self.sums.items()}}

    def load_seed_states(self, states: list[dict[str, Any]]) -> None:
        self.count = int(states[0]["count"])
        keys = states[0]["sums"].keys()
        self.sums = {k: torch.cat([st["sums"][k] for st in states]).to(self.device) for k in keys}


class Trainer:
    """Trains one group of seeds of one model on one data set.

    Args:
        model: a model whose parameters all have leading size ``len(seeds)``.
        train: the training split, already on the model's device.
        seeds: the seeds in the group, in the order of the model's seed axis.
        training: the spec's ``TrainingSpec``.
        files: each seed's run files (metrics, checkpoints), or None to keep nothing on disk.
        on_event: called as ``on_event(name, **info)`` for progress display.
        sizes, offsets: for seeds of packed grid cells, each seed's training split is ``train``'s rows
            ``offsets[i]`` to ``offsets[i] + sizes[i]`` (`ica.packing`); by default all seeds share ``train``.
    """

    def __init__(self, model: nn.Module, train: Split, seeds: list[int], training: Any,
                 files: list[SeedFiles] | None = None, on_event: Event | None = None,
                 sizes: list[int] | None = None, offsets: list[int] | None = None):
        self.model, self.train, self.seeds, self.spec = model, train, seeds, training
        self.files, self.on_event = files, on_event or (lambda *a, **k: None)
        self.device = next(model.parameters()).device
        self.optimizer = SeedAdam(model.parameters(), len(seeds), training.lr, training.betas)
        sched = training.scheduler
        self.scheduler = (
            SeedPlateau(self.optimizer, sched.factor, sched.patience, sched.threshold, sched.min_lr) if sched else None
        )
        self.sampler = SeedSampler(len(train) if sizes is None else sizes, training.batch_size, seeds, self.device,
                                   offsets)
        self.noise = [generator(s, "noise", self.device) for s in seeds]
        self.log_window = Accumulator(len(seeds), self.device)
        self.plateau_window = Accumulator(len(seeds), self.device)
        self.status = [SeedStatus(s) for s in seeds]
        self.step = 0
        self.saved_step: int | None = None  # the step of the checkpoints on disk, once this trainer wrote them
        # Compiling the loss (not the whole step) keeps the optimiser, sampler and logging eager and simple.
        self.loss = torch.compile(model.loss) if training.compile else model.loss
        self.tensorboard = None
        if files and training.logger == "tensorboard":
            from ica.tblog import TensorBoardLog

            self.tensorboard = TensorBoardLog([f.root / "tensorboard" for f in files])
        self.constraint = LConstraint.for_model(
            model, training.identifiability, lambda message: self.on_event("notice", message=message)
        )

    @property
    def total_steps(self) -> int:
        """The spec's ``steps``, or ``epochs`` passes over the training split when epochs are given."""
        epochs = self.spec.epochs
        return self.spec.steps if epochs is None else epochs * self.sampler.per_epoch

    # ---------------------------------------------------------------------------------- loop
    def run(self) -> list[SeedStatus]:
        self.resume()
        self.model.train()
        self.on_event("train_start", seeds=self.seeds, step=self.step, steps=self.total_steps)
        started = time.perf_counter()
        with stop_requests() as stop_requested:
            while self.step < self.total_steps and not all(s.failed for s in self.status):
                self.one_step()
                self.step += 1
                if self.step % self.spec.log_every == 0 or self.step == self.total_steps:
                    self.log()
                if self.scheduler and self.step % self.spec.scheduler.interval == 0:
                    self.scheduler.step(self.plateau_window.means()["loss"])
                    self.plateau_window.reset()
                if self.files and (self.step % self.spec.checkpoint_every == 0 or self.step == self.total_steps):
                    self.save_checkpoints()
                signum = stop_requested()
                if signum is not None:
                    self.stop(signum)
        self.seconds = time.perf_counter() - started
        if self.tensorboard:
            self.tensorboard.close()
        self.on_event("train_end", seeds=self.seeds, step=self.step, seconds=self.seconds)
        return self.status

    def stop(self, signum: int | None = None) -> None:
        """Checkpoint every seed at this step boundary, then raise `Interrupted`."""
        if self.files and self.saved_step != self.step:  # a second write would rotate away the older checkpoint
            self.save_checkpoints()
        if self.tensorboard:
            self.tensorboard.close()
        self.on_event("interrupted", seeds=self.seeds, step=self.step)
        raise Interrupted(f"stopped by a signal at step {self.step}; checkpoints written", signum)

    def one_step(self) -> None:
        index = self.sampler.next()
        x = self.train.x[index]
        u = None if self.train.u is None else self.train.u[index]
        shape = self.model.noise_shape(index.shape[1])
        noise = None
        if shape is not None:
            noise = torch.stack([torch.randn(shape, generator=g, device=self.device) for g in self.noise])
        with seed_generators(self.noise):  # dropout and other in-step randomness: per seed, like the noise
            out = self.loss(Batch(x, u), noise)
        per_seed = out.loss.mean(dim=1)
        penalty = self.constraint.penalty() if self.constraint else None
        if penalty is not None:
            per_seed = per_seed + penalty
        self.optimizer.zero_grad()
        per_seed.sum().backward()
        self.optimizer.step()
        values = {"loss": per_seed.detach(), **{k: v.detach().mean(dim=1) for k, v in out.terms.items()}}
        self.log_window.add(values)
        if self.scheduler:
            self.plateau_window.add({"loss": values["loss"]})

    def log(self) -> None:
        """Read the window's means (the one sync point), mark non-finite seeds failed, append to metrics.jsonl."""
        means = {k: v.cpu().tolist() for k, v in self.log_window.means().items()}
        lrs = self.optimizer.lr.cpu().tolist()
        self.log_window.reset()
        checks = self.constraint.check(self.noise) if self.constraint else {}
        lines = []
        for i, status in enumerate(self.status):
            if status.failed:
                lines.append(None)
                continue
            loss = means["loss"][i]
            if not math.isfinite(loss):
                status.failed_at = self.step
                self.on_event("seed_failed", seed=status.seed, step=self.step, last=status.last_finite_loss)
                lines.append({"step": self.step, "failed": True, "last_finite_loss": status.last_finite_loss})
                continue
            status.last_finite_loss = loss
            lines.append({"step": self.step, **{k: v[i] for k, v in means.items()}, "lr": lrs[i],
                          **{k: v[i] for k, v in checks.items()}})
        if self.files:
            for f, line in zip(self.files, lines):
                if line is not None:
                    append_text(f.metrics, json.dumps(line) + "\n")  # never through a symbolic link
        if self.tensorboard:
            for i, line in enumerate(lines):
                if line is not None:
                    self.tensorboard.scalars(i, self.step, {k: v for k, v in line.items() if k != "step"})
        self.on_event("progress", seeds=self.seeds, step=self.step, steps=self.total_steps,
                      loss=[line and line.get("loss") for line in lines])

    # --------------------------------------------------------------------------- checkpoints
    def save_checkpoints(self) -> None:
        self.saved_step = self.step
        state = self.model.state_dict()
        adam = self.optimizer.state_dict()
        n = len(self.seeds)
        for i, files in enumerate(self.files):
            checkpoint = {
                "format": CHECKPOINT_FORMAT,
                "seed": self.seeds[i],
                "step": self.step,
                "model": seed_slice(state, i, n),
                "adam": {
                    "lr": _own(adam["lr"][i : i + 1]),
                    "step": adam["step"],
                    "exp_avg": [seed_part(t, i, n).cpu() for t in adam["exp_avg"]],
                    "exp_avg_sq": [seed_part(t, i, n).cpu() for t in adam["exp_avg_sq"]],
                },
                "plateau": None if not self.scheduler else {
                    "best": _own(self.scheduler.best[i : i + 1]), "bad": _own(self.scheduler.bad[i : i + 1])
                },
                "sampler": self.sampler.seed_state(i),
                "noise": self.noise[i].get_state(),
                "log_window": self.log_window.seed_state(i),
                "plateau_window": self.plateau_window.seed_state(i),
                "failed_at": self.status[i].failed_at,
                "last_finite_loss": self.status[i].last_finite_loss,
            }
            checkpoint["digest"] = state_digest(checkpoint)  # a byte changed on disk is seen on resume
            save_checkpoint(files, checkpoint, self.spec.checkpoint_keep)

    def checkpoint_states(self) -> list[dict[str, Any]] | None:
        """Each seed's checkpoint at the newest step that every seed of the group has readable, or None.

        An unreadable newest checkpoint (a damaged disk, a copy cut short) falls back to an older kept one,
        with a notice; if some checkpoint is unreadable and no step is common to all seeds, that is an
        error naming the file, and nothing is touched. A checkpoint that loads but is not one this trainer
        can resume (not a dict, another format, a wrong shape or step, a bad generator or sampler state:
        `ica.run_files.check_checkpoint`) is an error naming it, and nothing is touched either: starting
        again would overwrite it, and falling back past it would hide the damage.
        """
        if not self.files:
            return None
        readable: list[dict[int, dict[str, Any]]] = []
        broken: list[tuple[Path, str]] = []
        paths: list[dict[int, Path]] = []
        for i, f in enumerate(self.files):
            found, where = {}, {}
            for path in f.checkpoints(self.spec.checkpoint_keep):
                if not path.exists():
                    continue
                try:
                    state = load_torch(path)
                except IcaError as exc:
                    broken.append((path, exc.message))
                    continue
                state = check_checkpoint(state, path, self.checkpoint_expectation(i))
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
                raise IcaError(f"{message}; no older checkpoint of this group's seeds can replace it",
                               where=str(path))
            return None
        step = max(common)
        if broken or any(max(found) != step for found in readable):
            self.on_event("notice", message=f"resuming seeds {self.seeds} from step {step}, the newest step "
                          "all of them have readable" + (f" ({broken[0][0]} is unreadable)" if broken else ""))
        states = [found[step] for found in readable]
        check_group(states, [where[step] for where in paths], self.sampler.shared)
        return states

    def checkpoint_expectation(self, i: int) -> CheckpointExpectation:
        """What seed ``i``'s checkpoint must hold to be resumed here: this model's and optimiser's shapes (a
        seed's part of each stacked tensor, as `seed_part` cuts it), this sampler's sizes, these generators'."""
        n = len(self.seeds)

        def part(shape: torch.Size) -> tuple[int, ...]:
            return tuple(shape) if n == 1 else (1, *shape[1:])

        sampler = self.sampler
        return CheckpointExpectation(
            seed=self.seeds[i],
            total_steps=self.total_steps,
            model={k: (part(v.shape), v.dtype) for k, v in self.model.state_dict().items()},
            adam=[(part(p.shape), p.dtype) for p in self.optimizer.params],
            scheduler=self.scheduler is not None,
            perm_length=sampler.n if sampler.shared else sampler.sizes[i],
            positions=sampler.per_epoch if sampler.shared else sampler.epochs_of[i],
            order_state=(sampler.generators[i].get_state().numel(), str(sampler.generators[i].device)),
            noise_state=(self.noise[i].get_state().numel(), str(self.noise[i].device)),
        )

    def resume(self) -> None:
        """Continue from the seeds' checkpoints when every seed of the group has one at the same step."""
        states = self.checkpoint_states()
        if states is None:
            for f in self.files or []:
                f.metrics.unlink(missing_ok=True)  # a fresh start: no stale log lines
            return
        for f in self.files:  # every log checked before anything is loaded or rewritten
            if f.metrics.exists():
                read_metrics_lines(f.metrics, LOG_ADVICE)
        self.step = int(states[0]["step"])
        stacked = {k: torch.cat([st["model"][k] for st in states]) for k in states[0]["model"]}
        self.model.load_state_dict(stacked)
        self.optimizer.load_state_dict({
            "lr": torch.cat([st["adam"]["lr"] for st in states]),
            "step": states[0]["adam"]["step"],
            "exp_avg": [torch.cat(ts) for ts in zip(*[st["adam"]["exp_avg"] for st in states])],
            "exp_avg_sq": [torch.cat(ts) for ts in zip(*[st["adam"]["exp_avg_sq"] for st in states])],
        })
        if self.scheduler and states[0]["plateau"] is not None:
            self.scheduler.load_state_dict({
                "best": torch.cat([st["plateau"]["best"] for st in states]),
                "bad": torch.cat([st["plateau"]["bad"] for st in states]),
            })
        self.sampler.load_seed_states([st["sampler"] for st in states])
        for g, st in zip(self.noise, states):
            g.set_state(st["noise"])
        self.log_window.load_seed_states([st["log_window"] for st in states])
        self.plateau_window.load_seed_states([st["plateau_window"] for st in states])
        for status, st in zip(self.status, states):
            status.failed_at, status.last_finite_loss = st["failed_at"], st["last_finite_loss"]
        for f in self.files:
            truncate_log(f, self.step)
        self.on_event("resumed", seeds=self.seeds, step=self.step)


def truncate_log(files: SeedFiles, step: int) -> None:
    """Drop metrics.jsonl lines written after ``step`` (they will be written again), and a line torn by a
    kill in the middle of an append (it is after the checkpoint's step too). Any other line that is not one
    the trainer wrote is an error naming the file and line (`ica.run_files.read_metrics_lines`)."""
    if not files.metrics.exists():
        return
    lines = read_metrics_lines(files.metrics, LOG_ADVICE)
    kept = [text for text, line in lines if line["step"] <= step]
    atomic_write(files.metrics, "".join(text + "\n" for text in kept).encode())  # a full disk loses no line
