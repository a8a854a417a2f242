"""How `ica report` names a run's settings and places it in the figures.

A grid's axes (or the spec options that differ between runs side by side) are dotted spec paths; the report
shows them as short ``name=value`` text and gives the first axis a panel of its own when there are two or
more, as the paper's Figs. 4-6 give each data set its own panel (§4).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ica.spec.grid import canonical, describe, value_texts


@dataclass(frozen=True)
class Placement:
    """Where a run goes in the figures: which panel (the first grid axis, when there are two or more, as the
    paper's Figs. 4-6 give each data set its own panel) and which x group (the other axes)."""

    panel: str
    group: str

    @staticmethod
    def of(axes: list[list[str]], settings: dict[str, Any], texts: "AxisTexts | None" = None) -> "Placement":
        panel_axes, x_axes = (axes[:1], axes[1:]) if len(axes) >= 2 else ([], axes)
        panel = " ".join(named(axis, settings, texts) for axis in panel_axes)
        if len(x_axes) == 1 and len(x_axes[0]) == 1:  # the axis name labels the x axis; the value the group
            path = x_axes[0][0]
            return Placement(panel, shown(path, settings.get(path), texts))
        return Placement(panel, "\n".join(named(axis, settings, texts) for axis in x_axes))

    @staticmethod
    def axis_name(axes: list[list[str]]) -> str:
        x_axes = axes[1:] if len(axes) >= 2 else axes
        return ", ".join(short_name(p) for axis in x_axes for p in axis) or "setting"


AxisTexts = dict[str, dict[str, str]]  # a setting's path -> canonical value -> its text


def axis_texts(axes: list[list[str]], every: list[dict[str, Any]]) -> AxisTexts:
    """Each path's value texts over all the runs shown together (`ica.spec.grid.value_texts`): two components
    that differ only in an option (two Gaussian likelihood scales) get distinct texts, as their cells' names do,
    so the figures keep them apart instead of drawing both as 'gaussian'."""
    texts: AxisTexts = {}
    for axis in axes:
        key = ", ".join(axis)
        for i, path in enumerate(axis):
            values = [(s[key][i] if key in s and len(axis) > 1 else s.get(path)) for s in every]
            texts[path] = value_texts(values)
    return texts


def shown(path: str, value: Any, texts: AxisTexts | None = None) -> str:
    """A setting's value as the figures show it: its text along the axis where known, else `describe`'s."""
    return (texts or {}).get(path, {}).get(canonical(value)) or describe(value)


def named(axis: list[str], settings: dict[str, Any], texts: AxisTexts | None = None) -> str:
    """'data=mnist components=40': every path of one (possibly linked) axis with its value in this run."""
    key = ", ".join(axis)
    values = settings[key] if key in settings and len(axis) > 1 else [settings.get(p) for p in axis]
    return " ".join(dict.fromkeys(f"{short_name(p)}={shown(p, v, texts)}" for p, v in zip(axis, values)))


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """``{"data": {"dim": 3}}`` -> ``{"data.dim": 3}``, each path under ``prefix`` (the path of ``tree`` itself):
    nested dicts as dotted paths; anything else, lists and empty dicts included, as a value."""
    if isinstance(tree, dict) and tree:
        flat: dict[str, Any] = {}
        for key, value in tree.items():
            flat.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    return {prefix: tree}


def short_name(path: str) -> str:
    """The last part of a dotted spec path ('models.vade.prior.components' -> 'components'), for labels."""
    parts = [p for p in path.split(".") if p != "*"]
    return parts[-1] if parts else path


def sort_key(value: Any) -> tuple[int, Any]:
    """Numbers in numeric order first, anything else after them in a stable textual order."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (0, value)
    return (1, json.dumps(value, sort_keys=True))
