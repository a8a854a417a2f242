"""`Record`: the base of the model of every JSON file of a run directory, which both writes the file and reads it.

Reading, a record is strict (types as ica writes them, nothing coerced) and keeps the keys it does not declare
(a later version may add some). Writing, it gives back exactly the keys it was given, in the order they were
given (`Record.plain`), so a file does not change by being read and written again, and adding a field to a
file is adding it to its model. `write_record` writes one atomically (`ica.rundir.writing.atomic_write`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, PrivateAttr, model_serializer, model_validator

from ica.rundir.writing import atomic_write, json_bytes


class Record(BaseModel):
    """A JSON object ``ica`` writes into a run directory: strict types, unknown keys kept, keys in given order."""

    model_config = ConfigDict(strict=True, extra="allow")
    _keys: tuple[str, ...] = PrivateAttr(default=())

    @model_validator(mode="wrap")
    @classmethod
    def _remember_order(cls, data: Any, handler: Any) -> Any:
        record = handler(data)
        if isinstance(data, dict):  # keyword arguments arrive as a dict too, in the order written
            record._keys = tuple(data)
        return record

    @model_serializer(mode="wrap")
    def _in_given_order(self, handler: Any) -> Any:
        data = handler(self)
        given = {key: data[key] for key in self._keys if key in data}
        return {**given, **{key: value for key, value in data.items() if key not in given}}

    def plain(self) -> dict[str, Any]:
        """The file's JSON object: the keys given (no default filled in), in the order given, then any added."""
        return self.model_dump(exclude_unset=True)

    def json_bytes(self) -> bytes:
        """The file's bytes, as every JSON file of a run directory is written (`ica.rundir.writing.json_bytes`)."""
        return json_bytes(self.plain())


def write_record(path: Path, record: Record) -> None:
    """Write ``record`` to ``path`` atomically (a crash leaves the old file or the new one, never half of one)."""
    atomic_write(path, record.json_bytes())
