"""Grids: one spec that names lists of values for some options, expanded into one run per combination.

``"grid": {"data.samples_per_segment": [100, 1000], "models.*.latent_dim": [3, 5]}`` makes four cells.
A key is a dotted path into the spec (``*`` matches every key at its level, e.g. every model label); a
value may be anything the option takes, a whole component included (``"models.vade.prior": [{"name":
"gmm"}, {"name": "rademacher"}]``, ``"data": [{"name": "mnist"}, {"name": "cifar10"}]``). The spec outside
``grid`` must be valid on its own; each cell replaces the named options and is validated again, and an
error names the cell. Cells are the product of the axes, in the order written; each runs as an ordinary
run in a sub-directory named after its settings. A grid has at most `ica.spec.limits.MAX_GRID_CELLS` cells,
counted from its axes' lengths before any is made, and no two cells alike: a value given twice on one axis,
or two values that validate to the same run (``1`` and ``1.0``, a default spelled out), is refused.

Options that must change together form one *linked* axis: paths joined by commas, each value a list with
one entry per path, e.g. ``"data, models.vade.prior.components": [[{"name": "mnist"}, 40],
[{"name": "cifar10"}, 100]]`` (Figs. 4-6 use 40 components for MNIST and 100 for the others).

A cell's name shows a component by its name alone, unless two values of its axis share that name: then
the options that tell them apart follow it, ``likelihood=gaussian(scale=0.1)`` beside
``likelihood=gaussian(scale=1.0)`` (`value_texts`), so that logs, ``ica results`` and reports never show
two cells alike. A grid root written before names said so keeps its recorded directories
(`keep_recorded_directories`).
"""

from __future__ import annotations

import copy
import itertools
import json
from dataclasses import dataclass, replace
from typing import Any

from ica.errors import SpecError
from ica.components.registry import Registry, registry
from ica.spec.draws import check_cell_data, draw_list, draws_record, grid_axes
from ica.spec.load import load_spec, spec_json
from ica.spec.hashing import spec_source
from ica.spec.cell_names import (  # noqa: F401 - names offered here, where grids are
    MAX_DIRECTORY,
    RESERVED,
    canonical,
    check_cell_directory,
    describe,
    directory_text,
    flat_options,
    leaf_text,
    safe_name,
    short_labels,
    unique,
    value_texts,
)
from ica.spec.experiment import ExperimentSpec
from ica.spec.limits import axis_paths
from ica.spec.models import spec_models


@dataclass(frozen=True)
class GridCell:
    """One combination of a grid's values.

    Attributes:
        name: readable, e.g. ``samples_per_segment=100 latent_dim=3``.
        directory: the sub-directory it runs in, e.g. ``samples_per_segment-100_latent_dim-3``.
        settings: axis path -> this cell's value.
        spec: the cell's validated spec (no grid).
    """

    name: str
    directory: str
    settings: dict[str, Any]
    spec: ExperimentSpec


def has_grid(spec: ExperimentSpec) -> bool:
    """Whether the spec runs as cells: it has a grid, or data draws (`ica.spec.draws`), or both."""
    return bool(getattr(spec, "grid", None)) or getattr(spec, "data_draws", None) is not None


def grid_cells(spec: ExperimentSpec, reg: Registry | None = None) -> list[GridCell]:
    """Every cell of a validated spec's grid, each validated (a SpecError names the first bad cell)."""
    reg = reg or registry()
    axes: dict[str, list[Any]] = grid_axes(spec)  # the draws, if any, the innermost axis
    drawn = draw_list(spec) is not None
    base = spec_source(spec)
    base.pop("grid", None)
    base.pop("data_draws", None)
    labels = short_labels([p for key in axes for p in axis_paths(key)])
    texts = {path: value_texts(values) for key, axis in axes.items() for path, values in axis_values(key, axis).items()}
    cells: list[GridCell] = []
    directories: set[str] = set()
    runs: dict[str, str] = {}
    for values in itertools.product(*axes.values()):
        settings = {}
        for key, value in zip(axes, values):
            settings.update(linked_settings(key, value))
        raw = copy.deepcopy(base)
        for path, value in settings.items():
            set_path(raw, path, copy.deepcopy(value))
        shown = {p: texts[p][canonical(v)] for p, v in settings.items()}
        name = " ".join(f"{labels[p]}={text}" for p, text in shown.items())
        folder = "_".join(f"{labels[p]}-{directory_text(shown[p], settings[p])}" for p in settings)
        directory = unique(safe_name(folder), directories)
        if spec.name:
            raw["name"] = f"{spec.name} {name}"
        if drawn:
            check_cell_data(name, settings, raw.get("data"), spec_models(reg).tagged)
        try:
            validated = load_spec(raw, reg)
        except SpecError as exc:
            raise SpecError(f"in grid cell '{name}': {exc.message}", where=exc.where) from None
        same = runs.setdefault(run_key(validated), name)
        if same != name:
            raise SpecError(
                f"grid cells '{same}' and '{name}' are the same run once defaults are filled in (their "
                "values differ only in how they are written, such as 1 and 1.0, or a default given "
                "explicitly), so it would be trained twice; give each value once",
                where="grid",
            )
        cells.append(GridCell(name, directory, settings, validated))
    return cells


def run_key(cell_spec: ExperimentSpec) -> str:
    """What a cell runs: its validated spec, defaults filled in, without the name that tells cells apart."""
    body = spec_json(cell_spec)
    body.pop("name", None)
    return canonical(body)


def linked_settings(key: str, value: Any) -> dict[str, Any]:
    """path -> value for one value of an axis; a linked axis takes one entry per path."""
    paths = axis_paths(key)
    if len(paths) == 1:
        return {paths[0]: value}
    if not isinstance(value, list) or len(value) != len(paths):
        raise SpecError(
            f"each value of a linked axis must be a list of {len(paths)} entries, one per path; "
            f"got {json.dumps(value)[:80]}",
            where=f"grid.{key}",
        )
    return dict(zip(paths, value))


def axis_values(key: str, values: list[Any]) -> dict[str, list[Any]]:
    """path -> the values one axis gives it, in order (a linked axis: each of its paths)."""
    per_path: dict[str, list[Any]] = {p: [] for p in axis_paths(key)}
    for value in values:
        for path, v in linked_settings(key, value).items():
            per_path[path].append(v)
    return per_path


def set_path(data: dict[str, Any], path: str, value: Any) -> None:
    """Set ``value`` at a dotted ``path`` of the spec; ``*`` stands for every key at its level."""
    parts = path.split(".")
    targets = [data]
    for depth, part in enumerate(parts[:-1]):
        nxt: list[dict[str, Any]] = []
        for node in targets:
            if part == "*":
                nxt.extend(v for v in node.values() if isinstance(v, dict))
            elif isinstance(node.get(part), dict):
                nxt.append(node[part])
            else:
                where = ".".join(parts[: depth + 1])
                raise SpecError(
                    f"'{where}' is not a section of the spec, so '{path}' cannot be set", where=f"grid.{path}"
                )
        targets = nxt
    for node in targets:
        if parts[-1] == "*":
            for key in node:
                node[key] = copy.deepcopy(value)
        else:
            node[parts[-1]] = copy.deepcopy(value)


def keep_recorded_directories(cells: list[GridCell], recorded: list[dict[str, Any]]) -> list[GridCell]:
    """``cells`` in the directories an existing grid.json gives their settings (matched in order).

    Versions before `value_texts` named two components of one axis that share a name alike and told their
    directories apart by a counter (``likelihood-gaussian``, ``likelihood-gaussian-2``); now the directory
    shows the options. Resuming such a grid root must find the seeds already trained, so a cell whose
    settings grid.json records keeps that directory. Cells grid.json does not record keep their own, unless
    that directory is recorded for another cell: then the root cannot be resumed, said by a SpecError.
    """
    recorded_dirs: dict[str, list[str]] = {}
    for entry in recorded:
        recorded_dirs.setdefault(canonical(entry.get("settings") or {}), []).append(entry["dir"])
    kept, matched = [], []
    for cell in cells:
        dirs = recorded_dirs.get(canonical(cell.settings))
        matched.append(bool(dirs))
        kept.append(replace(cell, directory=dirs.pop(0)) if dirs else cell)
    others = {d for dirs in recorded_dirs.values() for d in dirs}  # recorded for settings no cell has now
    taken: dict[str, str] = {}
    for cell, found in zip(kept, matched):
        if cell.directory in taken:
            raise SpecError(
                f"grid cells '{taken[cell.directory]}' and '{cell.name}' would both run in "
                f"'{cell.directory}' (as grid.json records it); choose another --out",
                where="grid",
            )
        if not found and cell.directory in others:
            raise SpecError(
                f"grid cell '{cell.name}' would run in '{cell.directory}', which grid.json records for "
                "another setting; choose another --out",
                where="grid",
            )
        taken[cell.directory] = cell.name
    return kept


def grid_json(spec: ExperimentSpec, cells: list[GridCell], spec_hash: str) -> dict[str, Any]:
    """What ``grid.json`` holds: the axes (the draws' last) and, per cell, its name, directory and settings;
    with draws, which axis holds them and their data seeds (`ica.spec.draws.draws_record`)."""
    for cell in cells:
        check_cell_directory(cell.directory)
    return {
        "name": getattr(spec, "name", None),
        "spec_hash": spec_hash,
        "axes": grid_axes(spec),
        **draws_record(spec),
        "cells": [{"name": c.name, "dir": c.directory, "settings": c.settings} for c in cells],
    }
