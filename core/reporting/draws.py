"""Grouping the runs of one setting across data draws, for statistics over draws (then seeds within each).

A spec with ``data_draws`` (`ica.spec.draws`) runs each setting once per generated data set, as grid cells that
differ only on the draw axis (``data.data_seed``). Reading back, each `RunRecord` (`ica.reporting.rundirs`)
carries ``draw_axis`` and ``draw``; `group_draws` gathers the items (runs, or (run, model label) rows) whose
settings are the same but for the draw, and `without_draw` makes that key from settings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Generic, Hashable, Iterable, Mapping, TypeVar

from ica.spec.grid import canonical

if TYPE_CHECKING:
    from ica.reporting.rundirs import CellRecord, RunRecord

T = TypeVar("T")


@dataclass
class DrawGroup(Generic[T]):
    """The items of one setting: ``draws[i]`` is the data seed of ``items[i]`` (None for a run without draws)."""

    key: Hashable
    items: list[T] = field(default_factory=list)
    draws: list[int | None] = field(default_factory=list)


def group_draws(items: Iterable[T], key: Callable[[T], tuple[Hashable, int | None]]) -> list[DrawGroup[T]]:
    """``items`` grouped by the first part of ``key(item)``, each with its draw (the second part).

    Groups come in the order their first item does, and items within a group in their own order. The key must
    tell apart whatever should not be pooled: the model label for rows, the grid's directory where several
    grids are read together (their settings may coincide). A run without draws is a group of its own draw, None.
    """
    groups: dict[Hashable, DrawGroup[T]] = {}
    for item in items:
        setting, draw = key(item)
        group = groups.setdefault(setting, DrawGroup(setting))
        group.items.append(item)
        group.draws.append(draw)
    return list(groups.values())


def without_draw(settings: Mapping[str, Any], draw_axis: str | None) -> str:
    """Grid settings without the draw axis, as one hashable text (values compared as canonical JSON)."""
    return canonical({path: value for path, value in settings.items() if path != draw_axis})


# ------------------------------------------------------------------ run records (`ica results`)
def setting_groups(records: list["RunRecord"]) -> list[DrawGroup["RunRecord"]]:
    """The runs grouped by setting: a grid's runs that differ only in their data draw form one group."""
    return group_draws(
        records,
        lambda r: (
            ((str(r.grid), without_draw(r.settings, r.draw_axis)), r.draw) if r.draw_axis else ((str(r.path),), None)
        ),
    )


def members(group: DrawGroup["RunRecord"], label: str) -> list[tuple[Any, "RunRecord", "CellRecord"]]:
    """(draw, run, that run's cell of ``label``) for each run of the setting that has the label."""
    found = []
    for draw, record in zip(group.draws, group.items):
        cell = next((c for c in record.cells if c.label == label), None)
        if cell is not None:
            found.append((draw, record, cell))
    return found


def labels_of(group: DrawGroup["RunRecord"]) -> list[str]:
    """The model labels of a setting's runs, in first-seen order."""
    return list(dict.fromkeys(c.label for record in group.items for c in record.cells))


def group_name(group: DrawGroup["RunRecord"]) -> str:
    """How a setting is shown: its run, or with draws the first draw's run and how many there are."""
    first = group.items[0]
    return first.shown if len(group.items) == 1 else f"{first.shown} (+{len(group.items) - 1} draws)"
