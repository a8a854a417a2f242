"""``index.json``: a listing of the runs under a directory that can always be rebuilt.

The run directories are the only source of truth, and `write_index` writes a convenience summary of them
that nobody needs to read (its record: `ica.rundir.schemas.IndexFile`). The index is only ever rewritten whole
and atomically (`ica.rundir.record.write_record`), never appended to, so machines sharing a file system can all
rewrite it: the last complete write wins and readers never see half of one.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from ica.errors import IcaError
from ica.reporting.finder import find_runs
from ica.reporting.rundirs import RunRecord
from ica.rundir.layout import RunLayout
from ica.rundir.record import write_record
from ica.rundir.schemas import IndexFile

INDEX_NAME = "index.json"
INDEX_FORMAT = 1


def index_json(root: Path, records: list[RunRecord]) -> dict[str, Any]:
    """What ``index.json`` holds: each run's status and the paths of its files, relative to ``root``."""
    root = Path(root)

    def rel(path: Path | None) -> str | None:
        if path is None:
            return None
        try:
            return str(path.resolve().relative_to(root.resolve())) or "."
        except ValueError:
            return str(path.resolve())

    runs = []
    for record in records:
        layout = RunLayout(record.path)
        runs.append(
            {
                "dir": rel(record.path),
                "name": (record.spec or {}).get("name"),
                "spec_hash": (record.spec or {}).get("spec_hash"),
                "status": record.status,
                "spec": rel(layout.spec) if record.spec is not None else None,
                "summary": rel(layout.summary) if record.finished else None,
                "grid": rel(record.grid / "grid.json") if record.grid else None,
                "settings": record.settings,
                "models": {
                    c.label: {
                        "model": c.model,
                        "status": c.status,
                        "summary": rel(c.summary_path),
                        "seeds": {str(s): state for s, state in c.states.items()},
                    }
                    for c in record.cells
                },
            }
        )
    return {
        "format": INDEX_FORMAT,
        "about": "a convenience listing rebuilt from the run directories (the source of truth) by "
        "`ica results`; it is rewritten whole, never edited",
        "written": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "root": str(root.resolve()),
        "runs": runs,
    }


def write_index(root: Path, records: list[RunRecord] | None = None) -> dict[str, Any]:
    """Rewrite ``root/index.json`` from the runs under ``root`` (scanned again unless given), atomically.

    Rebuilding is calling it again; an old, stale or corrupt index.json is never read, only replaced.
    """
    root = Path(root)
    if records is None:
        records = find_runs([root])
    index = index_json(root, records)
    check_replaceable(root / INDEX_NAME)
    write_record(root / INDEX_NAME, IndexFile(**index))
    return index


def check_replaceable(path: Path) -> None:
    """Only an index is replaced: a user's own ``index.json`` (JSON without an index's keys) or a link never is.
    A file that is not JSON at all is taken for a damaged index and rebuilt."""
    if path.is_symlink():
        raise IcaError("is a symbolic link, not an index written by ica results; not replacing it", where=str(path))
    try:
        data = json.loads(path.read_bytes()) if path.stat().st_size < 64 * 2**20 else {}
    except (OSError, ValueError):  # none there (or unreadable: the write says so)
        return
    if not (isinstance(data, dict) and {"format", "about", "runs"} <= data.keys()):
        raise IcaError(
            "is not an index written by ica results; not replacing it (remove it, or give --no-index)", where=str(path)
        )
