"""What a contract check ends in: it holds, it fails (`ContractError`), or it cannot apply (`NotApplicable`).

Kept apart from `ica.testing.checks`, which runs the checks, so that the checks of each kind can raise these
without importing the module that imports them.
"""

from __future__ import annotations

from typing import Any, TypeVar

T = TypeVar("T")


class ContractError(AssertionError):
    """A component breaks its kind's contract; the message names the check and what was wrong."""


class NotApplicable(Exception):
    """A check that cannot apply to this component (it needs files, or options it has no default for)."""


def require(condition: Any, message: str) -> None:
    """`assert` that survives ``python -O``: a failed contract raises `ContractError` with ``message``."""
    if not condition:
        raise ContractError(message)


def required(value: T | None, message: str) -> T:
    """``value``, which the contract says is there: a `ContractError` with ``message`` where it is None."""
    if value is None:
        raise ContractError(message)
    return value
