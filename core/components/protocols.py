"""The small contracts every component honours, and the plain data that flows between them.

Seed batching is part of the contract from the start: every tensor inside a model carries a leading
*seed* dimension ``S`` (``S = 1`` for a single run), and every parameter and buffer of a component has
``S`` as its first dimension. That lets one module hold many independent runs without any
component knowing whether it is trained alone or beside others.

Shapes used below: ``S`` seeds, ``B`` examples, ``d_z`` latent size, ``x_shape`` one observation.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Callable, Protocol, runtime_checkable

import torch
from torch import Tensor, nn
from torch.distributions import Distribution

from ica.components.peers import FittedPeer, is_fitted_peer  # noqa: F401 - part of this contract's surface

KINDS = ("dataset", "encoder", "decoder", "prior", "likelihood", "model", "metric")
"""The component kinds a plugin may register."""


# --------------------------------------------------------------------------------------------- data
@dataclass(frozen=True)
class Split:
    """One split of a data set, as tensors (on CPU until training moves them).

    Attributes:
        x: observations, ``[N, *x_shape]`` float32.
        u: auxiliary variable: a class / segment index ``[N]`` int64 (discrete u), or ``[N, d_u]`` float32
            (continuous u, always 2-D), or None.
        s: ground-truth sources, ``[N, d_s]`` float32, or None.
        sequence: time order, where the data have one: ``[N]`` int64, the recording (trial, sequence) each row
            belongs to; the rows of one recording are contiguous and in time order (`ica.components.sequences`).
        previous: each row's observation one step earlier in its recording, ``[N, *x_shape]``: only in the
            training split of a model that reads pairs in time (PCL), which then holds the rows that have one.
    """

    x: Tensor
    u: Tensor | None = None
    s: Tensor | None = None
    sequence: Tensor | None = None
    previous: Tensor | None = None

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def to(self, device: torch.device | str) -> "Split":
        return self._mapped(lambda t: t.to(device))

    def rows(self, rows: Tensor | slice) -> "Split":
        """The examples ``rows`` of the split, every field of each."""
        return self._mapped(lambda t: t[rows])

    def _mapped(self, change: Callable[[Tensor], Tensor]) -> "Split":
        fields: dict[str, Any] = {k: None if v is None else change(v) for k, v in vars(self).items()}
        return replace(self, **fields)

    def batch(self, rows: Tensor) -> "Batch":
        """The rows ``rows`` (``[S, B]`` indices) as a mini-batch of S seeds."""
        pick = lambda t: None if t is None else t[rows]  # noqa: E731
        return Batch(self.x[rows], pick(self.u), pick(self.previous))


@dataclass(frozen=True)
class DataSplits:
    """What a dataset component returns: a training split and a fixed, held-out evaluation split.

    Attributes:
        train: the data models are fitted on.
        eval: held-out data every metric is computed on (never seen in training).
        n_u: number of distinct values of a discrete ``u`` (segments, classes), else None.
        info: free-form facts worth recording in the run directory (generator settings, file names).
        u_dim: d_u, the columns of a continuous ``u`` (declared by the data set, never guessed), else None.
    """

    train: Split
    eval: Split
    n_u: int | None = None
    info: dict[str, Any] = field(default_factory=dict)
    u_dim: int | None = None

    def to(self, device: torch.device | str) -> "DataSplits":
        """Both splits on ``device``; every other field as it is."""
        return replace(self, train=self.train.to(device), eval=self.eval.to(device))

    @property
    def x_shape(self) -> tuple[int, ...]:
        return tuple(self.train.x.shape[1:])

    @property
    def source_dim(self) -> int | None:
        return None if self.train.s is None else int(self.train.s.shape[1])


@dataclass(frozen=True)
class Batch:
    """A mini-batch for ``S`` seeds at once: ``x`` is ``[S, B, *x_shape]``, ``u`` is ``[S, B]`` (int64, discrete),
    ``[S, B, d_u]`` (float32, continuous) or None; ``previous`` is each example's observation one step earlier in
    time, ``[S, B, *x_shape]``, for a model that reads pairs (``reads_pairs``), else None."""

    x: Tensor
    u: Tensor | None = None
    previous: Tensor | None = None


# ------------------------------------------------------------------------------------ building
@dataclass(frozen=True)
class BuildContext:
    """Everything a builder may need to know about its surroundings.

    Builders read only the fields their kind needs (see each protocol). ``build`` builds a nested
    component from its validated options (a model builds its encoder, decoder, prior, likelihood).
    ``n_u`` and ``u_dim`` are the data's (`DataSplits`): at most one is set.
    """

    seeds: int = 1
    x_shape: tuple[int, ...] = ()
    latent_dim: int = 0
    n_u: int | None = None
    cond_dim: int = 0
    out_multiplier: int = 1
    build: Callable[..., Any] | None = None
    u_dim: int | None = None

    @property
    def u_width(self) -> int:
        """Columns u takes as a network's input: ``n_u`` (one-hot, discrete u), ``u_dim`` (continuous), or 0."""
        return self.u_dim if self.u_dim is not None else (self.n_u or 0)

    def with_(self, **changes: Any) -> "BuildContext":
        return replace(self, **changes)

    def build_part(self, options: Any, **changes: Any) -> Any:
        """Build a nested component with this context, changed where ``changes`` say."""
        if self.build is None:
            raise RuntimeError("this BuildContext cannot build nested components")
        return self.build(options, self.with_(**changes))


# ---------------------------------------------------------------------------------- components
@runtime_checkable
class Encoder(Protocol):
    """Maps observations (and optionally u) to a diagonal Gaussian posterior.

    Built with ``ctx.x_shape``, ``ctx.latent_dim`` and ``ctx.cond_dim`` (0 when there is no u; ``n_u`` for a
    discrete u, given one-hot; ``u_dim`` for a continuous u, given as it is).
    ``forward(x [S,B,*x_shape], cond [S,B,cond_dim] | None) -> (mean, log_var)``, each ``[S,B,d_z]``.
    """

    def __call__(self, x: Tensor, cond: Tensor | None = None) -> tuple[Tensor, Tensor]: ...


@runtime_checkable
class Decoder(Protocol):
    """Maps latents to the likelihood's parameters.

    Built with ``ctx.latent_dim``, ``ctx.x_shape`` and ``ctx.out_multiplier`` (the likelihood's number of
    parameters per observed dimension). ``forward(z [S,B,d_z]) -> params [S,B,*x_shape]`` where the first
    axis of ``x_shape`` is multiplied by ``out_multiplier``.
    """

    def __call__(self, z: Tensor) -> Tensor: ...


@runtime_checkable
class Prior(Protocol):
    """A module that returns a ``torch.distributions.Distribution`` over latents, given optional context.

    Built with ``ctx.latent_dim``, ``ctx.n_u``, ``ctx.u_dim`` and ``ctx.seeds``. ``forward(cond)`` takes the
    one-hot u ``[S,B,n_u]`` of a discrete u, the continuous u ``[S,B,d_u]`` itself (float), or None, and returns
    a distribution whose batch shape broadcasts to ``[S, B]`` and whose event shape is ``[d_z]``. Mixture priors
    return ``MixtureSameFamily``, which is how VaDE finds its clusters; ``conditional`` says whether the prior
    needs u. A conditional prior that cannot take a continuous u refuses it when built (an ``IcaError``).
    """

    conditional: bool

    def __call__(self, cond: Tensor | None = None) -> Distribution: ...


@runtime_checkable
class Likelihood(Protocol):
    """Scores observations under the decoder's output.

    Built with ``ctx.x_shape``. ``multiplier`` is how many decoder outputs it needs per observed value.
    ``log_prob(x [S,B,*x_shape], params) -> [S,B]`` sums over the observed dimensions.

    Optional attributes: ``discrete`` (``log_prob`` is a probability of discrete values, so bits per dimension
    mean something) and ``support``, the data it can describe, a `torch.distributions.constraints` object
    (``constraints.nonnegative_integer`` for counts): data outside it, as the model would see them, are refused
    before anything trains (`ica.components.support`). Without ``support`` any data are accepted.
    """

    multiplier: int

    def log_prob(self, x: Tensor, params: Tensor) -> Tensor: ...

    def mean(self, params: Tensor) -> Tensor: ...


@runtime_checkable
class LogsValues(Protocol):
    """The optional hook of any module of a model: values worth following while it trains, which ``loss`` cannot
    give as a per-example term.

    ``logged() -> {key: Tensor[S]}``: one number per seed. The trainer calls it at log steps only, after the step,
    outside any compiled graph and without gradients, and writes each value to the seed's ``metrics.jsonl`` line
    beside the loss (`ica.training.loop.Trainer.log`); ``ica report`` draws every logged key as a training curve.
    A key already used (by another module, the loss terms or the trainer) is written as ``<module path>.<key>``.
    The Gaussian likelihood with ``learn_scale`` logs ``likelihood_scale``, its learnt σ.
    """

    def logged(self) -> dict[str, Tensor]: ...


@dataclass
class LossOutput:
    """What a model's ``loss`` returns.

    Attributes:
        loss: the per-example objective to *minimise* (the negative ELBO for VAEs), ``[S, B]``.
        terms: named per-example terms worth logging (reconstruction, KL, ...), each ``[S, B]``.
    """

    loss: Tensor
    terms: dict[str, Tensor] = field(default_factory=dict)


@dataclass
class Representation:
    """What a model exposes for evaluation, computed in eval mode.

    Attributes:
        latents: the representation compared across runs (posterior means for VAEs), ``[S, B, d_z]``.
        assignments: the discrete u each example is given (cluster index, or the known u), ``[S, B]``; None
            where there is none (a continuous u is not an assignment).
        grid_shape: for spatially arranged latents (App. B: a VQ-VAE's 8×8 grid of vectors), the grid's
            shape ``(*positions, d)``: each example's ``d_z = prod(grid_shape)`` latents are that grid
            flattened position-major (row-major over the positions, the d features of a position side by
            side), so ``latents.reshape(S, B, *grid_shape)`` recovers it. None for one flat vector.
    """

    latents: Tensor
    assignments: Tensor | None = None
    grid_shape: tuple[int, ...] | None = None


@runtime_checkable
class Model(Protocol):
    """One training contract for every model.

    ``noise_shape(B)`` says what standard-normal noise one seed needs per step (None for none); the
    trainer draws it from each seed's own generator so results never depend on how seeds are batched.
    ``loss(batch, noise)`` returns a ``LossOutput``; ``represent(batch)`` returns a ``Representation``.
    ``needs_u`` says whether the model must be given u (iVAE) or infers it (VaDE). An optional ``reads_pairs``,
    when true, asks for each training example's predecessor in time (``Batch.previous``; PCL): such a model trains
    only on data with time order (`ica.components.sequences`). An optional ``represents_with_u = False`` says that
    a model that needs u to train represents new data without it (TCL: u is its classifier's target).
    """

    needs_u: bool

    def noise_shape(self, batch_size: int) -> tuple[int, ...] | None: ...

    def loss(self, batch: Batch, noise: Tensor | None) -> LossOutput: ...

    def represent(self, batch: Batch) -> Representation: ...


@runtime_checkable
class Metric(Protocol):
    """Scores the outcome of training one cell (all its seeds) and returns flat records.

    ``__call__(evaluation) -> list[MetricRecord]``: see ``ica.evaluation.seeds.Evaluation``.

    Optional attributes: ``requires_sources`` (needs ground truth), ``requires_grid``, ``requires_assignments``
    (skipped by a default metric list when the cell's outcomes cannot feed it), and ``controlled``: when true,
    ``ica`` also calls the metric on each seed's *untrained* network (``evaluation.control == "untrained"``)
    and records its per-seed and per-pair values as ``<metric>_untrained``, the null control every reported
    consistency is read against; such a call should skip per-cell floors (they do not depend on the seeds).
    ``by_default = False`` leaves the metric out of a spec that names no metrics (it runs only where named).
    """

    def __call__(self, evaluation: Any) -> list["MetricRecord"]: ...


@dataclass(frozen=True)
class MetricRecord:
    """One measured number.

    ``seed`` is set for per-seed values, ``pair`` for per-pair values, neither for per-cell values.
    A value of NaN is a *failure* and is counted as such, never dropped.
    """

    metric: str
    value: float
    seed: int | None = None
    pair: tuple[int, int] | None = None
    error: str | None = None


def count_parameters(module: nn.Module) -> int:
    """Number of scalar parameters per seed (the leading seed axis divided out)."""
    total = 0
    for p in module.parameters():
        total += p.numel() // max(1, p.shape[0]) if p.dim() else 1
    return total
