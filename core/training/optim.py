"""Per-seed optimisation: Adam and ReduceLROnPlateau over parameters with a leading seed axis.

Adam is elementwise, so one Adam over stacked parameters is S independent Adams; the only per-seed
state it needs beyond that is the learning rate, which the plateau scheduler changes per seed.
"""

from __future__ import annotations

import math
from typing import Iterable

import torch
from torch import Tensor


class SeedAdam:
    """Adam (Kingma & Ba) with a learning rate per seed; the update equals ``torch.optim.Adam``'s.

    The optimiser state lives in two ``[S, P]`` buffers (P scalars per seed, every parameter's share of
    a seed side by side), so a step is a dozen whole-buffer operations however many parameter tensors
    the model has; small models are otherwise dominated by per-tensor overhead.
    """

    def __init__(self, params: Iterable[Tensor], seeds: int, lr: float, betas=(0.9, 0.999), eps: float = 1e-8):
        self.params = [p for p in params if p.requires_grad]
        device = self.params[0].device if self.params else torch.device("cpu")
        self.seeds = seeds
        self.widths = [p.numel() // seeds for p in self.params]
        self.lr = torch.full((seeds,), float(lr), device=device)
        self.betas, self.eps, self.step_count = tuple(betas), eps, 0
        self.exp_avg = torch.zeros(seeds, sum(self.widths), device=device)
        self.exp_avg_sq = torch.zeros_like(self.exp_avg)

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        """One Adam step. A parameter without a gradient this step counts as a zero gradient."""
        self.step_count += 1
        b1, b2 = self.betas
        bias1 = 1 - b1**self.step_count
        bias2_sqrt = math.sqrt(1 - b2**self.step_count)
        grad = torch.cat(
            [(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(self.seeds, -1) for p in self.params],
            dim=1,
        )
        self.exp_avg.lerp_(grad, 1 - b1)
        self.exp_avg_sq.mul_(b2).addcmul_(grad, grad, value=1 - b2)
        # Bias corrections folded into the step size and epsilon, as torch's own Adam does.
        denom = self.exp_avg_sq.sqrt().add_(self.eps * bias2_sqrt)
        update = (self.exp_avg / denom).mul_((self.lr * (bias2_sqrt / bias1)).unsqueeze(1))
        parts = [u.reshape(p.shape) for u, p in zip(update.split(self.widths, dim=1), self.params)]
        torch._foreach_sub_(self.params, parts)

    def set_rates(self, rates: Tensor) -> None:
        """Set the per-seed learning rates."""
        self.lr.copy_(rates)

    def _per_parameter(self, buffer: Tensor) -> list[Tensor]:
        return [b.reshape(p.shape) for b, p in zip(buffer.split(self.widths, dim=1), self.params)]

    def state_dict(self) -> dict:
        """Moments per parameter (shaped like it), so a checkpoint is independent of the buffer layout."""
        return {
            "lr": self.lr,
            "step": self.step_count,
            "exp_avg": self._per_parameter(self.exp_avg),
            "exp_avg_sq": self._per_parameter(self.exp_avg_sq),
        }

    def load_state_dict(self, state: dict) -> None:
        self.set_rates(state["lr"])
        self.step_count = int(state["step"])
        for buffer, parts in ((self.exp_avg, state["exp_avg"]), (self.exp_avg_sq, state["exp_avg_sq"])):
            buffer.copy_(torch.cat([t.reshape(self.seeds, -1) for t in parts], dim=1))


class StackedAdam:
    """`SeedAdam`'s update for the compiled step: the same arithmetic on one moment tensor per parameter,
    written as a function of its inputs (`update`) so that it compiles into the step's graph.

    Its ``state_dict`` has `SeedAdam`'s format (moments per parameter, in parameter order), so a checkpoint
    of either resumes in either; ``advance`` counts the step outside the graph and hands the bias
    corrections in as tensors (a Python number would compile a new graph every step).
    """

    def __init__(self, named: list[tuple[str, Tensor]], seeds: int, lr: float, betas=(0.9, 0.999), eps: float = 1e-8):
        self.names = [name for name, _ in named]
        self.params = [p for _, p in named]
        device = self.params[0].device if self.params else torch.device("cpu")
        self.seeds = seeds
        self.lr = torch.full((seeds,), float(lr), device=device)
        self.betas, self.eps, self.step_count = tuple(betas), eps, 0
        self.exp_avg = {n: torch.zeros_like(p) for n, p in named}
        self.exp_avg_sq = {n: torch.zeros_like(p) for n, p in named}

    def zero_grad(self) -> None:
        """Gradients never reach ``.grad`` in the compiled step: nothing to clear."""

    def advance(self) -> tuple[Tensor, Tensor]:
        """Count one step; its bias corrections ``1 - β1^t`` and ``sqrt(1 - β2^t)`` as 0-d tensors."""
        self.step_count += 1
        b1, b2 = self.betas
        device = self.lr.device
        return (
            torch.tensor(1 - b1**self.step_count, device=device),
            torch.tensor(math.sqrt(1 - b2**self.step_count), device=device),
        )

    def moments(self) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        return self.exp_avg, self.exp_avg_sq

    def update(
        self,
        params: dict[str, Tensor],
        grads: dict[str, Tensor],
        moments: tuple[dict, dict],
        lr: Tensor,
        bias1: Tensor,
        bias2_sqrt: Tensor,
    ) -> None:
        """One Adam step of every parameter in place (`SeedAdam.step`'s arithmetic, per seed rate ``lr``)."""
        b1, b2 = self.betas
        exp_avg, exp_avg_sq = moments
        scale = lr * (bias2_sqrt / bias1)
        for name, p in params.items():
            g = grads[name]
            exp_avg[name].lerp_(g, 1 - b1)
            exp_avg_sq[name].mul_(b2).addcmul_(g, g, value=1 - b2)
            denom = exp_avg_sq[name].sqrt().add_(self.eps * bias2_sqrt)
            p.sub_((exp_avg[name] / denom).mul_(scale.reshape(-1, *(1,) * (p.dim() - 1))))

    def set_rates(self, rates: Tensor) -> None:
        self.lr.copy_(rates)

    def state_dict(self) -> dict:
        return {
            "lr": self.lr,
            "step": self.step_count,
            "exp_avg": [self.exp_avg[n] for n in self.names],
            "exp_avg_sq": [self.exp_avg_sq[n] for n in self.names],
        }

    def load_state_dict(self, state: dict) -> None:
        self.set_rates(state["lr"])
        self.step_count = int(state["step"])
        for buffer, parts in ((self.exp_avg, state["exp_avg"]), (self.exp_avg_sq, state["exp_avg_sq"])):
            for name, part in zip(self.names, parts):
                buffer[name].copy_(part.reshape(buffer[name].shape))


class SeedPlateau:
    """ReduceLROnPlateau per seed, on a loss to minimise.

    A value improves on the best when it is lower by more than ``threshold·|best|`` (a relative
    threshold that also behaves for negative losses, unlike ``best·(1-threshold)``).
    """

    def __init__(self, optimizer: SeedAdam, factor: float, patience: int, threshold: float, min_lr: float):
        self.optimizer = optimizer
        self.factor, self.patience, self.threshold, self.min_lr = factor, patience, threshold, min_lr
        device = optimizer.lr.device
        self.best = torch.full_like(optimizer.lr, math.inf, device=device)
        self.bad = torch.zeros_like(optimizer.lr, dtype=torch.long, device=device)

    @torch.no_grad()
    def step(self, value: Tensor) -> None:
        value = value.to(self.best)
        finite = torch.isfinite(value)
        improved = finite & (value < self.best - self.threshold * self.best.abs().nan_to_num(posinf=0.0))
        self.best = torch.where(improved, value, self.best)
        self.bad = torch.where(improved, torch.zeros_like(self.bad), self.bad + 1)
        cut = self.bad > self.patience
        lr = self.optimizer.lr
        self.optimizer.set_rates(torch.where(cut, torch.clamp(lr * self.factor, min=self.min_lr), lr))
        self.bad = torch.where(cut, torch.zeros_like(self.bad), self.bad)

    def state_dict(self) -> dict:
        return {"best": self.best, "bad": self.bad}

    def load_state_dict(self, state: dict) -> None:
        self.best = state["best"].to(self.best)
        self.bad = state["bad"].to(self.bad)
