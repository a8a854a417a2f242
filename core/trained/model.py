"""A trained model of a run, ready for new data: ``transform`` (posterior means) and ``assign`` (the discrete
u where the model has one), in eval mode, batched over examples, for all of its seeds at once.

New data are checked before they reach the networks -- the observation shape the model was trained on,
finite values, integer u inside the trained range where the model needs u -- and get the preprocessing
training applied (``standardize``'s training-split statistics), so a wrong file is one clear error rather
than a silently meaningless embedding. Encoding goes through `ica.evaluation.seeds.representation`, the
function a run's evaluation uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ica.components.protocols import Representation, Split
from ica.errors import DataError
from ica.evaluation.seeds import broadcast_batch, elbo_per_example, representation
from ica.nn.seeding import generator

CHUNK = 4096  # rows per forward pass: a million rows are encoded in pieces


@dataclass
class TrainedModel:
    """One model label of a finished run: ``groups`` of (seeds, module), in the run's seed order.

    Attributes:
        label: the model's label in the run's spec; ``seeds`` the seeds it holds, in order.
        x_shape: the shape of one observation it was trained on; ``n_u`` the number of u values (or None).
        needs_u: whether encoding needs u (a conditional prior, as iVAE's).
        standardization: ``(mean, std)`` applied to new x, or None when training did not standardise.
        spec: the validated spec of the run.
    """

    label: str
    seeds: list[int]
    groups: list[tuple[list[int], torch.nn.Module]]
    x_shape: tuple[int, ...]
    n_u: int | None
    needs_u: bool
    standardization: tuple[torch.Tensor, torch.Tensor] | None
    spec: Any
    device: torch.device

    def transform(self, x: Any, u: Any = None) -> np.ndarray:
        """Posterior means of ``x`` (``[N, *x_shape]``): ``[S, N, d_z]``, or ``[N, d_z]`` for a single seed."""
        return self._squeeze(self.represent(x, u).latents.numpy())

    def assign(self, x: Any, u: Any = None) -> np.ndarray:
        """The discrete u of every row (VaDE: argmax p(u|z); Rademacher: the hash): ``[S, N]`` or ``[N]``."""
        rep = self.represent(x, u)
        if rep.assignments is None:
            raise DataError(f"model {self.label!r} ({self.spec.models[self.label].name}) assigns no discrete u",
                            where="assign")
        return self._squeeze(rep.assignments.numpy())

    @torch.no_grad()
    def posterior(self, x: Any, u: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """Mean and log-variance of q(z|x[,u]), each ``[S, N, d_z]`` (``[N, d_z]`` for one seed), for models
        with an encoder (not ``gmmflow``, whose representation is f^-1(x))."""
        split = self.prepared(x, u)
        if not all(hasattr(module, "posterior") for _, module in self.groups):
            raise DataError(f"model {self.label!r} ({self.spec.models[self.label].name}) has no posterior q(z|x)",
                            where="posterior")
        means, log_vars = [], []
        for group, module in self.groups:  # each group's module holds len(group) seeds
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
        parts = [elbo_per_example(module, split, [generator(s, "elbo", self.device) for s in group], CHUNK)
                 for group, module in self.groups]
        return self._squeeze(torch.cat(parts).numpy())

    def represent(self, x: Any, u: Any = None) -> Representation:
        """Everything the model says about ``x``: latents ``[S, N, d_z]``, assignments, grid shape (CPU)."""
        split = self.prepared(x, u)
        parts = [representation(module, split, CHUNK) for _, module in self.groups]
        assignments = [p.assignments for p in parts]
        return Representation(torch.cat([p.latents for p in parts]),
                              None if any(a is None for a in assignments) else torch.cat(assignments),
                              parts[0].grid_shape)

    def prepared(self, x: Any, u: Any = None) -> Split:
        """``x`` and ``u`` checked against what the model was trained on, preprocessed as in training."""
        x = _tensor(x, "x").to(torch.float32)
        if tuple(x.shape[1:]) != self.x_shape or x.dim() < 2 or x.shape[0] == 0:
            raise DataError(f"x has shape {tuple(x.shape)}, but model {self.label!r} was trained on observations of "
                            f"shape {self.x_shape}: give [N, {', '.join(map(str, self.x_shape))}] with N >= 1",
                            where="x")
        if not torch.isfinite(x).all():
            raise DataError("x holds non-finite values (NaN or infinity)", where="x")
        if self.standardization is not None:
            mean, std = self.standardization
            x = (x - mean) / std
        if u is None:
            if self.needs_u:
                raise DataError(f"model {self.label!r} encodes x together with u (it needs u, as iVAE does): "
                                "give u, one integer per row", where="u")
        else:
            u = _tensor(u, "u")
            if u.shape != (x.shape[0],) or u.dtype.is_floating_point and not torch.equal(u, u.round()):
                raise DataError(f"u must be one integer per row of x ({x.shape[0]}), got shape {tuple(u.shape)} "
                                f"and dtype {u.dtype}", where="u")
            u = u.to(torch.int64)
            if self.n_u is not None and ((u < 0).any() or (u >= self.n_u).any()):
                raise DataError(f"u must lie in 0..{self.n_u - 1}, the values the model was trained on; got "
                                f"{int(u.min())}..{int(u.max())}", where="u")
        return Split(x.to(self.device), None if u is None else u.to(self.device))

    def _squeeze(self, a: np.ndarray) -> np.ndarray:
        return a[0] if len(self.seeds) == 1 else a


def _tensor(value: Any, name: str) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    try:
        array = np.asarray(value)
    except Exception as exc:  # ragged lists and other non-arrays
        raise DataError(f"{name} is not an array ({type(exc).__name__}: {exc})", where=name) from None
    if array.dtype.kind not in "biuf":
        raise DataError(f"{name} must hold numbers, not {array.dtype}", where=name)
    return torch.from_numpy(np.ascontiguousarray(array))
