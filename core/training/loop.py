"""The one training loop: any model honouring the ``Model`` contract, S seeds at once.

Each seed keeps its own data order, reparameterisation noise, Adam state and learning-rate schedule,
so a seed trained beside others follows the path it would follow alone. The loop avoids host-device
synchronisation inside a step: losses are accumulated on the device and read every ``log_every``
steps, which is also when non-finite seeds are detected and marked failed (the others go on).
The data order lives in `ica.training.sampling`, checkpointing and resuming in `ica.training.checkpoints`.
Values components log (`ica.components.protocols.LogsValues`) are read at log steps too: no sync in a step.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any, Callable, cast

import torch
from torch import Tensor, nn

from ica.errors import IcaError
from ica.training import checkpoints
from ica.training.identifiability import LConstraint
from ica.training.compile_choice import compile_choice
from ica.training.compiled import CompiledStep, compile_failure, trainable, why_not_compiled
from ica.training.noise import NoiseBlocks
from ica.training.optim import SeedAdam, SeedPlateau, StackedAdam
from ica.training.sampling import SeedSampler
from ica.training.seed_state import Accumulator, SeedStatus
from ica.components.protocols import Model, Split
from ica.components.sequences import training_split
from ica.rundir.layout import SeedFiles
from ica.rundir.writing import append_text
from ica.rundir.checkpoints import CheckpointExpectation
from ica.nn.seeding import generator, seed_generators
from ica.training.signals import Interrupted, stop_requests

Event = Callable[..., None]


@torch.no_grad()
def logged_values(model: nn.Module, seeds: int, taken: set[str]) -> dict[str, list[float]]:
    """Every module's ``logged()`` values (`ica.components.protocols.LogsValues`), one per seed; a key already
    ``taken`` (by the trainer, the loss terms or another module) is written as ``<module path>.<key>``."""
    values: dict[str, list[float]] = {}
    for path, module in model.named_modules():
        for key, value in (module.logged() if callable(getattr(module, "logged", None)) else {}).items():
            if not isinstance(value, Tensor) or value.dim() == 0 or value.shape[0] != seeds:
                raise IcaError(
                    f"{type(module).__name__}.logged() gave {key!r} of shape {getattr(value, 'shape', '?')}"
                    f"; expected one value per seed ([{seeds}])",
                    where=path or "model",
                )
            name = f"{path or 'model'}.{key}" if key in taken or key in values else key
            values[name] = value.detach().float().reshape(seeds, -1).mean(1).cpu().tolist()
    return values


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
            ``offsets[i]`` to ``offsets[i] + sizes[i]`` (`ica.running.packing`); by default all seeds share ``train``.

    A model that reads pairs in time trains on ``train``'s pairs (`ica.components.sequences.paired`), unless
    ``train`` already holds them (``previous``, as packed cells give it).
    """

    def __init__(
        self,
        model: nn.Module,
        train: Split,
        seeds: list[int],
        training: Any,
        files: list[SeedFiles] | None = None,
        on_event: Event | None = None,
        sizes: list[int] | None = None,
        offsets: list[int] | None = None,
    ):
        if train.previous is None:  # packed cells come paired already, each cell on its own
            train = training_split(model, train, "models")
        self.model, self.train, self.seeds, self.spec = model, train, seeds, training
        self.files, self.on_event = files, on_event or (lambda *a, **k: None)
        self.device = next(model.parameters()).device
        self.sampler = SeedSampler(
            len(train) if sizes is None else sizes, training.batch_size, seeds, self.device, offsets
        )
        self.noise = [generator(s, "noise", self.device) for s in seeds]
        self.constraint = LConstraint.for_model(
            model, training.identifiability, lambda message: self.on_event("notice", message=message)
        )
        self.compiled: CompiledStep | None = None
        self.noise_blocks: NoiseBlocks | None = None  # the compiled step's noise, drawn many steps at once
        self.optimizer: SeedAdam | StackedAdam = SeedAdam(model.parameters(), len(seeds), training.lr, training.betas)
        if compile_choice(training.compile, self.total_steps, len(seeds), self.device.type).compiles:
            self._use_compiled_step()
        sched = training.scheduler
        self.scheduler = (
            SeedPlateau(self.optimizer, sched.factor, sched.patience, sched.threshold, sched.min_lr) if sched else None
        )
        self.log_window = Accumulator(len(seeds), self.device)
        self.plateau_window = Accumulator(len(seeds), self.device)
        self.status = [SeedStatus(s) for s in seeds]
        self.step = 0
        self.saved_step: int | None = None  # the step of the checkpoints on disk, once this trainer wrote them
        self.tensorboard = None
        if files and training.logger == "tensorboard":
            from ica.training.tensorboard import TensorBoardLog

            self.tensorboard = TensorBoardLog([f.root / "tensorboard" for f in files])

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
        self.on_event(
            "train_end",
            seeds=self.seeds,
            step=self.step,
            seconds=self.seconds,
            step_mode=self.step_mode,
            compile_seconds=self.compiled.compile_seconds if self.compiled else None,
        )
        return self.status

    def stop(self, signum: int | None = None) -> None:
        """Checkpoint every seed at this step boundary, then raise `Interrupted`."""
        if self.files and self.saved_step != self.step:  # a second write would rotate away the older checkpoint
            self.save_checkpoints()
        if self.tensorboard:
            self.tensorboard.close()
        self.on_event("interrupted", seeds=self.seeds, step=self.step)
        raise Interrupted(f"stopped by a signal at step {self.step}; checkpoints written", signum)

    def _use_compiled_step(self) -> None:
        """Train through `CompiledStep` unless the model cannot be (then say why, in one line)."""
        reason = why_not_compiled(self.model, self.train, bool(self.constraint and self.constraint.penalty_on))
        if reason is not None:
            self.on_event("notice", message=f"training {self.seeds_listed} eagerly, not compiled: {reason}")
            return
        named = trainable(self.model)
        self.optimizer = StackedAdam(named, len(self.seeds), self.spec.lr, self.spec.betas)
        self.compiled = CompiledStep(self.model, self.train, self.optimizer, dict(named))
        if self.constraint is None:  # the constraint's corrections draw from the noise generators between steps
            self.noise_blocks = NoiseBlocks.create(
                self.noise, cast(Model, self.model).noise_shape(self.sampler.batch), self.device
            )

    def _fall_back(self, exc: BaseException) -> None:
        """The first compiled step failed to compile: train eagerly from here, the Adam state carried over
        (compilation fails before the step changes anything but the optimiser's step count)."""
        self.on_event(
            "notice", message=f"training {self.seeds_listed} eagerly: the step did not compile ({compile_failure(exc)})"
        )
        state = {**self.optimizer.state_dict(), "step": self.optimizer.step_count - 1}
        self.compiled = None
        if self.noise_blocks is not None:  # the generators go on from this step's draw, one step at a time
            for g, st in zip(self.noise, self.noise_blocks.states()):
                g.set_state(st)
            self.noise_blocks = None
        self.optimizer = SeedAdam(self.model.parameters(), len(self.seeds), self.spec.lr, self.spec.betas)
        self.optimizer.load_state_dict(state)
        if self.scheduler:
            self.scheduler.optimizer = self.optimizer

    @property
    def step_mode(self) -> str:
        """How this group's steps run: ``"compiled"`` (one graph, `CompiledStep`) or ``"eager"``."""
        return "eager" if self.compiled is None else "compiled"

    @property
    def seeds_listed(self) -> str:
        """'seeds 0,1,2' (every seed, however many: a notice names each one it concerns)."""
        return f"seed{'s' if len(self.seeds) > 1 else ''} {','.join(map(str, self.seeds))}"

    def draw_noise(self, batch_size: int) -> Tensor | None:
        """Each seed's reparameterisation noise for one step, from its own generator (outside any graph)."""
        if self.noise_blocks is not None:
            return self.noise_blocks.next()
        shape = cast(Model, self.model).noise_shape(batch_size)
        if shape is None:
            return None
        return torch.stack([torch.randn(shape, generator=g, device=self.device) for g in self.noise])

    def noise_states(self) -> list[Tensor]:
        """Each seed's noise generator state for a checkpoint: as if drawn step by step (`NoiseBlocks.states`)."""
        if self.noise_blocks is not None:
            return self.noise_blocks.states()
        return [g.get_state() for g in self.noise]

    def one_step(self) -> None:
        index = self.sampler.next()
        noise = self.draw_noise(index.shape[1])
        if self.compiled is not None:
            try:
                per_seed, terms = self.compiled(index, noise)
            except Exception as exc:
                if self.compiled.ran:
                    raise
                self._fall_back(exc)
            else:
                self._record(per_seed, terms)
                return
        with seed_generators(self.noise):  # dropout and other in-step randomness: per seed, like the noise
            out = cast(Model, self.model).loss(self.train.batch(index), noise)
        per_seed = out.loss.mean(dim=1)
        penalty = self.constraint.penalty() if self.constraint else None
        if penalty is not None:
            per_seed = per_seed + penalty
        optimizer = self.optimizer
        if not isinstance(optimizer, SeedAdam):
            raise TypeError("an eager step needs SeedAdam; StackedAdam steps only inside the compiled step")
        optimizer.zero_grad()
        per_seed.sum().backward()
        optimizer.step()
        self._record(per_seed.detach(), {k: v.detach().mean(dim=1) for k, v in out.terms.items()})

    def _record(self, per_seed: Tensor, terms: dict[str, Tensor]) -> None:
        values = {"loss": per_seed, **terms}
        self.log_window.add(values)
        if self.scheduler:
            self.plateau_window.add({"loss": values["loss"]})

    def log(self) -> None:
        """Read the window's means (the one sync point), mark non-finite seeds failed, append to metrics.jsonl."""
        means = {k: v.cpu().tolist() for k, v in self.log_window.means().items()}
        lrs = self.optimizer.lr.cpu().tolist()
        self.log_window.reset()
        checks = self.constraint.check(self.noise) if self.constraint else {}
        logged = logged_values(
            self.model,
            len(self.seeds),  # after the step, eager or compiled alike
            {"step", "lr", "failed", "last_finite_loss", *means, *checks},
        )
        lines: list[dict[str, Any] | None] = []
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
            lines.append(
                {
                    "step": self.step,
                    **{k: v[i] for k, v in means.items()},
                    "lr": lrs[i],
                    **{k: v[i] for k, v in checks.items()},
                    **{k: v[i] for k, v in logged.items()},
                }
            )
        if self.files:
            for f, line in zip(self.files, lines):
                if line is not None:
                    append_text(f.metrics, json.dumps(line) + "\n")  # never through a symbolic link
        if self.tensorboard:
            for i, line in enumerate(lines):
                if line is not None:
                    self.tensorboard.scalars(i, self.step, {k: v for k, v in line.items() if k != "step"})
        self.on_event(
            "progress",
            seeds=self.seeds,
            step=self.step,
            steps=self.total_steps,
            loss=[line and line.get("loss") for line in lines],
        )

    # --------------------------------------------------------------------------- checkpoints
    # Checkpointing and resuming are `ica.training.checkpoints`'s, as plain functions of the trainer.
    def save_checkpoints(self) -> None:
        checkpoints.save_checkpoints(self)

    def checkpoint_states(self) -> list[dict[str, Any]] | None:
        """Each seed's checkpoint at the newest step that every seed of the group has readable, or None
        (`ica.training.checkpoints.checkpoint_states`)."""
        return checkpoints.checkpoint_states(self)

    def checkpoint_expectation(self, i: int) -> CheckpointExpectation:
        """What seed ``i``'s checkpoint must hold to be resumed here (`ica.training.checkpoints`)."""
        return checkpoints.checkpoint_expectation(self, i)

    def resume(self) -> None:
        """Continue from the seeds' checkpoints when every seed of the group has one at the same step."""
        checkpoints.resume(self)
