"""How the cells of a grid are named: a setting's text in cell names and directories, and the directory names
themselves (plain names inside the grid's, never one of its own files, never two alike)."""

from __future__ import annotations

import json
import re
from typing import Any, Iterable

from ica.errors import SpecError
from ica.spec.experiment import RESERVED_NAMES


def short_labels(paths: list[str]) -> dict[str, str]:
    """The last path segment that is not ``*`` (longer suffixes where two axes would share a label)."""

    def suffix(path: str, n: int) -> str:
        parts = [p for p in path.split(".") if p != "*"] or ["value"]
        return ".".join(parts[-n:])

    labels = {p: suffix(p, 1) for p in paths}
    for n in range(2, 10):
        clashes = {p for p in paths if list(labels.values()).count(labels[p]) > 1}
        if not clashes:
            break
        labels.update({p: suffix(p, n) for p in clashes})
    return labels


def describe(value: Any) -> str:
    """A short readable form of a grid value: scalars as written, components by name, a set of labelled
    components (a grid's ``models``) by its labels joined with '+'."""
    if isinstance(value, dict):
        if "name" not in value and value and all(isinstance(v, dict) and "name" in v for v in value.values()):
            return "+".join(value)
        return str(value.get("name", json.dumps(value, sort_keys=True)))
    if isinstance(value, (list, tuple)):
        return ",".join(describe(v) for v in value)
    return json.dumps(value) if isinstance(value, str) and not value else str(value)


def canonical(value: Any) -> str:
    """One text per JSON value (keys sorted), to tell grid values apart and find them again."""
    return json.dumps(value, sort_keys=True)


def value_texts(values: list[Any]) -> dict[str, str]:
    """`canonical` value -> its text in cell names: `describe`'s, unless distinct values share it.

    Components (or lists) that share a text get the options in which they differ, nested keys dotted, in
    sorted order, each shown where the value sets it: ``gaussian(learn_scale=True,scale=1.0)``. Scalars that
    share a text (``1`` and ``"1"``) are shown as JSON. A value unique along its axis keeps `describe`'s text,
    so the names (and directories) of grids whose values differ by name are those earlier versions gave.
    """
    groups: dict[str, dict[str, Any]] = {}
    for value in values:
        groups.setdefault(describe(value), {})[canonical(value)] = value
    texts: dict[str, str] = {}
    for text, members in groups.items():
        if len(members) == 1:
            texts.update(dict.fromkeys(members, text))
            continue
        options = {key: flat_options(v) for key, v in members.items()}
        differing = sorted(
            {
                k
                for o in options.values()
                for k in o
                if len({canonical(p[k]) if k in p else None for p in options.values()}) > 1
            }
        )
        for key, value in members.items():
            if not isinstance(value, (dict, list)):
                texts[key] = json.dumps(value)
                continue
            shown = [f"{k}={leaf_text(options[key][k])}" for k in differing if k in options[key]]
            texts[key] = f"{text}({','.join(shown)})" if shown else text
    return texts


def directory_text(text: str, value: Any) -> str:
    """A value's text for its cell's directory: the name's, its options after a '-' with no closing bracket
    (``gaussian-scale=0.1``, not ``gaussian-scale=0.1-``); `describe`'s text unchanged, as before."""
    plain = describe(value)
    return text[:-1] if text.startswith(f"{plain}(") and text.endswith(")") else text


def flat_options(value: Any, prefix: str = "") -> dict[str, Any]:
    """A component's options as dotted paths (``encoder.hidden``); a list's entries by index (``0.scale``)."""
    items: Iterable[tuple[Any, Any]]
    if isinstance(value, dict) and value:
        items = value.items()
    elif isinstance(value, list) and value and prefix == "":
        items = ((str(i), v) for i, v in enumerate(value))
    else:
        return {prefix[:-1]: value} if prefix else {}
    out: dict[str, Any] = {}
    for key, v in items:
        out.update(flat_options(v, f"{prefix}{key}."))
    return out


def leaf_text(value: Any) -> str:
    """An option's value in a cell name: a scalar as `describe` shows it, anything else as compact JSON."""
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    return describe(value)


MAX_DIRECTORY = 100
"""The longest cell directory name (file systems allow 255 bytes; paths on clusters are long already)."""

RESERVED = RESERVED_NAMES
"""Names the grid's own directory uses for its files (the same as a run's): no cell may take one."""


def safe_name(text: str) -> str:
    """A plain directory name inside the grid's: letters, digits and ``_.,=-`` only, never only dots, never
    one of the grid's own names, at most `MAX_DIRECTORY` characters."""
    name = re.sub(r"[^A-Za-z0-9_.,=-]+", "-", text).strip("-")[:MAX_DIRECTORY].strip("-")
    if not name.strip("."):
        return "cell"
    return f"{name[: MAX_DIRECTORY - 5]}-cell" if name.lower() in RESERVED else name


def unique(name: str, taken: set[str]) -> str:
    """``name``, or ``name-2``, ``name-3``, ... (shortened to stay within `MAX_DIRECTORY`) if taken."""
    candidate, i = name, 2
    while candidate in taken:
        suffix = f"-{i}"
        candidate, i = f"{name[: MAX_DIRECTORY - len(suffix)]}{suffix}", i + 1
    taken.add(candidate)
    return candidate


def check_cell_directory(name: str) -> None:
    """A cell's directory must be a plain name inside the grid's (never a path, '..' or absolute)."""
    if (
        not isinstance(name, str)
        or not name.strip(".")
        or len(name) > MAX_DIRECTORY
        or name != safe_name(name)
        or name.lower() in RESERVED
    ):
        raise SpecError(f"grid cell directory {name!r} is not a plain folder name inside the grid", where="grid")
