"""Which directory a run writes to, and making sure it is this spec's (``ica.run``'s claim on it).

A run writes into ``--out`` or ``runs/<spec file stem>``; a name that is no directory of its own is refused.
A plain run claims its directory with spec.json, a grid its root with grid.json, each created exclusively
(`ica.rundir.writing.create_exclusive`), so of two different specs started at once on one new directory
exactly one wins; a directory made from another spec, or of the other kind, is refused, and the claim is
checked again before each write that depends on it. Split out of `ica.running.runner`, which runs the spec.
"""

from __future__ import annotations

from pathlib import Path

from ica.components.registry import Registry, component_of
from ica.components.support import check_likelihood_data
from ica.errors import IcaError, SpecError
from ica.rundir.enclosing import enclosing_run_directory
from ica.rundir.layout import RunLayout
from ica.rundir.writing import create_exclusive, safe_dir
from ica.rundir.damage import GRID_ADVICE, SPEC_ADVICE
from ica.rundir.json_files import read_grid, read_json_file
from ica.rundir.record import write_record
from ica.rundir.names import is_plain_name
from ica.rundir.schemas import GridFile, RunSpecFile
from ica.running.building import build_metrics, build_model, prepare_data
from ica.spec.grid import grid_cells, grid_json, keep_recorded_directories
from ica.spec.hashing import LengthChange, length_change
from ica.spec.load import accepted_hashes, spec_hash, spec_json
from ica.spec.experiment import ExperimentSpec, SpecSource


def claim_grid(spec: ExperimentSpec, root: Path, reg: Registry) -> list:
    """Validate and check every cell (data, models, metrics), then claim ``root`` for this grid (grid.json).

    A root made from a different grid spec, or holding a plain run, is refused; nothing is trained or
    written before all checks pass. grid.json is created exclusively (`ica.rundir.writing.create_exclusive`), so
    of two different grids started at once on one new directory exactly one wins.
    """
    cells = grid_cells(spec, reg)
    digest = spec_hash(spec)
    grid_file = root / GRID_FILE
    check_grid_directory(root, accepted_hashes(spec), spec)
    if grid_file.exists():
        cells = recorded_cells(root, cells)
    for cell in cells:
        safe_dir(root, cell.directory, create=False)  # an existing cell directory must not be a link
    for cell in cells:
        data = prepare_data(cell.spec, reg)
        build_metrics(cell.spec, reg, data)
        for label, options in cell.spec.models.items():
            check_likelihood_data(reg, options, data, component_of(cell.spec.data)[1], f"models.{label}")
            build_model(reg, options, data, cell.spec.seed_list[:1], f"{label} (grid cell '{cell.name}')")
    root.mkdir(parents=True, exist_ok=True)
    if create_exclusive(
        grid_file, GridFile.model_validate({**grid_json(spec, cells, digest), "spec": spec_json(spec)}).json_bytes()
    ):
        if (root / "spec.json").exists():  # a plain run claimed it at the same moment: it keeps it
            grid_file.unlink()
            raise _plain_run_there(root)
    else:
        check_grid_directory(root, accepted_hashes(spec), spec)  # claimed first by another grid: only the same spec
        cells = recorded_cells(root, cells)
    return cells


def recorded_cells(root: Path, cells: list) -> list:
    """A grid root made before: ``cells`` in the directories its grid.json records for their settings, so that
    a root an earlier version made (which told two same-named components apart by a counter, ``-2``) resumes
    its trained seeds (`ica.spec.grid.keep_recorded_directories`). grid.json's cell names are brought up to
    date (atomically, and only where they changed), so that results and reports show the cells apart."""
    grid = read_grid(root)
    recorded = [entry.plain() for entry in grid.cells]
    cells = keep_recorded_directories(cells, recorded)
    names = {cell.directory: cell.name for cell in cells}
    renamed = [{**entry, "name": names.get(entry["dir"], entry.get("name"))} for entry in recorded]
    if renamed != recorded:
        write_record(root / GRID_FILE, GridFile(**{**grid.plain(), "cells": renamed}))
    return cells


GRID_FILE = "grid.json"


def check_grid_directory(root: Path, digests: set[str], spec: ExperimentSpec | None = None) -> None:
    """Refuse a grid's directory that holds a plain run, or a grid of another spec (saying, where ``spec`` differs
    from it only in its length, how to extend it or that it cannot be shortened)."""
    if (root / "spec.json").exists():
        raise _plain_run_there(root)
    grid_file = root / GRID_FILE
    if grid_file.exists() and claimed_hash(grid_file) not in digests:
        raise SpecError(
            f"this directory holds a grid made from a different spec{_length_hint(grid_file, spec)}; choose "
            "another --out or remove it",
            where=str(root),
        )


def _plain_run_there(root: Path) -> IcaError:
    return IcaError(
        "this directory holds a plain run (spec.json), not a grid; a grid spec cannot run into it: "
        "choose another --out",
        where=str(root),
    )


def claimed_hash(path: Path) -> str:
    """The ``spec_hash`` a run's spec.json (or a grid's grid.json) records, read before anything else of it is
    checked; a damaged file is one error naming it (`ica.rundir.json_files.read_json_file`)."""
    return claimed(path)["spec_hash"]


def claimed(path: Path) -> dict:
    """A run's spec.json (or a grid's grid.json) as JSON, with its string ``spec_hash``."""
    data = read_json_file(path, GRID_ADVICE if path.name == GRID_FILE else SPEC_ADVICE)
    if not isinstance(data, dict) or not isinstance(data.get("spec_hash"), str):
        raise IcaError(
            'is damaged: expected a JSON object with a string "spec_hash"; restore it, or remove the '
            "run directory and run again",
            where=str(path),
        )
    return data


def claimed_change(path: Path, spec: ExperimentSpec) -> LengthChange | None:
    """How ``spec`` differs from the spec ``path`` (spec.json, or grid.json's ``spec``) records, if only in its
    length (`ica.spec.hashing.length_change`)."""
    data = claimed(path)
    recorded = data.get("spec") if path.name == GRID_FILE else data
    return length_change(recorded, data["spec_hash"], spec)


def _length_hint(path: Path, spec: ExperimentSpec | None) -> str:
    """What to do where only the length differs: extend a run to more steps, never shorten it."""
    change = None if spec is None else claimed_change(path, spec)
    if change is None:
        return ""
    if change.after < change.before:
        return f" ({change.difference()}): a run can be extended, never shortened"
    return (
        f" ({change.difference()}); to continue its seeds to {change.after} {change.unit}, run it with --extend "
        "(`ica.extend` in Python)"
    )


def run_root(spec: SpecSource, out: str | Path | None) -> Path:
    """The run directory: ``out``, which must name a directory, or ``runs/<spec file stem>``."""
    return default_out(spec) if out is None else check_out(out)


def check_out(out: str | Path) -> Path:
    """Refuse an --out that names no directory of its own: empty, '.', '..', '...' (the current directory or
    one above it would be filled with run files, mixing with whatever is there), or one inside another run's
    directory (its spec.json and summary.json would replace that run's files). A grid's cells are runs in its
    directory, so a grid's own directory may hold runs."""
    text = str(out)
    if not text.strip() or not Path(text).name.strip(".").strip():
        raise IcaError(
            f"must name a run directory, not {text!r} (empty, '.' and '..' would write into an existing folder)",
            where="--out",
        )
    inside = enclosing_run_directory(RunLayout(Path(out)).spec)
    if inside is not None:
        real = Path(out).resolve()
        in_a_grid = inside == real.parent and (inside / GRID_FILE).is_file() and not RunLayout(inside).spec.exists()
        if inside != real and not in_a_grid:
            raise IcaError(
                f"lies inside the run directory {inside}, whose files are that run's record (they would be "
                "overwritten); choose an --out outside it",
                where="--out",
            )
    return Path(out)


def default_out(spec: SpecSource) -> Path:
    """``runs/<spec file stem>``; a stem that is not a plain directory name ('...json' gives '..') is refused."""
    stem = Path(spec).stem if isinstance(spec, (str, Path)) else "run"
    if not is_plain_name(stem):
        raise IcaError(
            f"the spec file's name gives no plain run directory name (runs/{stem}); give --out", where=str(spec)
        )
    return Path("runs") / stem


def check_directory(layout: RunLayout, spec: ExperimentSpec) -> None:
    """Refuse a run directory made from another spec, or a grid's directory (an existing run of this very
    spec is resumed)."""
    if (layout.root / GRID_FILE).exists():
        raise IcaError(
            "this directory holds a grid (grid.json); a plain spec cannot run into it: choose another --out",
            where=str(layout.root),
        )
    if layout.spec.exists() and claimed_hash(layout.spec) not in accepted_hashes(spec):
        raise IcaError(
            f"this run directory was made from a different spec{_length_hint(layout.spec, spec)}; choose another "
            "--out, or delete it",
            where=str(layout.root),
        )


def claim_directory(layout: RunLayout, spec: ExperimentSpec) -> None:
    """Write spec.json, or check that the directory was made from this very spec (to resume it).

    spec.json is created exclusively (`ica.rundir.writing.create_exclusive`): of two different specs started at
    once on one new directory exactly one claims it, and the other is refused here.
    """
    check_directory(layout, spec)  # a grid's directory or another spec's run is refused before anything is made
    if not layout.spec.exists():
        layout.root.mkdir(parents=True, exist_ok=True)
        if create_exclusive(layout.spec, RunSpecFile(**spec_json(spec), spec_hash=spec_hash(spec)).json_bytes()):
            return
    # Claimed earlier, or by another run since the check above: fine only if of this very spec.
    check_directory(layout, spec)


def confirm_claim(layout: RunLayout, spec: ExperimentSpec) -> None:
    """Before each write that depends on the claim (training a model, writing summaries): spec.json must
    still carry this spec's hash, and no grid have claimed the directory meanwhile."""
    if not layout.spec.exists():
        raise IcaError(
            "spec.json was removed while this run was using the directory; run again to start it afresh",
            where=str(layout.root),
        )
    check_directory(layout, spec)
