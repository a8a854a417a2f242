"""Time order in a data set, and the pairs in time that a model reading them (PCL) trains on.

A split declares time order with ``Split.sequence``: the recording each row belongs to, the rows of one
recording contiguous and in time order. Row ``i`` then has a predecessor when row ``i - 1`` is of the same
recording. A model with ``reads_pairs`` trains on the rows that have one, each given its predecessor
(``Split.previous``, ``Batch.previous``); its representation is of single observations, so evaluation is as
for any model.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import torch
from torch import Tensor

from ica.components.protocols import Split
from ica.errors import DataError


def reads_pairs(model: Any) -> bool:
    """Whether ``model`` trains on pairs in time (each example with its predecessor)."""
    return bool(getattr(model, "reads_pairs", False))


def sequence_problem(sequence: Tensor, rows: int) -> str | None:
    """What is wrong with ``sequence`` as the time order of ``rows`` rows (None when nothing is): it must be one
    whole number per row, and each recording's rows contiguous (a recording that starts again later would pair
    its last row before the gap with its first row after it)."""
    if sequence.dim() != 1 or sequence.shape[0] != rows:
        return f"has shape {list(sequence.shape)}; expected one recording index per row ([{rows}])"
    if sequence.dtype.is_floating_point or sequence.dtype == torch.bool:
        return f"holds {str(sequence.dtype).removeprefix('torch.')} values; expected whole numbers (int64)"
    starts = torch.ones(rows, dtype=torch.bool)
    starts[1:] = sequence[1:] != sequence[:-1]
    values, counts = sequence[starts].unique(return_counts=True)
    if bool((counts > 1).any()):
        first = int(values[counts > 1][0])
        return f"recording {first} is not contiguous: its rows must follow each other, in time order"
    return None


def predecessors(split: Split) -> Tensor:
    """The rows (``[M]`` int64) of ``split`` that have a predecessor in the same recording."""
    if split.sequence is None:
        raise DataError("the data have no time order (no sequence)", where="data")
    same = split.sequence[1:] == split.sequence[:-1]
    return torch.nonzero(same).flatten() + 1


def paired(split: Split, where: str) -> Split:
    """The rows of ``split`` that have a predecessor, each with it in ``previous``: what a model that reads pairs
    trains on. A `DataError` naming ``where`` when the data have no time order or no pair at all."""
    if split.sequence is None:
        raise DataError(
            "this model trains on pairs in time (x_t, x_t-1), and the data set declares no time order: use the "
            "'ts' data set, or give an npz file a 'sequence' array (the recording of each row, rows in time order)",
            where=where,
        )
    rows = predecessors(split)
    if rows.numel() < 2:
        raise DataError(
            f"this model trains on pairs in time, and the training split has {rows.numel()} row(s) with a "
            "predecessor in the same recording; it needs at least 2",
            where=where,
        )
    return replace(split.rows(rows), previous=split.x[rows - 1])


def training_split(model: Any, split: Split, where: str) -> Split:
    """The split ``model`` trains on: ``split`` itself, or its pairs in time for a model that reads pairs."""
    return paired(split, where) if reads_pairs(model) else split
