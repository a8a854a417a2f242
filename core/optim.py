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
    """Adam (Kingma & Ba) with a learning rate per seed; the update equals ``torch.optim.Adam``'s."""

    def __init__(self, params: Iterable[Tensor], seeds: int, lr: float, betas=(0.9, 0.999), eps: float = 1e-8):
        self.params = [p for p in params if p.requires_grad]
        device = self.params[0].device if self.params else torch.device("cpu")
        self.lr = torch.full((seeds,), float(lr), device=device)
        self.betas, self.eps, self.step_count = tuple(betas), eps, 0
        self.exp_avg = [torch.zeros_like(p) for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p) for p in self.params]

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        self.step_count += 1
        b1, b2 = self.betas
        bias1 = 1 - b1**self.step_count
        bias2_sqrt = math.sqrt(1 - b2**self.step_count)
        for p, m, v in zip(self.params, self.exp_avg, self.exp_avg_sq):
            if p.grad is None:
                continue
            g = p.grad
            m.lerp_(g, 1 - b1)
            v.mul_(b2).addcmul_(g, g, value=1 - b2)
            denom = (v.sqrt() / bias2_sqrt).add_(self.eps)
            step = (self.lr / bias1).view(-1, *([1] * (p.dim() - 1)))
            p.sub_(step * m / denom)

    def state_dict(self) -> dict:
        return {"lr": self.lr, "step": self.step_count, "exp_avg": self.exp_avg, "exp_avg_sq": self.exp_avg_sq}

    def load_state_dict(self, state: dict) -> None:
        self.lr.copy_(state["lr"])
        self.step_count = int(state["step"])
        for dst, src in zip(self.exp_avg + self.exp_avg_sq, state["exp_avg"] + state["exp_avg_sq"]):
            dst.copy_(src)


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
        lr.copy_(torch.where(cut, torch.clamp(lr * self.factor, min=self.min_lr), lr))
        self.bad = torch.where(cut, torch.zeros_like(self.bad), self.bad)

    def state_dict(self) -> dict:
        return {"best": self.best, "bad": self.bad}

    def load_state_dict(self, state: dict) -> None:
        self.best = state["best"].to(self.best)
        self.bad = state["bad"].to(self.bad)
