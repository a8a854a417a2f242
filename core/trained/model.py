"""A trained model of a run, ready for new data: encode (``transform``, ``posterior``), cluster (``assign``),
score (``elbo``), decode and sample, in eval mode, batched over examples, for all of its seeds at once.

New data are checked and prepared as training prepared its data (`ica.trained.inputs`). Encoding goes
through `ica.evaluation.seeds.representation`, the function a run's evaluation uses, so a loaded run gives
back its saved latents exactly. Decoded and sampled x are in the data's own units (``standardize`` undone).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Protocol, cast

import numpy as np
import torch

from ica.components.protocols import Batch, Representation, Split
from ica.components.registry import component_of
from ica.errors import DataError
from ica.evaluation.seeds import broadcast_batch, elbo_per_example, representation
from ica.nn.seeding import PURPOSES, generator, seed_generators
from ica.components.memory import format_bytes, host_available
from ica.trained.inputs import Inputs, as_tensor
from ica.spec.experiment import ExperimentSpec

CHUNK = 4096  # rows per forward pass: a million rows are encoded in pieces
SAMPLE_COPIES = 4  # float32 arrays of a draw's size held at once while sampling: the draws, their float and CPU
# copies, the decoded x (an estimate that errs on the side of refusing early rather than failing part-way)
Progress = Callable[[int], None]  # called with the number of rows just done


class Generative(Protocol):
    """The methods a model may offer beyond the training contract (`TrainedModel._require` checks for each)."""

    def posterior(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]: ...

    def decode(self, z: torch.Tensor) -> torch.Tensor: ...

    def sample_latents(self, n: int, u: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]: ...


Groups = list[tuple[list[int], Generative]]
"""(seeds, module) pairs whose modules have a method of `Generative` (`TrainedModel._require`)."""


@dataclass
class TrainedModel:
    """One model of a finished run with all of its seeds, as ``ica.load`` returns it, in eval mode.

    Methods take arrays (numpy, torch or lists) of new data ``x`` ``[N, *x_shape]`` (and, where `needs_u`, ``u``:
    ``[N]`` labels, or ``[N, u_dim]`` for a continuous u), check them against what the model was trained on,
    prepare them as training did, and return numpy arrays with a leading seed axis ``S``, dropped when one seed
    is loaded:

    ```python
    model = ica.load("runs/quickstart", model="vade")
    z = model.transform(x_new)        # posterior means [S, N, d_z]
    clusters = model.assign(x_new)    # [S, N]
    x_hat = model.decode(z)           # [S, N, *x_shape], in the data's units
    ```

    Attributes:
        label: the model's label in the run's spec.
        seeds: the seeds it holds, in the run's order (the order of the seed axis).
        groups: the networks: (seeds, module) pairs, each module holding its seeds batched.
        inputs: what it accepts and how new data are prepared (``x_shape``, ``needs_u``, preprocessing).
        spec: the validated spec of the run.
        device: where it computes.
    """

    label: str
    seeds: list[int]
    groups: list[tuple[list[int], torch.nn.Module]]
    inputs: Inputs
    spec: ExperimentSpec
    device: torch.device

    @property
    def x_shape(self) -> tuple[int, ...]:
        """The shape of one example x, as the model was trained on it."""
        return self.inputs.x_shape

    @property
    def n_u(self) -> int | None:
        """How many values of u the model was trained with (coded ``0..n_u-1``); None without a discrete u."""
        return self.inputs.pre.n_u

    @property
    def u_dim(self) -> int | None:
        """Columns of the continuous u the model was trained with (``u`` is then ``[N, u_dim]`` floats); else None."""
        return self.inputs.pre.u_dim

    @property
    def needs_u(self) -> bool:
        """Whether encoding needs u (iVAE's encoder q(z|x,u)): then ``transform`` and the rest take ``u`` too."""
        return self.inputs.needs_u

    def transform(self, x: Any, u: Any = None) -> np.ndarray:
        """Posterior means of ``x`` (``[N, *x_shape]``): ``[S, N, d_z]``, or ``[N, d_z]`` for a single seed."""
        return self._squeeze(self.represent(x, u).latents.numpy())

    def assign(self, x: Any, u: Any = None) -> np.ndarray:
        """The discrete u of every row (VaDE: argmax p(u|z); Rademacher: the hash): ``[S, N]`` or ``[N]``."""
        rep = self.represent(x, u)
        if rep.assignments is None:
            raise DataError(f"model {self.label!r} ({self._name}) assigns no discrete u", where="assign")
        return self._squeeze(rep.assignments.numpy())

    @torch.no_grad()
    def posterior(self, x: Any, u: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """Mean and log-variance of q(z|x[,u]), each ``[S, N, d_z]`` (``[N, d_z]`` for one seed), for models
        with an encoder (not ``gmmflow``, whose representation is f^-1(x))."""
        groups = self._require("posterior", "has no posterior q(z|x)")
        split = self.prepared(x, u)
        means, log_vars = [], []
        for group, module in groups:  # each group's module holds len(group) seeds
            chunks = range(0, len(split), CHUNK)
            parts = [module.posterior(broadcast_batch(split, slice(i, i + CHUNK), len(group))) for i in chunks]
            means.append(torch.cat([m.float().cpu() for m, _ in parts], 1))
            log_vars.append(torch.cat([v.float().cpu() for _, v in parts], 1))
        return self._squeeze(torch.cat(means).numpy()), self._squeeze(torch.cat(log_vars).numpy())

    def elbo(self, x: Any, u: Any = None) -> np.ndarray:
        """The ELBO of every row, per seed ``[S, N]`` (``[N]`` for one seed), with each seed's own noise
        (its ``elbo`` stream, as the run's evaluation draws it: the mean over the training split is the
        ``elbo.train`` of the seed's result.json)."""
        split = self.prepared(x, u)
        parts = [
            elbo_per_example(module, split, [generator(s, "elbo", self.device) for s in group], CHUNK)
            for group, module in self.groups
        ]
        return self._squeeze(torch.cat(parts).numpy())

    def represent(self, x: Any, u: Any = None, progress: Progress | None = None) -> Representation:
        """Everything the model says about ``x``: latents ``[S, N, d_z]``, assignments, grid shape (CPU).
        ``progress(rows)`` is called as pieces of ``x`` are done (each piece for every seed)."""
        split = self.prepared(x, u)
        step = CHUNK * max(1, len(split) // (100 * CHUNK))  # ~100 progress steps; chunks as the evaluation's
        pieces = []
        for start in range(0, len(split), step):
            rows = slice(start, start + step)
            piece = split.rows(rows)
            parts = [representation(module, piece, CHUNK) for _, module in self.groups]
            pieces.append(
                Representation(
                    torch.cat([p.latents for p in parts]), _joined([p.assignments for p in parts]), parts[0].grid_shape
                )
            )
            if progress is not None:
                progress(len(piece))
        return Representation(
            torch.cat([p.latents for p in pieces], 1), _joined([p.assignments for p in pieces], 1), pieces[0].grid_shape
        )

    @torch.no_grad()
    def decode(self, z: Any) -> np.ndarray:
        """The mean of p(x|z) (a flow: f(z)) for latents ``[S, N, d_z]`` (one per seed, as `transform` gives
        them) or ``[N, d_z]`` (the same for every seed), in the data's units: ``[S, N, *x_shape]`` or
        ``[N, *x_shape]`` for one seed."""
        groups = self._require("decode", "cannot decode (it has no decoder)")
        z = as_tensor(z, "z").to(torch.float32)
        if z.dim() == 2:
            z = z.expand(len(self.seeds), -1, -1)
        if z.dim() != 3 or z.shape[0] != len(self.seeds) or z.shape[1] == 0:
            raise DataError(
                f"z must be [N, d_z] or [{len(self.seeds)} seeds, N, d_z], got shape {tuple(z.shape)}", where="z"
            )
        if not torch.isfinite(z).all():
            raise DataError("z holds non-finite values", where="z")
        out, first = [], 0
        for group, module in groups:
            mine = z[first : first + len(group)].to(self.device)
            first += len(group)
            try:
                out.append(
                    torch.cat(
                        [module.decode(mine[:, i : i + CHUNK]).float().cpu() for i in range(0, mine.shape[1], CHUNK)], 1
                    )
                )
            except RuntimeError as exc:  # a latent size the decoder was not built for
                raise DataError(
                    f"z does not fit the decoder of {self.label!r} ({str(exc).splitlines()[0][:160]})", where="z"
                ) from None
        return self._squeeze(self.inputs.restored(torch.cat(out)).numpy())

    def sample_latents(self, n: int, seed: int = 0, u: Any = None) -> tuple[np.ndarray, np.ndarray | None]:
        """``n`` draws of z per seed from the trained prior, and the u (component) each came from.

        Each model seed draws from its own stream, made from the pair (model seed, ``seed``): the draws do
        not depend on which seeds are loaded together. ``u`` (``[n]``) fixes the component of a conditional
        prior (iVAE), which otherwise is drawn uniformly over its values; a model trained with a continuous u
        must be given it (``[n, d_u]``), having learnt no p(u) to draw it from.
        """
        return self._draw(self._check_draws(n, seed, decoded=False), n, seed, u)

    def sample(self, n: int, seed: int = 0, u: Any = None) -> np.ndarray:
        """``n`` samples of x per seed: z from the trained prior (`sample_latents`), decoded (`decode`), in the
        data's units: ``[S, n, *x_shape]`` or ``[n, *x_shape]`` for one seed."""
        z, _ = self._draw(self._check_draws(n, seed, decoded=True), n, seed, u)
        return self.decode(z if len(self.seeds) > 1 else z[None])

    @torch.no_grad()
    def _draw(self, groups: Groups, n: int, seed: int, u: Any) -> tuple[np.ndarray, np.ndarray | None]:
        """`sample_latents` once its arguments are checked."""
        given = self.inputs.sampling_u(u, n)  # a continuous u [n, d_u] must be given: there is no p(u)
        if given is not None and (not self.needs_u or given.shape[0] != n):
            raise DataError(
                f"u can be given only to a model with a conditional prior, one value per draw ({n})", where="u"
            )
        zs, us = [], []
        for group, module in groups:
            streams = [_sampling_generator(s, int(seed), self.device) for s in group]
            fixed = None if given is None else given.to(self.device).expand(len(group), *given.shape)
            with seed_generators(streams):
                z, drawn = module.sample_latents(n, fixed)
            zs.append(z.float().cpu())
            us.append(None if drawn is None else drawn.cpu())
        joined = _joined(us)
        u_out = None if joined is None else self._squeeze(joined.numpy())
        return self._squeeze(torch.cat(zs).numpy()), u_out

    def _check_draws(self, n: Any, seed: Any, decoded: bool) -> Groups:
        """A model with a prior, whole numbers ``n >= 1`` and ``seed >= 0``, and ``n`` draws (decoded too, where
        ``decoded``) that fit in this machine's memory, refused before any is drawn (all ``n`` are drawn at
        once, so that the draws do not depend on a chunk size). Returns the groups, each able to sample."""
        groups = self._require("sample_latents", "cannot sample (it has no prior to sample from)")
        for name, value, least in (("n", n, 1), ("seed", seed, 0)):
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < least:
                raise DataError(f"{name} must be a whole number >= {least}, got {value!r}", where=name)
        width = self._latent_width(groups[0]) + (math.prod(self.x_shape) if decoded else 0)
        needed = SAMPLE_COPIES * 4 * len(self.seeds) * int(n) * width
        available = host_available()
        if available is not None and needed > available:
            raise DataError(
                f"{int(n):,} draws of {len(self.seeds)} seed(s) need about {format_bytes(needed)} of "
                f"memory, more than this machine has free ({format_bytes(available)}); draw fewer at a "
                "time (each call with its own seed)",
                where="n",
            )
        return groups

    @torch.no_grad()
    def _latent_width(self, first: tuple[list[int], Generative]) -> int:
        """Numbers in one draw of z of one seed, found by drawing one with a generator of its own."""
        group, module = first
        with seed_generators([torch.Generator(device=self.device) for _ in group]):
            width = self.inputs.pre.u_dim  # a continuous u has no default to draw at: a probe of zeros
            probe = None if width is None or not self.needs_u else torch.zeros(len(group), 1, width, device=self.device)
            z, _ = module.sample_latents(1, probe)
        return int(z[0].numel())

    def prepared(self, x: Any, u: Any = None) -> Split:
        """``x`` and ``u`` checked against what the model was trained on, preprocessed as in training."""
        return self.inputs.prepared(x, u).to(self.device)

    @property
    def _name(self) -> str:
        return component_of(self.spec.models[self.label])[1]

    def _require(self, method: str, missing: str) -> Groups:
        """The groups, once every one's module has ``method`` (one of `Generative`'s)."""
        if not all(hasattr(module, method) for _, module in self.groups):
            raise DataError(f"model {self.label!r} ({self._name}) {missing}", where=method)
        return [(group, cast(Generative, module)) for group, module in self.groups]

    def _squeeze(self, a: np.ndarray) -> np.ndarray:
        return a[0] if len(self.seeds) == 1 else a


def _joined(parts: list[torch.Tensor | None], dim: int = 0) -> torch.Tensor | None:
    """``parts`` concatenated along ``dim``, or None where any is None (a model that assigns no discrete u)."""
    given = [p for p in parts if p is not None]
    return torch.cat(given, dim) if len(given) == len(parts) else None


def _sampling_generator(model_seed: int, seed: int, device: torch.device) -> torch.Generator:
    """The stream of draws ``seed`` of model seed ``model_seed``: independent of its training streams."""
    state = np.random.SeedSequence([model_seed, PURPOSES["sample"], seed]).generate_state(1, dtype=np.uint64)[0]
    g = torch.Generator(device=device)
    g.manual_seed(int(state >> np.uint64(1)))
    return g
