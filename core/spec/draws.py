"""Replication over data draws: ``data_draws`` runs a spec on several generated data sets, each with its seeds.

A seed's spread says how an answer varies with the initialisation on *one* data set; ``"data_draws": 5`` (data
seeds ``data.data_seed`` .. ``data.data_seed + 4``) or ``"data_draws": [3, 11]`` (those data seeds) also says how
it varies with the data set drawn. The draws are one more grid axis, `DRAW_AXIS`, after (innermost to) every
axis of ``grid``: a spec with draws and no grid is a grid of one cell per draw, named ``data_seed=3``. Each cell
is an ordinary run; grid.json records which axis holds the draws and their data seeds (`draws_record`), so that
reading back can group a setting's draws.

Refused, each naming ``data_draws``: a data set with no ``data_seed`` option (its draws would all be the same
data), a grid axis that already sets ``data.data_seed``, a grid's ``data`` value that sets it, and more cells
than a grid may have once the draws multiply them.
"""

from __future__ import annotations

import math
from typing import Any

from ica.errors import SpecError
from ica.spec.limits import MAX_DRAWS, MAX_GRID_CELLS, MAX_SEED, AtEntry

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
        raise ValueError(f"the last draw's data seed, data.data_seed + data_draws - 1, must be at most {MAX_SEED} "
                         "(2**63 - 1)")
    for key in grid or {}:
        if _paths({key: []}) & SETS_DRAW:
            raise ValueError(f"the grid axis '{key}' sets data.data_seed, which data_draws sets for each draw: give "
                             "the data seeds one way, data_draws or that axis")
    cells = math.prod(len(v) for v in (grid or {}).values()) * (draws if isinstance(draws, int) else len(draws))
    if cells > MAX_GRID_CELLS:
        raise ValueError(f"{cells:,} cells with the draws; a grid has at most {MAX_GRID_CELLS:,} (each cell is a run "
                         "of its own): fewer draws or grid values, or split the study into several specs")
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
            raise AtEntry(f"repeats the data seed {seed} of entry [{seen[seed]}]; the two draws would be the same "
                          "data set: give each once", i)
        seen[seed] = i


def _too_many(count: int) -> str:
    return (f"{count:,} data draws; at most {MAX_DRAWS:,} (each draw is a grid cell of its own, and a grid has at "
            f"most {MAX_GRID_CELLS:,})")


def _paths(grid: dict[str, list[Any]] | None) -> set[str]:
    return {path.strip() for key in grid or {} for path in key.split(",")}


def no_data_seed(name: str) -> str:
    return (f"the data set {name!r} has no data_seed option, so every draw would be the same data; data_draws needs "
            "a data set generated from a seed (such as tcl)")


def draw_list(spec: Any) -> list[int] | None:
    """The data seeds of a spec's draws, in order; None where it has no ``data_draws`` (one data set)."""
    draws = getattr(spec, "data_draws", None)
    if draws is None:
        return None
    if isinstance(draws, int):
        start = getattr(spec.data, "data_seed", 0)
        return list(range(start, start + draws))
    return list(draws)


def grid_axes(spec: Any) -> dict[str, list[Any]]:
    """The axes a spec's cells are the product of: its grid's in the order written, then the draws'."""
    draws = draw_list(spec)
    return {**(getattr(spec, "grid", None) or {}), **({DRAW_AXIS: draws} if draws is not None else {})}


def draws_record(spec: Any) -> dict[str, Any]:
    """What grid.json adds for draws: ``draw_axis`` (the axis holding them) and ``draws`` (their data seeds);
    nothing for a spec without draws, whose grid.json stays as it was."""
    draws = draw_list(spec)
    return {} if draws is None else {"draw_axis": DRAW_AXIS, "draws": draws}


def check_cell_data(cell: str, settings: dict[str, Any], data: Any, options: dict[tuple[str, str], type]) -> None:
    """A grid cell of a spec with draws: its data must take a data seed, and no grid value may set one.

    ``data`` is the cell's data as written (before validation); ``options`` maps (kind, name) to each component's
    options class (`ica.spec.models.SpecModels.tagged`). An unknown name is left to the cell's validation.
    """
    value = settings.get("data")
    if isinstance(value, dict) and "data_seed" in value:
        raise SpecError(f"in grid cell '{cell}': its data sets data_seed, which data_draws sets for each draw; "
                        "leave data_seed out of the grid's data values", where="data_draws")
    name = data.get("name") if isinstance(data, dict) else None
    found = options.get(("dataset", name)) if isinstance(name, str) else None
    if found is not None and "data_seed" not in found.model_fields:
        raise SpecError(f"in grid cell '{cell}': {no_data_seed(name)}", where="data_draws")
