"""Loading experiment specs, and turning every way they can be wrong into one readable message.

A spec is JSON validated by the pydantic models of ``ica.spec.models``; validated specs are frozen and
never mutated while running. Errors name the field's path as the user wrote it (``models.vade.prior.
components``), what is wrong, and for unknown names the closest registered one.
"""

from __future__ import annotations

import difflib
import json
import math
import os
import re
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from ica.errors import SpecError
from ica.components.registry import Registry, registry
from ica.spec.hashing import (  # noqa: F401 - the names `ica.spec.load` has always offered
    ADDED_FIELDS,
    ANY,
    EARLIER_DEFAULTS,
    accepted_hashes,
    json_digest,
    spec_hash,
    spec_json,
    without_added_fields,
)
from ica.spec.limits import AtEntry
from ica.spec.models import spec_models
from ica.spec.option_names import allowed_options, suggestion

if TYPE_CHECKING:
    from pydantic_core import ErrorDetails  # pydantic's error records, typed


def load_spec(source: str | Path | dict[str, Any] | BaseModel, reg: Registry | None = None) -> Any:
    """Validate a spec given as a path to a JSON file, a dict, or an already validated spec.

    Returns:
        The validated, immutable ``Experiment``.

    Raises:
        SpecError: one message describing every problem found.
    """
    reg = reg or registry()
    if isinstance(source, spec_models(reg).experiment):
        return source
    origin = "spec"
    if isinstance(source, BaseModel):
        data: Any = source.model_dump(by_alias=True, mode="json")
    elif isinstance(source, dict):
        data = source
    else:
        path = Path(source)
        origin = str(path)
        data = read_json(path)
    if not isinstance(data, dict):
        raise SpecError(f"a spec must be a JSON object, not {type(data).__name__}", where=origin)
    data = single_model(plain_json(data, origin))
    try:
        # Strict, and from JSON text: ints are ints and booleans booleans (a float may be written as an int,
        # a tuple as an array), whether the spec came from a file or from Python.
        return spec_models(reg).experiment.model_validate_json(json.dumps(data), strict=True)
    except ValidationError as exc:
        raise SpecError(render_errors(exc, data, spec_models(reg).experiment), where=origin) from None


MAX_SPEC_BYTES = 16 * 2**20
"""Spec files are small; a larger file is refused before it is read (a mistaken path, say a data file)."""

MAX_DEPTH = 64
"""Nesting deeper than any spec needs is refused before it can exhaust the interpreter's stack."""


def read_json(path: Path) -> Any:
    """Parse a JSON spec file, with the line and column of a syntax error in the message.

    Only a regular file is opened (a FIFO or a device would block or never end), and a key given twice in
    one object is an error naming it rather than the last one silently winning.
    """
    try:
        info = path.stat()
    except FileNotFoundError:
        raise SpecError("file not found", where=str(path)) from None
    except (OSError, ValueError) as exc:
        raise SpecError(f"cannot be read ({getattr(exc, 'strerror', None) or exc})", where=str(path)) from None
    if stat.S_ISDIR(info.st_mode):
        raise SpecError("is a directory, not a spec file", where=str(path))
    if not stat.S_ISREG(info.st_mode):
        raise SpecError(
            f"is not a regular file ({_file_kind(info.st_mode)}), so it cannot be a spec file", where=str(path)
        )
    if info.st_size > MAX_SPEC_BYTES:
        raise SpecError(
            f"is {info.st_size:,} bytes; a spec file is at most {MAX_SPEC_BYTES:,} bytes of JSON", where=str(path)
        )
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as f:
            raw = f.read(MAX_SPEC_BYTES + 1)
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"cannot be read ({exc})", where=str(path)) from None
    try:
        return json.loads(text, object_pairs_hook=_Pairs)
    except json.JSONDecodeError as exc:
        raise SpecError(f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}", where=str(path)) from None
    except RecursionError:
        raise SpecError(f"JSON nested too deeply (a spec needs at most {MAX_DEPTH} levels)", where=str(path)) from None


def _file_kind(mode: int) -> str:
    for test, kind in (
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return kind
    return "not a plain file"


class _Pairs(dict):
    """A JSON object as parsed, remembering the keys given more than once (`plain_json` refuses them)."""

    def __init__(self, pairs: list[tuple[str, Any]]):
        super().__init__(pairs)
        seen: set[str] = set()
        self.repeated: list[str] = []
        for k, _ in pairs:
            if k in seen:
                self.repeated.append(k)
            seen.add(k)


def plain_json(data: Any, origin: str = "spec") -> Any:
    """``data`` as plain JSON values (tuples become lists), or a SpecError naming the first value that is not
    one: a repeated key, a non-finite number (JSON has none: Python's ``Infinity``, ``NaN`` and ``1e999``
    are refused), text that is not valid Unicode (a lone surrogate cannot be written as UTF-8), or an
    object of another type."""
    return _plain(data, "", 0, origin)


def _plain(node: Any, path: str, depth: int, origin: str) -> Any:
    where = path or "(top level)"
    if depth > MAX_DEPTH:
        raise SpecError(f"{where}: nested too deeply (a spec needs at most {MAX_DEPTH} levels)", where=origin)
    if isinstance(node, dict):
        repeated = getattr(node, "repeated", None)
        if repeated:
            raise SpecError(
                f"{where}: key {_text(repeated[0])!r} is given twice; each key may appear once in an object",
                where=origin,
            )
        out = {}
        for key, value in node.items():
            if not isinstance(key, str):
                raise SpecError(f"{where}: key {key!r} is not a string", where=origin)
            _check_text(key, f"{path + '.' if path else ''}{_text(key)} (the key)", origin)
            out[key] = _plain(value, f"{path + '.' if path else ''}{key}", depth + 1, origin)
        return out
    if isinstance(node, (list, tuple)):
        return [_plain(v, f"{path}[{i}]", depth + 1, origin) for i, v in enumerate(node)]
    if isinstance(node, str):
        _check_text(node, where, origin)
        return node
    if isinstance(node, float):
        if not math.isfinite(node):
            raise SpecError(
                f"{where}: {node} is not a finite number (JSON numbers are finite; no option takes infinity or NaN)",
                where=origin,
            )
        return node
    if node is None or isinstance(node, (bool, int)):
        return node
    raise SpecError(
        f"{where}: a {type(node).__name__} is not JSON data (give numbers, strings, booleans, null, lists or objects)",
        where=origin,
    )


def _check_text(text: str, where: str, origin: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise SpecError(
            f"{where}: text that is not valid Unicode ({_text(text)!r}: a lone surrogate such "
            "as \\ud800 cannot be written as UTF-8)",
            where=origin,
        ) from None


def _text(text: str) -> str:
    """``text`` with what cannot be written as UTF-8 shown as escapes, for messages."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def single_model(data: dict[str, Any]) -> dict[str, Any]:
    """``"model": {...}`` is short for ``"models": {<its name>: {...}}``."""
    if "model" in data and "models" not in data:
        data = dict(data)
        single = data.pop("model")
        label = single.get("name", "model") if isinstance(single, dict) else "model"
        data["models"] = {str(label): single}
    return data


# ------------------------------------------------------------------------------ error messages
def render_errors(exc: ValidationError, data: Any, model: type[BaseModel] | None = None) -> str:
    """All of pydantic's errors, one line each, with paths as the user wrote them.

    The members of a plain union (``seeds``: a count or a list) each report on the same path; their
    complaints are joined into one line ("should be a valid integer or a valid array").
    """
    found: dict[str, list[str]] = {}
    given: dict[str, str] = {}
    for err in exc.errors(include_url=False):
        cause = (err.get("ctx") or {}).get("error")
        loc = (*err["loc"], *cause.loc) if isinstance(cause, AtEntry) else err["loc"]
        path = user_path(loc, data) or "(top level)"
        message = describe_error(err, model)
        match = re.match(r"^(Input should be .*) \(got (.*)\)$", message)
        if match and path in given and given[path] == match.group(2) and found[path]:
            found[path][-1] = (
                found[path][-1].replace(f" (got {match.group(2)})", "")
                + match.group(1).replace("Input should be", " or", 1)
                + f" (got {match.group(2)})"
            )
            continue
        if match:
            given[path] = match.group(2)
        if message not in found.setdefault(path, []):
            found[path].append(message)
    for path in [p for p, messages in found.items() if all(m.startswith("Input should be") for m in messages)]:
        if any(other.startswith((path + "[", path + ".")) for other in found):
            del found[path]  # a union member the value is not of, beside the member whose errors are below
    lines = [f"{path}: {message}" for path, messages in found.items() for message in messages]
    return lines[0] if len(lines) == 1 else "\n  " + "\n  ".join(lines)


_OFF_DATA = object()
"""`user_path` has walked past what the user wrote (a missing field)."""


def user_path(loc: tuple[Any, ...], data: Any) -> str:
    """Drop the union tags pydantic inserts into ``loc`` by walking the user's own data alongside."""
    parts: list[str] = []
    node = data
    for key in loc:
        if isinstance(node, dict) and isinstance(key, str) and key not in node and node.get("name") == key:
            continue  # the discriminator tag of a union member, not a key the user wrote
        if isinstance(key, str) and key.endswith("]") and "[" in key:
            continue  # pydantic's label for a union member, e.g. 'function-after[...]'
        if isinstance(key, str) and node is not _OFF_DATA and not isinstance(node, dict):
            continue  # a plain union member's label ('int' of `int | list[int]`) below a value the user gave
        if isinstance(key, int):
            parts.append(f"[{key}]")
        else:
            parts.append(("." if parts else "") + str(key))
        if isinstance(node, dict):
            node = node.get(key, _OFF_DATA)
        elif isinstance(node, list) and isinstance(key, int) and key < len(node):
            node = node[key]
        else:
            node = _OFF_DATA
    return "".join(parts)


def describe_error(err: ErrorDetails, model: type[BaseModel] | None = None) -> str:
    """A person's description of one pydantic error (``model``: the validated class, to suggest options)."""
    kind, ctx, given = err["type"], err.get("ctx") or {}, err.get("input")
    if kind == "union_tag_invalid":
        expected = re.findall(r"'([^']*)'", str(ctx.get("expected_tags", "")))
        return unknown_tag(given_tag(err), expected)
    if kind == "union_tag_not_found":
        return "missing 'name': say which component this is"
    if kind == "literal_error" and err["loc"] and err["loc"][-1] == "name":
        expected = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        return unknown_tag(given, expected)
    if kind == "extra_forbidden":
        close = suggestion(err["loc"][-1], allowed_options(model, err["loc"])) if model is not None else None
        if close is not None:
            return f"unknown option; did you mean {close!r}?"
        return "unknown option (not allowed here; check the spelling, or `ica show NAME` for the options)"
    if kind == "missing":
        return "required, but missing"
    message = err["msg"]
    message = re.sub(r"^Value error, ", "", message)
    return f"{message} (got {short(given)})" if given is not None and kind not in {"value_error"} else message


def unknown_tag(tag: Any, expected: list[str]) -> str:
    close = difflib.get_close_matches(str(tag), expected, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"unknown name {tag!r}{hint} (known: {', '.join(expected) or 'none registered'})"


def given_tag(err: ErrorDetails) -> Any:
    given = err.get("input")
    return given.get("name") if isinstance(given, dict) else (err.get("ctx") or {}).get("tag")


def short(value: Any, limit: int = 60) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
