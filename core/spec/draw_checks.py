"""Checking ``data_draws`` as a spec is validated (`ica.spec.draws` says what draws are): the count or list,
and whether the data set and the grid leave the data seed to the draws."""

from __future__ import annotations

import math
from typing import Any

from ica.spec.limits import MAX_DRAWS, MAX_GRID_CELLS, MAX_SEED, AtEntry, axis_paths

DRAW_AXIS = "data.data_seed"
"""The option each draw sets: the grid axis the draws form."""

SETS_DRAW = frozenset({DRAW_AXIS, "data.*"})
"""Grid paths that would set the data seed themselves, so a spec with draws may not have them."""


def check_data_draws(draws: int | list[int] | None, data: Any, grid: dict[str, list[Any]] | None) -> Any:
    """``data_draws`` as written, or a ValueError (an `AtEntry` for one entry of a list) saying what is wrong.

    ``data`` is the spec's validated data set and ``grid`` its validated grid, each None where it failed.
    """
    if draws is None:
        return None
    if isinstance(draws, int):
        if draws < 1:
            raise ValueError("a count of data draws must be at least 1")
        if draws > MAX_DRAWS:
            raise ValueError(_too_many(draws))
    else:
        _check_list(draws)
    if data is not None and "data_seed" not in type(data).model_fields and "data" not in _paths(grid):
        raise ValueError(no_data_seed(getattr(data, "name", "?")))
    if isinstance(draws, int) and data is not None and getattr(data, "data_seed", 0) + draws - 1 > MAX_SEED:
        raise ValueError(
            f"the last draw's data seed, data.data_seed + data_draws - 1, must be at most {MAX_SEED} (2**63 - 1)"
        )
    for key in grid or {}:
        if _paths({key: []}) & SETS_DRAW:
            raise ValueError(
                f"the grid axis '{key}' sets data.data_seed, which data_draws sets for each draw: give "
                "the data seeds one way, data_draws or that axis"
            )
    cells = math.prod(len(v) for v in (grid or {}).values()) * (draws if isinstance(draws, int) else len(draws))
    if cells > MAX_GRID_CELLS:
        raise ValueError(
            f"{cells:,} cells with the draws; a grid has at most {MAX_GRID_CELLS:,} (each cell is a run "
            "of its own): fewer draws or grid values, or split the study into several specs"
        )
    return draws


def _check_list(draws: list[int]) -> None:
    if not draws:
        raise ValueError("the list of data seeds is empty; give at least one, or a count")
    if len(draws) > MAX_DRAWS:
        raise ValueError(_too_many(len(draws)))
    seen: dict[int, int] = {}
    for i, seed in enumerate(draws):
        if seed < 0:
            raise AtEntry("a data seed must be non-negative", i)
        if seed > MAX_SEED:
            raise AtEntry(f"a data seed is at most {MAX_SEED} (2**63 - 1)", i)
        if seed in seen:
            raise AtEntry(
                f"repeats the data seed {seed} of entry [{seen[seed]}]; the two draws would be the same "
                "data set: give each once",
                i,
            )
        seen[seed] = i


def _too_many(count: int) -> str:
    return (
        f"{count:,} data draws; at most {MAX_DRAWS:,} (each draw is a grid cell of its own, and a grid has at "
        f"most {MAX_GRID_CELLS:,})"
    )


def _paths(grid: dict[str, list[Any]] | None) -> set[str]:
    return {path for key in grid or {} for path in axis_paths(key)}


def no_data_seed(name: str) -> str:
    return (
        f"the data set {name!r} has no data_seed option, so every draw would be the same data; data_draws needs "
        "a data set generated from a seed (such as tcl)"
    )
