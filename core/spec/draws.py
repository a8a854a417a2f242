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

from typing import Any, Mapping

from pydantic import BaseModel

from ica.errors import SpecError
from ica.spec.draw_checks import DRAW_AXIS, SETS_DRAW, check_data_draws, no_data_seed  # noqa: F401 - offered here
from ica.spec.experiment import ExperimentSpec


def draw_list(spec: ExperimentSpec) -> list[int] | None:
    """The data seeds of a spec's draws, in order; None where it has no ``data_draws`` (one data set)."""
    draws = getattr(spec, "data_draws", None)
    if draws is None:
        return None
    if isinstance(draws, int):
        start = getattr(spec.data, "data_seed", 0)
        return list(range(start, start + draws))
    return list(draws)


def grid_axes(spec: ExperimentSpec) -> dict[str, list[Any]]:
    """The axes a spec's cells are the product of: its grid's in the order written, then the draws'."""
    draws = draw_list(spec)
    return {**(getattr(spec, "grid", None) or {}), **({DRAW_AXIS: draws} if draws is not None else {})}


def draws_record(spec: ExperimentSpec) -> dict[str, Any]:
    """What grid.json adds for draws: ``draw_axis`` (the axis holding them) and ``draws`` (their data seeds);
    nothing for a spec without draws, whose grid.json stays as it was."""
    draws = draw_list(spec)
    return {} if draws is None else {"draw_axis": DRAW_AXIS, "draws": draws}


def check_cell_data(
    cell: str, settings: dict[str, Any], data: Any, options: Mapping[tuple[str, str], type[BaseModel]]
) -> None:
    """A grid cell of a spec with draws: its data must take a data seed, and no grid value may set one.

    ``data`` is the cell's data as written (before validation); ``options`` maps (kind, name) to each component's
    options class (`ica.spec.models.SpecModels.tagged`). An unknown name is left to the cell's validation.
    """
    value = settings.get("data")
    if isinstance(value, dict) and "data_seed" in value:
        raise SpecError(
            f"in grid cell '{cell}': its data sets data_seed, which data_draws sets for each draw; "
            "leave data_seed out of the grid's data values",
            where="data_draws",
        )
    name = data.get("name") if isinstance(data, dict) else None
    if not isinstance(name, str):
        return
    found = options.get(("dataset", name))
    if found is not None and "data_seed" not in found.model_fields:
        raise SpecError(f"in grid cell '{cell}': {no_data_seed(name)}", where="data_draws")
