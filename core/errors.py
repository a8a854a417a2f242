"""User-facing errors: each carries one message a person can act on, and the CLI turns it into exit code 2.

Anything else that escapes is a bug in `ica` (or a plugin) and is shown as such.
"""

from __future__ import annotations


class IcaError(Exception):
    """Bad input from the user: a spec, a data file, a run directory. Rendered without a traceback."""

    def __init__(self, message: str, *, where: str | None = None):
        self.where, self.message = where, message
        super().__init__(f"{where}: {message}" if where else message)


class SpecError(IcaError):
    """A spec that does not validate; ``where`` is the path of the offending field."""


class DataError(IcaError):
    """A data set that cannot be loaded or does not fit the spec; ``where`` names the field or file."""


class RegistryError(IcaError):
    """A component that cannot be found or is claimed by two plugins."""


class RunFailed(IcaError):
    """A run that could not finish for a reason outside its spec (a worker process died, a cluster job
    failed). Finished work is kept and the same command resumes; the CLI exits with code 1."""

    exit_code = 1


class UnverifiedRunWarning(UserWarning):
    """A run directory whose files cannot be checked against recorded digests (written by an earlier ica):
    it is used, but the user is told once."""
