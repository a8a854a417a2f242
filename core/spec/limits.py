"""How large a spec may be, and what it may not repeat: bounds on the counts that drive loops and allocations,
and refusals of entries given twice, all checked when a spec is validated, before anything is built, each
naming the field.
"""

from __future__ import annotations

import json
import math
from typing import Any

MAX_SEEDS = 10_000
"""Seeds per spec: each seed is one trained model with its own files (a directory, checkpoints, latents),
so a count far beyond any study is a typo, and refused before a list of that many is built."""

MAX_SEED = 2**63 - 1
"""A seed names a directory and feeds numpy's SeedSequence; larger values are refused."""

MAX_GRID_CELLS = 1_000
"""Cells per grid (the product of its axes' lengths, counted before any cell is made): each cell is a run of its
own, validated one by one before anything trains (10,000 cells kept `ica validate` silent for 150 s), so a grid
beyond this is an axis given far more values than meant; split a larger study into several specs."""

MAX_DRAWS = MAX_GRID_CELLS
"""Data draws per spec (``data_draws``): each draw is a grid cell of its own (`ica.spec.draws`), so a count
the grid's bound refuses anyway is refused as such, naming ``data_draws``, before a list of that many is built."""

MAX_STEPS = 10**9
"""Optimisation steps per seed, however given (``steps``, or ``epochs`` passes): the paper's longest runs take
70,000, and 10^9 steps of even the smallest model run for weeks. The other counts that drive loops or
allocations (``batch_size``, ``log_every``, ``checkpoint_every``, the plateau's ``interval``) share the bound,
which also keeps every one of them far inside the 64-bit integers tensors and checkpoints hold."""

MAX_CHECKPOINTS_KEPT = 100
"""Checkpoints kept per seed: each is a full copy of the model and its optimiser, listed on every save."""

MAX_RETRIES = 100
"""Times a diverged seed is trained again: each retry is a whole training run of its own."""


class AtEntry(ValueError):
    """A validator's complaint about one entry of the value it checks: ``loc`` (keys and list indices below the
    field) lets the error name that entry, ``evaluation.metrics[1]`` rather than ``evaluation.metrics``."""

    def __init__(self, message: str, *loc: str | int):
        super().__init__(message)
        self.loc = loc


def too_many_seeds(count: int) -> str:
    return (
        f"{count:,} seeds; at most {MAX_SEEDS:,} per spec (each seed is a separately trained model with its "
        "own files; split a larger study into several specs)"
    )


def check_seeds(seeds: int | list[int]) -> int | list[int]:
    """A seed count from 1 to `MAX_SEEDS`, or a list of at most that many distinct seeds in [0, `MAX_SEED`]."""
    if isinstance(seeds, int):
        if seeds < 1:
            raise ValueError("a seed count must be at least 1")
        if seeds > MAX_SEEDS:
            raise ValueError(too_many_seeds(seeds))
        return seeds
    if not seeds:
        raise ValueError("the list of seeds is empty")
    if len(seeds) > MAX_SEEDS:
        raise ValueError(too_many_seeds(len(seeds)))
    if any(s < 0 for s in seeds):
        raise ValueError("seeds must be non-negative")
    if any(s > MAX_SEED for s in seeds):
        raise ValueError(f"a seed is at most {MAX_SEED} (2**63 - 1); got {max(seeds)}")
    if len(set(seeds)) != len(seeds):
        dup = sorted({s for s in seeds if seeds.count(s) > 1})
        raise ValueError(f"seeds must be distinct; repeated: {dup}")
    return seeds


def check_distinct_metrics(metrics: list[Any] | None) -> list[Any] | None:
    """Each metric at most once: its records are named after the metric (``mcc``, ``mcc_fastica``), never after
    its options, so a second entry, alike or not, would add its values to the first's in one summary (a
    doubled n, quartiles of repeated values)."""
    first: dict[Any, tuple[int, dict[str, Any]]] = {}
    for i, entry in enumerate(metrics or []):
        options = entry if isinstance(entry, dict) else entry.model_dump()  # a dict where no metric is registered
        name = options.get("name")
        if name not in first:
            first[name] = (i, options)
            continue
        j, earlier = first[name]
        if earlier == options:
            raise AtEntry(
                f"repeats entry [{j}] ({name!r}); a metric listed twice would count every seed twice in "
                "its summary: list it once",
                i,
            )
        raise AtEntry(
            f"{name!r} is already entry [{j}], with other options; a metric's results are recorded under "
            f"its own name whatever its options, so both would be mixed in one summary: list {name!r} "
            "once, with the options you want",
            i,
        )
    return metrics


def check_distinct_values(key: str, values: list[Any]) -> None:
    """No value twice on one grid axis: the two cells would be the same run, trained twice."""
    seen: dict[str, int] = {}
    for i, value in enumerate(values):
        text = json.dumps(value, sort_keys=True)
        if text in seen:
            raise AtEntry(
                f"repeats the value {text if len(text) <= 60 else text[:57] + '...'} of entry "
                f"[{seen[text]}]; the two cells would be the same run: give each value once",
                key,
                i,
            )
        seen[text] = i


def check_grid_size(grid: dict[str, list[Any]] | None) -> dict[str, list[Any]] | None:
    """At most `MAX_GRID_CELLS` cells, counted from the axes' lengths before any cell is made."""
    cells = math.prod(len(values) for values in (grid or {}).values())
    if grid and cells > MAX_GRID_CELLS:
        lengths = " x ".join(str(len(values)) for values in grid.values())
        raise ValueError(
            f"{lengths} values make {cells:,} cells; a grid has at most {MAX_GRID_CELLS:,} (each cell "
            "is a run of its own, checked before any trains): split it into several specs"
        )
    return grid


def axis_paths(key: str) -> list[str]:
    """The option paths a grid axis sets: one, or several for a linked axis ('a.b, c.d')."""
    return [p.strip() for p in key.split(",")]
