"""Whether a path lies inside a run or grid directory, found by what is on disk (spec.json or grid.json with
a ``spec_hash``, in the path's folder or any above it). A run directory's files are its record: the outputs
of ``ica report``, ``ica schema -o`` and ``ica encode`` never replace one (a report only its own)."""

from __future__ import annotations

import json
from pathlib import Path


def enclosing_run_directory(path: Path) -> Path | None:
    """The run or grid directory ``path`` would be written into (its folder or any above it), or None."""
    return next((a for a in _ancestors(path.parent) if _is_run_directory(a)), None)


def _ancestors(folder: Path) -> list[Path]:
    """``folder`` and every folder above it (as resolved: a link to a run directory is still inside it)."""
    try:
        resolved = folder.resolve()
    except OSError:
        return []
    return [resolved, *resolved.parents]


def _is_run_directory(folder: Path) -> bool:
    """A run's directory (spec.json with a spec_hash, as `ica.running.claims.claim_directory` writes) or a grid's."""
    for name in ("spec.json", "grid.json"):
        file = folder / name
        try:
            if not file.is_file() or file.stat().st_size > 64 * 2**20:
                continue
            data = json.loads(file.read_bytes())
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and "spec_hash" in data:
            return True
    return False
