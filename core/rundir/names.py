"""Names of directories inside a run: a model label, a grid cell's ``dir`` and a run directory's default name
each name one directory of its own, never a path out of the run."""

from __future__ import annotations

import os
from typing import Any


def is_plain_name(name: str) -> bool:
    """A name of one directory of its own: not blank, not only dots ('.', '..', and '...', which Windows reads as
    '.'), no separator or NUL, not absolute."""
    return (
        bool(name.strip())
        and bool(name.strip("."))
        and not any(c in name for c in ("/", "\\", "\0"))
        and not os.path.isabs(name)
    )


def plain_name(value: str, what: str) -> str:
    """``value``, a name used as one directory of a run (a model label, a grid cell's ``dir``, a run directory's
    default name), if it is a plain name (`is_plain_name`); a ``ValueError`` naming ``what`` otherwise."""
    if not is_plain_name(value):
        raise ValueError(
            f"{what} {value!r} is not a plain directory name (not blank or only dots, no separators, not absolute)"
        )
    return value


def plain_labels(labels: dict[str, Any]) -> dict[str, Any]:
    """A mapping keyed by model labels (a spec's ``models``, a summary's ``cells``): each a plain name."""
    for label in labels:
        plain_name(label, "model label")
    return labels
