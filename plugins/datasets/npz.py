"""`npz`: the user's own arrays, from a NumPy ``.npz`` archive (``numpy.savez``), checked before any training.

Keys: ``x`` (``[N, ...]``, numeric; extra axes are kept as ``x_shape``), optionally ``u`` (``[N]`` or ``[N, 1]``,
non-negative whole numbers; with ``u_kind: "continuous"``, ``[N]`` or ``[N, d_u]`` finite real numbers), ``s``
(ground-truth sources ``[N, d_s]``) and ``sequence`` (the time order: ``[N]`` integers, the recording, trial or
sequence each row belongs to, each recording's rows contiguous and in time order; what a model that reads pairs
in time, such as PCL, needs; ``Split.sequence`` of both splits). A default key that is absent means the variable
is absent; a key the user set explicitly must exist. Which variables exist is decided by the training file: an
evaluation file must hold them too (its other keys are ignored).

Evaluation split: the arrays of ``eval_path`` when given; otherwise the LAST ``round(N · eval_fraction)`` rows
of the file in file order (halves round up), the first rows being the training split. Nothing is shuffled, so
time order is kept: a recording cut by the split continues in the evaluation split, each part contiguous and
in order, and no pair in time spans the two splits (pairs are taken within a split).

Labels ``u`` are relabelled ``0..n_u-1`` in sorted order of the training split's distinct values
(``numpy.unique``); the evaluation split uses the same mapping, and a label it has that training lacks is an
error. The original labels are recorded in ``info["u_labels"]``. A continuous u (``u_kind``, declared, never
guessed from the values) is kept as it is, as float32 ``[N, d_u]``; both splits must have the same ``d_u``.
Files are read with ``allow_pickle=False``. Standardisation is not done here (the core applies ``standardize``,
to x only: a continuous u is given to the networks in the user's own units).

Opening the file safely is `npz_files`'s job, reading array headers before the arrays `npz_headers`'s, reading and
checking one file's arrays `npz_arrays`'s; this module splits and relabels them and registers the data set.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
import torch
from pydantic import model_validator

from ica.plugin import BuildContext, DataError, DatasetOptions, DataSplits, Field, hookimpl, Split
from ica.plugins.datasets.npz_arrays import checked, load_file
from ica.plugins.datasets.npz_headers import file_headers, loaded_bytes


class NPZOptions(DatasetOptions):
    """Arrays from a .npz file; the evaluation split is a second file or the file's last rows."""

    path: str = Field(description="The .npz file (relative paths are resolved from the working directory).")
    x_key: str = Field("x", min_length=1, description="Key of the observations [N, ...].")
    u_key: str | None = Field(
        "u",
        min_length=1,
        description="Key of the auxiliary variable: [N] whole numbers ≥ 0, or with u_kind 'continuous' [N] or "
        "[N, d_u] real numbers; null for none.",
    )
    u_kind: Literal["discrete", "continuous"] = Field(
        "discrete",
        description="'discrete': u is a label (segment, class, state), relabelled 0..n_u-1. 'continuous': u is "
        "a measurement (position, speed, time), [N] or [N, d_u] finite numbers, used as it is.",
    )
    sources_key: str | None = Field("s", min_length=1, description="Key of the true sources [N, d_s]; null for none.")
    sequence_key: str | None = Field(
        "sequence",
        min_length=1,
        description="Key of the time order: [N] integers, the recording (trial, sequence) of each row, each "
        "recording's rows contiguous and in time order; null for none.",
    )
    eval_path: str | None = Field(None, description="A second .npz with the same keys used as the evaluation split.")
    eval_fraction: float = Field(
        0.2, gt=0, lt=1, description="Without eval_path: the last fraction of rows (in file order) held out."
    )
    require_u: bool = Field(False, description="Fail unless the file provides u.")

    def estimated_bytes(self) -> int | None:
        """Memory loading takes, from the arrays' .npy headers alone (nothing is loaded): each of x, u, s and
        sequence as stored plus as converted (float32 x and s, int64 u and sequence, and u's relabelled copy),
        both files. None when a file cannot be read: loading it then reports why."""
        total = 0
        keys = {"x": self.x_key, "u": self.u_key, "s": self.sources_key, "sequence": self.sequence_key}
        for path in (self.path, self.eval_path):
            if path is None:
                continue
            headers = file_headers(path, keys)
            if headers is None:
                return None
            total += sum(loaded_bytes(var, header) for var, header in headers.items())
        return total

    @model_validator(mode="after")
    def _u_possible(self) -> "NPZOptions":
        if self.require_u and self.u_key is None:
            raise ValueError("require_u is true but u_key is null")
        return self


def _rows(arrays: dict[str, Any], rows: slice) -> dict[str, Any]:
    return {k: (v[rows] if isinstance(v, np.ndarray) else v) for k, v in arrays.items()}


def _split(arrays: dict[str, Any]) -> Split:
    tensor = lambda a: None if a is None else torch.from_numpy(np.ascontiguousarray(a))  # noqa: E731
    x = torch.from_numpy(np.ascontiguousarray(arrays["x"]))  # x is always there
    return Split(x=x, u=tensor(arrays["u"]), s=tensor(arrays["s"]), sequence=tensor(arrays["sequence"]))


def _recordings(train: dict[str, Any], evaluation: dict[str, Any]) -> dict[str, int]:
    """Recordings in each split (one cut by ``eval_fraction`` counts in both)."""
    count = lambda seq: int(1 + np.count_nonzero(seq[1:] != seq[:-1]))  # noqa: E731 - contiguous recordings
    return {"train": count(train["sequence"]), "eval": count(evaluation["sequence"])}


def load_npz(options: NPZOptions) -> DataSplits:
    """Read, check and split the arrays named by ``options`` (see the module docstring for the rules)."""
    explicit = options.model_fields_set
    wanted: dict[str, bool | None] = {
        "x": True,
        "u": options.require_u or "u_key" in explicit,
        "s": "sources_key" in explicit,
        "sequence": "sequence_key" in explicit,
    }
    train = checked(load_file(options, options.path, "data.path", wanted), options)
    if options.eval_path is not None:
        # The training file decides which variables exist: the evaluation file must have them, nothing more.
        wanted_eval = {
            "x": True,
            "u": True if train["u"] is not None else None,
            "s": True if train["s"] is not None else None,
            "sequence": True if train["sequence"] is not None else None,
        }
        evaluation = checked(load_file(options, options.eval_path, "data.eval_path", wanted_eval), options)
        if evaluation["x"].shape[1:] != train["x"].shape[1:]:
            raise DataError(
                f"{evaluation['file']}: {options.x_key!r} has rows of shape {list(evaluation['x'].shape[1:])}, "
                f"the training file's have {list(train['x'].shape[1:])}",
                where="data.eval_path",
            )
        if train["s"] is not None and evaluation["s"].shape[1] != train["s"].shape[1]:
            raise DataError(
                f"{evaluation['file']}: {options.sources_key!r} has {evaluation['s'].shape[1]} columns, "
                f"the training file's has {train['s'].shape[1]}",
                where="data.eval_path",
            )
        for name, part, where in (("training", train, "data.path"), ("evaluation", evaluation, "data.eval_path")):
            if part["x"].shape[0] < 2:
                raise DataError(
                    f"{part['file']}: the {name} split needs at least 2 rows, it has {part['x'].shape[0]}", where=where
                )
        eval_split = "file"
    else:
        n = train["x"].shape[0]
        n_eval = int(math.floor(n * options.eval_fraction + 0.5))
        n_train = n - n_eval
        if n_train < 2 or n_eval < 2:
            raise DataError(
                f"{train['file']}: {n} rows with eval_fraction={options.eval_fraction} leave {n_train} training "
                f"and {n_eval} evaluation rows; each split needs at least 2",
                where="data.eval_fraction",
            )
        train, evaluation = _rows(train, slice(0, n_train)), _rows(train, slice(n_train, n))
        eval_split = f"last {n_eval} of {n} rows"

    n_u = u_dim = None
    labels: list[int] | None = None
    if train["u"] is not None and options.u_kind == "continuous":
        u_dim = int(train["u"].shape[1])
        if evaluation["u"].shape[1] != u_dim:
            raise DataError(
                f"{evaluation['file']}: {options.u_key!r} has {evaluation['u'].shape[1]} columns, "
                f"the training file's has {u_dim}",
                where="data.eval_path",
            )
    elif train["u"] is not None:
        uniques = np.unique(train["u"])
        unseen = np.setdiff1d(evaluation["u"], uniques)
        if unseen.size:
            where = "data.eval_path" if options.eval_path is not None else "data.eval_fraction"
            raise DataError(
                f"{evaluation['file']}: the evaluation split has label(s) {unseen[:10].tolist()} of "
                f"{options.u_key!r} that the training split never has",
                where=where,
            )
        train = {**train, "u": np.searchsorted(uniques, train["u"]).astype(np.int64)}
        evaluation = {**evaluation, "u": np.searchsorted(uniques, evaluation["u"]).astype(np.int64)}
        n_u, labels = int(uniques.size), uniques.tolist()

    info = {
        "loader": "npz",
        "path": str(train["file"]),
        "eval_path": None if options.eval_path is None else str(evaluation["file"]),
        "eval_split": eval_split,
        "keys": {
            "x": options.x_key,
            "u": options.u_key if train["u"] is not None else None,
            "s": options.sources_key if train["s"] is not None else None,
            **({} if train["sequence"] is None else {"sequence": options.sequence_key}),
        },
        "x_shape": list(train["x"].shape[1:]),
        "n_train": int(train["x"].shape[0]),
        "n_eval": int(evaluation["x"].shape[0]),
        "n_u": n_u,
        "u_labels": labels,
        **({} if train["sequence"] is None else {"recordings": _recordings(train, evaluation)}),
        **({} if u_dim is None else {"u_kind": "continuous", "u_dim": u_dim}),
    }
    return DataSplits(train=_split(train), eval=_split(evaluation), n_u=n_u, info=info, u_dim=u_dim)


def build(options: NPZOptions, ctx: BuildContext) -> DataSplits:
    """The user's arrays; ``ctx`` is not needed."""
    return load_npz(options)


@hookimpl
def ica_register(register):
    register(
        "dataset",
        "npz",
        NPZOptions,
        build,
        description="Your own arrays from a .npz file (x, optional u, s and time order).",
    )
