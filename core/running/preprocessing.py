"""What a run's training did to its data, written to ``preprocessing.json`` so its models outlive the data.

A trained model needs two things from the data it was trained on: the shapes its networks were built for
(``x_shape``, ``n_u``, a continuous u's ``u_kind`` and ``u_dim``, the number of sources that sets a default
latent size) and what was done to x and u before training (``standardize``'s training-split statistics, an
image set's binarisation, the npz set's relabelling of u). `record` writes them down when a run starts; `shell`
turns them back into the zero-row `DataSplits` that building a model reads, so `ica.load` rebuilds a model
without building the data set again (which may be large, slow or gone).

The file is written once, by the first invocation (`keep_record`): every finished seed records its digest, so
rewriting it would orphan them; a later invocation whose data set prepares differently (the npz replaced, other
shapes or statistics) is refused instead of training more seeds on other data.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import torch

from ica.components.protocols import DataSplits, Split
from ica.errors import IcaError
from ica.rundir.json_files import read_preprocessing
from ica.rundir.layout import RunLayout
from ica.rundir.schemas import PREPROCESSING_FORMAT, PreprocessingFile
from ica.rundir.writing import create_exclusive


def record(data: DataSplits) -> PreprocessingFile:
    """The ``preprocessing.json`` of a run trained on ``data`` (as `ica.running.building.prepare_data` made it)."""
    info = data.info
    stats = info.get("standardization")
    binarize = info.get("binarize") or "none"
    return PreprocessingFile.model_validate(
        {
            "format": PREPROCESSING_FORMAT,
            "x_shape": list(data.x_shape),
            "n_u": data.n_u,
            "source_dim": data.source_dim,
            "standardize": None
            if stats is None
            else {"mean": stats[0].flatten().tolist(), "std": stats[1].flatten().tolist()},
            "binarize": binarize,
            "binarize_seed": info.get("binarize_seed") if binarize == "sample" else None,
            # The image sets give pixels k/levels in [0, 1] (their info says so under "pixels").
            "unit_interval": "pixels" in info,
            "u_labels": info.get("u_labels") if data.n_u is not None else None,
            # Written only for a continuous u: a discrete run's file stays as it always was (and reads as one).
            **({} if data.u_dim is None else {"u_kind": "continuous", "u_dim": data.u_dim}),
        }
    )


def keep_record(layout: RunLayout, data: DataSplits) -> None:
    """Write ``preprocessing.json`` for ``data`` unless the run has one; an existing one must describe ``data``."""
    new = record(data)
    if create_exclusive(layout.preprocessing, new.json_bytes()):
        return
    kept = read_preprocessing(layout.preprocessing).model_dump()
    different = differing_field(kept, new.plain())
    if different is not None:
        raise IcaError(
            f"the data set now prepares differently from when this run started ({different} differs): "
            "the run's seeds were trained on the data as they were then; restore those data, or run the "
            "spec into a new directory",
            where=str(layout.preprocessing),
        )


STATISTICS_TOLERANCE = 1e-5
"""Relative difference allowed between standardisation statistics computed again (another machine may sum in
another order); anything larger is other data."""


def differing_field(kept: dict[str, Any], new: dict[str, Any]) -> str | None:
    """The first field of ``new`` that ``kept`` (a run's preprocessing.json) does not match, or None."""
    for key, value in new.items():
        if key == "standardize" and value is not None and kept.get(key) is not None:
            for part in ("mean", "std"):
                old, now = np.asarray(kept[key][part]), np.asarray(value[part])
                if old.shape != now.shape or not np.allclose(old, now, rtol=STATISTICS_TOLERANCE, atol=1e-7):
                    return f"standardize.{part}"
        elif kept.get(key) != value:
            return key
    return None


def shell(pre: PreprocessingFile) -> DataSplits:
    """Zero-row splits with the shapes and facts of ``pre``: all that building a model reads of its data."""
    x = torch.empty(0, *pre.x_shape)
    s = None if pre.source_dim is None else torch.empty(0, pre.source_dim)
    empty = Split(x, None, s)
    return DataSplits(empty, empty, pre.n_u, {"standardized": pre.standardize is not None}, u_dim=pre.u_dim)


def standardization(pre: PreprocessingFile) -> tuple[torch.Tensor, torch.Tensor] | None:
    """``standardize``'s means and deviations as ``[1, *x_shape]`` float32 tensors, or None."""
    if pre.standardize is None:
        return None
    shape = (1, *pre.x_shape)
    return (
        torch.tensor(pre.standardize.mean, dtype=torch.float32).reshape(shape),
        torch.tensor(pre.standardize.std, dtype=torch.float32).reshape(shape),
    )


GENERATED_SKIPPED = ("standardization", "options")
"""Data-set info kept out of summary.json's record: the standardisation is preprocessing.json's, the options
the spec's."""
GENERATED_MAX_CHARS = 100_000


def generated_record(info: dict[str, Any]) -> dict[str, Any]:
    """What a data set says about how it was made (TCL: the recipe, its source, every layer's condition number),
    kept JSON-safe for summary.json so a run records its data's properties beside its results; values that are
    not plain JSON, or larger than `GENERATED_MAX_CHARS` as text, are left out."""
    record = {}
    for key, value in info.items():
        if key in GENERATED_SKIPPED:
            continue
        try:
            text = json.dumps(value, allow_nan=False)
        except (TypeError, ValueError):
            continue
        if len(text) <= GENERATED_MAX_CHARS:
            record[str(key)] = value
    return record
