"""Reading ``metrics.jsonl`` back: each line the trainer appended, checked, and a last line torn by a kill left out.

`ica.training.loop.Trainer.log` appends one JSON line per logged step; a kill in the middle of an append leaves
a prefix of a line, which is tolerated at the end of the file only (`TORN_PREFIX`). Anything else that is not
such a line is a `RunFileError` naming the file and the line. Read when resuming
(`ica.training.loop.truncate_log`) and by the report.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ica.rundir.damage import RunFileError, read_bytes, damaged
from ica.rundir.json_files import json_kind, parse_json, validation_problem
from ica.rundir.schemas import MetricsLine


TORN_PREFIX = b'{"step": '
"""How every line `Trainer.log` appends begins: a kill in the middle of an append leaves a prefix of a line."""


def read_metrics_lines(path: Path, advice: str) -> list[tuple[str, dict[str, Any]]]:
    """Each line of a ``metrics.jsonl`` as (its text, its value).

    The last line may be torn by a kill in the middle of an append (it then has no newline and is a prefix of
    a line `Trainer.log` writes): it is left out, as it always was. Anything else that is not such a line --
    a non-numeric step, binary junk -- is a `RunFileError` naming the file and the line.
    """
    raw = read_bytes(path, advice)
    *complete, tail = raw.split(b"\n")
    lines = []
    for number, line in enumerate(complete, 1):
        if line.strip():
            lines.append(_metrics_line(path, number, line, advice))
    if tail.strip():
        try:
            lines.append(_metrics_line(path, len(complete) + 1, tail, advice))
        except RunFileError:
            if not _torn(tail):
                raise
    return lines


def _torn(tail: bytes) -> bool:
    """A prefix of a line as `Trainer.log` writes it (ASCII JSON starting with the step), cut short."""
    return (
        (tail.startswith(TORN_PREFIX) or TORN_PREFIX.startswith(tail))
        and tail.isascii()
        and all(32 <= b < 127 for b in tail)
    )


def _metrics_line(path: Path, number: int, line: bytes, advice: str) -> tuple[str, dict[str, Any]]:
    where = f"line {number}"
    try:
        text = line.decode("utf-8")
        value = parse_json(text, constants=True)  # the log writes NaN and Infinity as json.dumps does
    except UnicodeDecodeError:
        raise damaged(path, f"{where} is not text", advice) from None
    except (ValueError, RecursionError) as exc:
        raise damaged(path, f"{where} is not a JSON line ica wrote ({str(exc)[:80]})", advice) from None
    if not isinstance(value, dict):
        raise damaged(path, f"{where} holds a JSON {json_kind(value)}, not an object", advice)
    try:
        MetricsLine.model_validate(value)
    except ValidationError as exc:
        raise damaged(path, f"{where}: {validation_problem(exc)}", advice) from None
    return text, value
