"""Building each distinct data set once across the cells of a grid: within `shared_data`, `prepare_data`
(`ica.running.building`) hands every caller with equal data options the same DataSplits."""

from __future__ import annotations

import json
from collections import OrderedDict
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Callable, Iterator

from ica.components.protocols import DataSplits
from ica.components.registry import Registry


SHARED_DATA_SETS = 2
"""How many data sets `shared_data` keeps (least recently used dropped first). A grid's cells are the
product of its axes in the order written (`ica.spec.grid.grid_cells`), so cells with the same data are
consecutive when the data axis comes first, as in the Figs. 4-6 grids (specs/fig6-resnet.json: 3 data sets
x 3 latent sizes): the pre-flight check of every cell then loads each data set once, and the runs that
follow once more (3 + 3 loads instead of 18; keeping all 3 would save the second 3 but hold MNIST, CIFAR10
and SVHN, about 2.2 GB as float32, at once). Keeping 2 rather than 1 also loads a two-valued data axis
written *after* another axis (e.g. ``"data.standardize": [false, true]``) only twice in all rather than
once per cell, at the cost of one data set held beside the one a run trains on."""


class _DataCache:
    """The most recently used data sets, keyed by registry and canonical data options."""

    def __init__(self, keep: int):
        self.keep = keep
        self.held: OrderedDict[tuple[int, str], tuple[Registry, DataSplits]] = OrderedDict()

    def get(self, key: str, reg: Registry, build: Callable[[], DataSplits]) -> DataSplits:
        # The registry object is held with its entry, so its id cannot be reused while the entry lives.
        full_key = (id(reg), key)
        if full_key in self.held:
            self.held.move_to_end(full_key)
            return self.held[full_key][1]
        while self.held and len(self.held) >= self.keep:  # make room first: at most `keep` data sets alive
            self.held.popitem(last=False)
        data = build()
        if self.keep > 0:
            self.held[full_key] = (reg, data)
        return data


_SHARED: ContextVar[_DataCache | None] = ContextVar("ica_shared_data", default=None)


def data_key(options: Any) -> str:
    """Every data option (name and ``standardize`` included) as canonical JSON: equal keys, equal data."""
    return json.dumps(options.model_dump(mode="json"), sort_keys=True)


@contextmanager
def shared_data(keep: int = SHARED_DATA_SETS) -> Iterator[None]:
    """Within the block, `prepare_data` builds each distinct data spec once and hands the same DataSplits
    to every caller (a grid's pre-flight check and its runs; cells that differ only in their models).

    Callers must treat the shared splits as read-only (nothing in `ica` writes into them). A nested
    block uses the outer one's cache; leaving the outermost block drops every kept data set.
    """
    if _SHARED.get() is not None:
        yield
        return
    token = _SHARED.set(_DataCache(keep))
    try:
        yield
    finally:
        _SHARED.reset(token)


def current_cache() -> _DataCache | None:
    """The cache of the innermost `shared_data` block, or None outside every block."""
    return _SHARED.get()
