"""Reading the JSON files of a run directory back: strict JSON, checked by a schema, one error naming the file.

`read_json_file` reads JSON as ica writes it (UTF-8, no duplicate keys, no NaN or Infinity), `checked` validates
it by its record in `ica.rundir.schemas` and `read_checked` does both; the ``read_*`` functions are the readers of
``result.json``, ``spec.json``, the summaries and ``grid.json`` that status, results and report use, each giving
the file's record (whose `plain` is the file's JSON object, keys unknown to it included). Every failure is a
`RunFileError` with the file's advice (`ica.rundir.damage`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Type, TypeVar

from pydantic import BaseModel, ValidationError

from ica.errors import IcaError
from ica.rundir.damage import (
    GRID_ADVICE,
    PREPROCESSING_ADVICE,
    RESULT_ADVICE,
    SPEC_ADVICE,
    SUMMARY_ADVICE,
    read_bytes,
    damaged,
)
from ica.rundir.schemas import (
    PREPROCESSING_FORMAT,
    CellSummary,
    GridFile,
    PreprocessingFile,
    ResultFile,
    RunSpecFile,
    RunSummary,
)


class _Refused(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise _Refused(f"the key {key!r} appears twice")
        seen[key] = value
    return seen


def _no_constant(name: str) -> Any:
    raise _Refused(f"it holds {name}, which is not JSON (ica writes no such value)")


def parse_json(text: str, *, constants: bool = False) -> Any:
    """JSON as ``ica`` writes it: no duplicate keys, and no NaN or Infinity unless ``constants``."""
    if constants:
        return json.loads(text, object_pairs_hook=_no_duplicates)
    return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)


def read_json_file(path: Path, advice: str) -> Any:
    """A JSON file's value, or a `RunFileError` naming the file: unreadable, not UTF-8, not JSON."""
    return json_of_bytes(read_bytes(path, advice), path, advice)


def json_of_bytes(raw: bytes, path: Path, advice: str) -> Any:
    """The JSON value of ``raw``, read from ``path`` (for a reader that also digests those very bytes)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise damaged(path, f"it is not UTF-8 text (byte {exc.start})", advice) from None
    try:
        return parse_json(text)
    except _Refused as exc:
        raise damaged(path, str(exc), advice) from None
    except json.JSONDecodeError as exc:
        raise damaged(path, f"it is not valid JSON ({exc.msg}, line {exc.lineno} column {exc.colno})", advice) from None
    except (ValueError, RecursionError) as exc:  # an integer of 5000 digits, nesting 100,000 deep
        raise damaged(path, f"it is not JSON ica wrote ({type(exc).__name__}: {exc})", advice) from None


def validation_problem(exc: ValidationError) -> str:
    """The first problem pydantic found, as 'field: what is wrong (got value)'."""
    err = exc.errors(include_url=False)[0]
    field = ".".join(str(p) for p in err["loc"])
    message = err["msg"]
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    got = repr(err.get("input"))
    got = got if len(got) <= 60 else got[:57] + "..."
    shown = f"{message} (got {got})" if err["type"] not in ("missing", "value_error") else message
    return f"{field}: {shown}" if field else shown


M = TypeVar("M", bound=BaseModel)


def checked(model: Type[M], data: Any, path: Path, advice: str) -> M:
    """``data`` (read from ``path``) validated by ``model``, or a `RunFileError` naming the file and field."""
    if not isinstance(data, dict):
        raise damaged(path, f"it holds a JSON {json_kind(data)}, not an object", advice)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise damaged(path, validation_problem(exc), advice) from None


def json_kind(value: Any) -> str:
    return {list: "array", str: "string", bool: "boolean", int: "number", float: "number", type(None): "null"}.get(
        type(value), type(value).__name__
    )


def read_checked(path: Path, model: Type[M], advice: str) -> M:
    """The file validated by its record ``model``."""
    return checked(model, read_json_file(path, advice), path, advice)


def seed_of_directory(path: Path) -> int | None:
    """The seed a ``seeds/<seed>/...`` file belongs to, from its directory's name."""
    name = path.parent.name
    return int(name) if name.isascii() and name.isdigit() and path.parent.parent.name == "seeds" else None


def read_result(path: Path) -> ResultFile:
    """A seed's ``result.json``; its ``seed`` must be the seed of its directory."""
    result = read_checked(path, ResultFile, RESULT_ADVICE)
    expected = seed_of_directory(path)
    if expected is not None and result.seed != expected:
        raise damaged(
            path, f"it is the result of seed {result.seed}, but lies in seed {expected}'s directory", RESULT_ADVICE
        )
    return result


def read_run_spec(path: Path, raw: bytes | None = None) -> RunSpecFile:
    """A run's ``spec.json`` (from ``raw``, its bytes, where the caller has read them already)."""
    if raw is None:
        return read_checked(path, RunSpecFile, SPEC_ADVICE)
    return checked(RunSpecFile, json_of_bytes(raw, path, SPEC_ADVICE), path, SPEC_ADVICE)


def read_preprocessing(path: Path, raw: bytes | None = None) -> PreprocessingFile:
    """A run's ``preprocessing.json`` (from ``raw``, its bytes, where the caller has read them already); one
    written in another layout (by another version of ica) is refused as such, not as damage."""
    data = read_json_file(path, PREPROCESSING_ADVICE) if raw is None else json_of_bytes(raw, path, PREPROCESSING_ADVICE)
    if isinstance(data, dict) and data.get("format") != PREPROCESSING_FORMAT:
        raise IcaError(
            f"was written by a version of ica this one cannot read (format {data.get('format')!r}, this "
            f"version reads {PREPROCESSING_FORMAT}); load the run with the ica it was trained with",
            where=str(path),
        )
    return checked(PreprocessingFile, data, path, PREPROCESSING_ADVICE)


def read_run_summary(path: Path) -> RunSummary:
    return read_checked(path, RunSummary, SUMMARY_ADVICE)


def read_cell_summary(path: Path) -> CellSummary:
    return read_checked(path, CellSummary, SUMMARY_ADVICE)


def read_grid(directory: Path) -> GridFile:
    """``directory/grid.json``, every cell's ``dir`` a sub-directory of the grid (following symlinks), and with
    data draws (``draw_axis``) every cell's data seed on that axis."""
    path = directory / "grid.json"
    grid = read_checked(path, GridFile, GRID_ADVICE)
    root = directory.resolve()
    seen: dict[str, int] = {}
    for i, cell in enumerate(grid.cells):
        target = (directory / cell.dir).resolve()
        if target.parent != root:
            raise damaged(
                path, f"cells.{i}.dir: {cell.dir!r} leads outside the grid's directory (to {target})", GRID_ADVICE
            )
        if cell.dir in seen:
            raise damaged(
                path, f"cells.{i}.dir: cell {seen[cell.dir]} has the same directory {cell.dir!r}", GRID_ADVICE
            )
        seen[cell.dir] = i
        if grid.draw_axis is not None and not isinstance(cell.settings.get(grid.draw_axis), int):
            raise damaged(path, f"cells.{i}.settings: no data seed on the draw axis {grid.draw_axis!r}", GRID_ADVICE)
    return grid
