"""Where the CLI's output goes: one console for results, one for messages, and the three kinds of message.

A terminal gets rich's own width; logs and pipes get ``COLUMNS`` where it is set, else a wide 160, so that tables
are not folded into unreadable columns.
"""

from __future__ import annotations

import os
import sys

from rich.console import Console
from rich.markup import escape


def _width(stream) -> int | None:
    """None (rich measures the terminal, or reads ``COLUMNS``) for a terminal or where ``COLUMNS`` is set; else 160."""
    return None if stream.isatty() or (os.environ.get("COLUMNS") or "").isdigit() else 160


console = Console(width=_width(sys.stdout))
errors = Console(stderr=True, width=_width(sys.stderr))


def error(message: str) -> None:
    errors.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)


def warning(message: str) -> None:
    errors.print(f"[yellow]warning:[/] {escape(message)}", highlight=False, soft_wrap=True)


def notice(message: str) -> None:
    """Something a command passed over (links not followed, unreadable folders): stderr keeps the output clean."""
    errors.print(f"[yellow]notice:[/] {escape(message)}", highlight=False, soft_wrap=True)
