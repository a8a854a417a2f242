"""The whole training step as one compiled function: batch gather, forward, backward and per-seed Adam.

Eager training spends most of a small model's step outside the matrix products: autograd's bookkeeping,
a dozen unfused passes of Adam over the state, one kernel per elementwise operation of a mixture prior.
Written as a pure function of the parameters (`torch.func.functional_call` and `torch.func.grad`) with a
functional Adam, the step compiles whole (``torch.compile(fullgraph=True)``) and runs several times faster
(benchmarks/README.md). What stays outside the graph is what must not change: the data order (the
sampler's indices) and the reparameterisation noise, drawn from each seed's own generators exactly as the
eager step draws them, so a compiled run follows the eager run's path within floating-point tolerance
and a seed batched with others still equals the seed alone.

Parameters are kept as the model's own stacked ``[S, ...]`` tensors and updated in place, and the Adam
moments one tensor per parameter (`StackedAdam`; one flat buffer made the compiler fuse a many-way split
into one slow kernel). A model the step cannot take -- a module the compiler cannot trace whole (GMM-Flow's
vmap, the hard VQ-VAE's EMA step), in-step randomness from the seeds' streams (dropout), state the step
changes that the compiled step would not change the same way, the penalty of the identifiability
constraint -- is said in one line and trains eagerly. Batch norm's running statistics do survive compiling
(checked on a copy before training, `why_not_compiled`).
"""

from __future__ import annotations

import copy
import logging
import time
from typing import cast

import torch
from torch import Tensor, nn
from torch.func import functional_call, grad

from ica.components.protocols import Batch, Model, Split
from ica.nn.seeding import seed_generators
from ica.training.compile_choice import mark_compiled
from ica.training.optim import StackedAdam


RECOMPILE_LIMIT = 64
"""Compiled variants of the training step one process may keep. Every CompiledStep compiles the same function,
so torch counts each model, seed count and batch size as one more variant of it; at torch's default of 8 the
ninth model of a long-lived process (a worker's packs, a notebook's fits, the test suite) failed to compile and
trained eagerly."""

BACKEND = "inductor"
"""torch.compile's backend. Inductor generates the fused kernels that make the step fast; ``"aot_eager"`` traces
the same graph (functionalised, differentiated) and runs it with torch's own kernels, without generating code:
what to set when a compiled run and an eager run disagree (is the graph wrong, or the generated code?), and
what tests of the step's logic use, since it costs a second where inductor's cold first compile costs tens."""


class _Loss(nn.Module):
    """The model's per-seed mean loss and the per-seed means of its terms, as one module's forward."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(
        self, x: Tensor, u: Tensor | None, previous: Tensor | None, noise: Tensor | None
    ) -> tuple[Tensor, dict[str, Tensor]]:
        out = cast(Model, self.model).loss(Batch(x, u, previous), noise)
        return out.loss.mean(1), {k: v.mean(1) for k, v in out.terms.items()}


class CompiledStep:
    """One compiled step for ``model`` trained on ``train`` with ``optimizer``'s per-seed Adam."""

    def __init__(self, model: nn.Module, train: Split, optimizer: StackedAdam, params: dict[str, Tensor]):
        self.model, self.train, self.optimizer, self.params = model, train, optimizer, params
        self.wrapper = _Loss(model)
        self.frozen = {f"model.{k}": p.detach() for k, p in model.named_parameters() if not p.requires_grad}
        self.buffers = {f"model.{k}": b for k, b in model.named_buffers()}
        # torch says, on every CPU-only machine, that it found no CUDA runtime while it compiles: not news here.
        logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
        dynamo = torch._dynamo.config
        dynamo.recompile_limit = max(dynamo.recompile_limit, RECOMPILE_LIMIT)
        self.compiled = torch.compile(self._step, fullgraph=True, dynamic=False, backend=BACKEND)
        self.ran = False  # after one step has run compiled, a failure is an error, not a reason to fall back
        self.compile_seconds: float | None = None

    def __call__(self, index: Tensor, noise: Tensor | None) -> tuple[Tensor, dict[str, Tensor]]:
        """Train one step on rows ``index`` (``[S, B]``) with ``noise``; the per-seed loss and terms."""
        bias1, bias2_sqrt = self.optimizer.advance()
        started = time.perf_counter()
        out = self.compiled(self.params, self.optimizer.moments(), self.optimizer.lr, bias1, bias2_sqrt, index, noise)
        if not self.ran:
            self.compile_seconds = time.perf_counter() - started  # the first call compiles (or loads the cache)
            self.ran = True
            mark_compiled()
        return out

    def _step(
        self,
        params: dict[str, Tensor],
        moments: tuple[dict[str, Tensor], dict[str, Tensor]],
        lr: Tensor,
        bias1: Tensor,
        bias2_sqrt: Tensor,
        index: Tensor,
        noise: Tensor | None,
    ):
        batch = self.train.batch(index)
        fixed = {**self.frozen, **self.buffers}

        def total(p: dict[str, Tensor]):
            per_seed, terms = functional_call(self.wrapper, {**p, **fixed}, (batch.x, batch.u, batch.previous, noise))
            return per_seed.sum(), (per_seed, terms)

        grads, (per_seed, terms) = grad(total, has_aux=True)(params)
        self.optimizer.update(params, grads, moments, lr, bias1, bias2_sqrt)
        return per_seed.detach(), {k: v.detach() for k, v in terms.items()}


def trainable(model: nn.Module) -> list[tuple[str, Tensor]]:
    """The model's trainable parameters by the names the compiled step uses, sharing their storage (so the
    step's in-place updates are the model's)."""
    return [(f"model.{k}", p.detach()) for k, p in model.named_parameters() if p.requires_grad]


def why_not_compiled(model: nn.Module, train: Split, constrained: bool) -> str | None:
    """Why ``model`` must train eagerly (None when the compiled step may be tried).

    The penalty of the identifiability constraint (a second model call per step) and randomness drawn inside
    the step from the seeds' own streams (`ica.nn.seeding.seed_rand`: dropout; a graph would draw it from one
    stream of its own) rule it out. State that a training step changes besides the optimiser's update (batch
    norm's running statistics, a codebook learnt by EMA) is allowed only where one compiled step on a copy
    changes it as one eager step does (`_steps_agree`). Seen on copies, with generators and noise of their own:
    no seed's stream moves.
    """
    if constrained:
        return "the identifiability penalty is computed outside the compiled step"
    trial = copy.deepcopy(model).train()
    before = {k: v.clone() for k, v in trial.state_dict().items()}
    rows, noise = _trial_batch(trial, train)
    streams = [torch.Generator(device=train.x.device).manual_seed(0) for _ in range(rows.shape[0])]
    start = [g.get_state() for g in streams]
    with torch.no_grad(), seed_generators(streams):
        cast(Model, trial).loss(train.batch(rows), noise)
    if any(not torch.equal(g.get_state(), s) for g, s in zip(streams, start)):
        return "it draws randomness inside the step from each seed's stream (dropout)"
    changed = [k for k, v in trial.state_dict().items() if not torch.equal(v, before[k])]
    if changed and not _steps_agree(model, train):
        return (
            f"a training step changes its state ({', '.join(changed[:3])}) and the compiled step does not "
            "change it as the eager step does"
        )
    return None


def _trial_batch(model: nn.Module, train: Split) -> tuple[Tensor, Tensor | None]:
    seeds = next(model.parameters()).shape[0]
    rows = torch.arange(min(len(train), 8), device=train.x.device).expand(seeds, -1)
    shape = cast(Model, model).noise_shape(rows.shape[1])
    return rows, None if shape is None else torch.zeros(seeds, *shape, device=train.x.device)


def _steps_agree(model: nn.Module, train: Split) -> bool:
    """Whether one compiled step and one eager step, each on a copy of ``model``, leave the same state.

    The learning rate is 0: Adam's first step moves every parameter by ±lr whatever the size of its gradient,
    so rounding would flip the sign of tiny gradients and the copies would differ by 2·lr there. What is
    compared is the rest: the state the step itself changes.
    """
    from ica.training.optim import SeedAdam

    eager, compiled = copy.deepcopy(model).train(), copy.deepcopy(model).train()
    rows, noise = _trial_batch(eager, train)
    seeds, lr, betas = rows.shape[0], 0.0, (0.9, 0.999)
    optimizer = SeedAdam(eager.parameters(), seeds, lr, betas)
    out = cast(Model, eager).loss(train.batch(rows), noise)
    out.loss.mean(1).sum().backward()
    optimizer.step()
    named = trainable(compiled)
    try:
        CompiledStep(compiled, train, StackedAdam(named, seeds, lr, betas), dict(named))(rows, noise)
    except Exception:  # noqa: BLE001 - it does not compile: the real step will say why when it tries
        return True
    expected, got = eager.state_dict(), compiled.state_dict()
    return all(torch.allclose(got[k].float(), v.float(), rtol=1e-4, atol=1e-6) for k, v in expected.items())


def compile_failure(exc: BaseException) -> str:
    """A one-line reason from what torch.compile raised."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text[:160]}"
