"""New data for a trained model, checked and prepared the way training prepared its data.

A wrong file must be one clear error, not a silently meaningless embedding, so x is held against the
observation shape the networks were built for, must be finite, and (for the image sets, whose pixels are
k/levels) must lie in [0, 1]; u must be whole numbers among those training saw, or, for a model trained with a
continuous u, finite numbers of the width it had (``[N, d_u]``, or ``[N]`` where d_u = 1), taken as they are.
Then the run's own
preprocessing (``preprocessing.json``) is applied: the npz set's labels become 0..n_u-1 in the same sorted
order, an image set's binarisation is applied (``"threshold"`` as in training; ``"sample"`` with a stream of
its own, the third child of ``binarize_seed``'s seed sequence after the training and evaluation splits', so
one file always gives the same pixels; 0/1 data pass both unchanged), and ``standardize``'s training-split
statistics are applied.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ica.components.binarizing import binarized
from ica.components.protocols import Split
from ica.errors import DataError
from ica.rundir.schemas import PreprocessingFile
from ica.running.preprocessing import standardization


@dataclass(frozen=True)
class Inputs:
    """What a model of one run accepts (``x_shape``, ``n_u``, ``needs_u``) and how its data were prepared."""

    label: str
    pre: PreprocessingFile
    needs_u: bool
    stats: tuple[torch.Tensor, torch.Tensor] | None

    @classmethod
    def of(cls, label: str, pre: PreprocessingFile, needs_u: bool) -> "Inputs":
        return cls(label, pre, needs_u, standardization(pre))

    @property
    def x_shape(self) -> tuple[int, ...]:
        return tuple(self.pre.x_shape)

    def prepared(self, x: Any, u: Any = None) -> Split:
        """``x`` and ``u`` checked against what the model was trained on, preprocessed as in training (CPU)."""
        x = self._x(x)
        return Split(x, self._u(u, x.shape[0]))

    def _x(self, x: Any) -> torch.Tensor:
        x = as_tensor(x, "x")
        if x.dim() < 2 or tuple(x.shape[1:]) != self.x_shape or x.shape[0] == 0:
            raise DataError(
                f"x has shape {tuple(x.shape)}, but model {self.label!r} was trained on observations of "
                f"shape {self.x_shape}: give [N, {', '.join(map(str, self.x_shape))}] with N >= 1",
                where="x",
            )
        if x.is_floating_point() and not torch.isfinite(x).all():
            raise DataError("x holds non-finite values (NaN or infinity)", where="x")
        if x.dtype == torch.float64 and float(x.abs().max()) > FLOAT32_MAX:  # infinite in float32
            raise DataError(
                f"x holds values up to {float(x.abs().max()):.3g} in magnitude, beyond float32's range "
                f"(±{FLOAT32_MAX:.3g}) in which the model computes",
                where="x",
            )
        x = x.to(torch.float32)
        if self.pre.unit_interval and (x.min() < 0 or x.max() > 1):
            raise DataError(
                f"x holds values in [{float(x.min()):g}, {float(x.max()):g}], but the model was trained "
                "on pixels k/levels in [0, 1] (8-bit images: divide by 255)",
                where="x",
            )
        if self.pre.binarize != "none":
            rng = np.random.Generator(np.random.PCG64(self.pre.binarize_seed or 0)).spawn(3)[2]
            x = binarized(x, self.pre.binarize, rng)
        if self.stats is not None:
            mean, std = self.stats
            x = (x - mean) / std
        return x

    def _u(self, u: Any, n: int) -> torch.Tensor | None:
        if u is None:
            if self.needs_u:
                what = "one integer per row" if self.pre.u_dim is None else f"[N, {self.pre.u_dim}] numbers"
                raise DataError(
                    f"model {self.label!r} encodes x together with u (it needs u, as iVAE does): give u, {what}",
                    where="u",
                )
            return None
        u = as_tensor(u, "u")
        if self.pre.u_dim is not None:
            return self.continuous(u, n)
        if u.dim() == 2 and u.shape[1] == 1:  # [N, 1], as the npz data set accepts
            u = u[:, 0]
        if u.dim() != 1 or u.shape[0] != n or (u.dtype.is_floating_point and not torch.equal(u, u.round())):
            raise DataError(
                f"u must be one whole number per row of x ({n}), got shape {tuple(u.shape)} and dtype {u.dtype}",
                where="u",
            )
        return self.relabelled(u)

    def continuous(self, u: torch.Tensor, rows: int) -> torch.Tensor:
        """A continuous u as float32 ``[rows, d_u]``: the width training had, finite; nothing is relabelled."""
        width = self.pre.u_dim
        if u.dim() == 1 and width == 1:
            u = u[:, None]
        if u.dim() != 2 or tuple(u.shape) != (rows, width):
            raise DataError(
                f"u has shape {tuple(u.shape)}; model {self.label!r} was trained with a continuous u of {width} "
                f"column(s): give [{rows}, {width}] numbers, one row per row of x",
                where="u",
            )
        u = u.to(torch.float32)  # float64 beyond float32's range becomes infinite, and is refused here
        if not torch.isfinite(u).all():
            raise DataError("u holds non-finite values (NaN, infinity, or beyond float32's range)", where="u")
        return u

    def sampling_u(self, u: Any, n: int) -> torch.Tensor | None:
        """The u that ``n`` draws from the prior are made at: training's codes of a discrete u (None: drawn
        uniformly over its values), or a continuous u ``[n, d_u]``, which a model that needs u must be given:
        it learnt no p(u) to draw one from."""
        if self.pre.u_dim is None:
            return None if u is None else self.relabelled(as_tensor(u, "u").reshape(-1))
        if u is None:
            if self.needs_u:
                raise DataError(
                    f"model {self.label!r} was trained with a continuous u and learnt no p(u) to draw one from: "
                    f"give u, [{n}, {self.pre.u_dim}], the values to draw z ~ p(z|u) at",
                    where="u",
                )
            return None
        return self.continuous(as_tensor(u, "u"), n)

    def relabelled(self, u: torch.Tensor) -> torch.Tensor:
        """u as training's 0..n_u-1: the npz set's labels mapped in their sorted order, others checked in range."""
        labels = self.pre.u_labels
        if labels is not None and labels != list(range(len(labels))):
            known = np.asarray(labels, dtype=np.float64)
            values = u.to(torch.float64).numpy()
            index = np.searchsorted(known, values).clip(max=len(known) - 1)
            unknown = values[known[index] != values]
            if unknown.size:
                raise DataError(
                    f"u holds {unknown[0]:g}, which is not one of the labels the model was trained on "
                    f"({', '.join(f'{v:g}' for v in known[:10])}{', ...' if len(known) > 10 else ''})",
                    where="u",
                )
            return torch.from_numpy(index.astype(np.int64))
        n_u = self.pre.n_u
        if n_u is not None and ((u < 0).any() or (u >= n_u).any()):  # before int64, which would wrap 2**64-1
            raise DataError(
                f"u must lie in 0..{n_u - 1}, the values the model was trained on; got "
                f"{_whole(u.min())}..{_whole(u.max())}",
                where="u",
            )
        return u.to(torch.int64)

    def restored(self, x: torch.Tensor) -> torch.Tensor:
        """Decoded x ``[..., *x_shape]`` taken back from standardised units to the data's own."""
        if self.stats is None:
            return x
        mean, std = self.stats
        return x * std + mean


def as_tensor(value: Any, name: str) -> torch.Tensor:
    """``value`` (a tensor, an array or nested lists of numbers) as a CPU tensor, or a DataError naming it."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    try:
        array = np.asarray(value)
    except Exception as exc:  # ragged lists and other non-arrays
        raise DataError(f"{name} is not an array ({type(exc).__name__}: {exc})", where=name) from None
    if array.dtype.kind not in "biuf":
        raise DataError(f"{name} must hold numbers, not {array.dtype}", where=name)
    if not array.dtype.isnative:  # big-endian data on a little-endian machine: torch takes native order only
        array = array.astype(array.dtype.newbyteorder("="))
    if array.dtype.kind == "u" and array.dtype.itemsize > 1:  # torch computes little with uint16..uint64
        if array.size and array.max() > np.iinfo(np.int64).max:
            raise DataError(
                f"{name} holds {array.max()}, beyond 64-bit signed integers (at most 2**63 - 1)", where=name
            )
        array = array.astype(np.int64)
    return torch.from_numpy(array if array.flags.c_contiguous else np.ascontiguousarray(array))  # 0-d stays 0-d


FLOAT32_MAX = float(np.finfo(np.float32).max)


def _whole(value: torch.Tensor) -> str:
    """A whole number of any size for a message (a float64 holding 2**64 - 1 too)."""
    number = value.item()
    return str(int(number)) if float(number).is_integer() and abs(number) < 1e18 else f"{number:g}"
