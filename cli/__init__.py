"""The ``ica`` command line: parse, call the Python API, print with rich. Nothing else lives here."""

from ica.cli.app import app, main

__all__ = ["app", "main"]
