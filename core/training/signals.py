"""Stopping cleanly: SIGINT (Ctrl-C) and SIGTERM (a scheduler's preemption) end training at a step boundary.

A signal only sets a flag; the trainer finishes the step it is in, writes every seed's checkpoint and
raises `Interrupted`, so the run resumes from exactly that step with exactly the same results. A second
signal acts at once (the previous handler is restored after the first).

Which signals mean "stop" depends on who runs us: a terminal or a local scheduler sends SIGINT/SIGTERM;
under submitit the preemption signal is USR2, and SIGTERM must be left to submitit (it ignores it, because
SLURM sends it to every process of a preempted job). `watching` changes the set for a block of code.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Callable, Iterator

SIGNALS = (signal.SIGINT, signal.SIGTERM)
_watched: tuple[signal.Signals, ...] = SIGNALS


class Interrupted(KeyboardInterrupt):
    """Training was stopped by a signal after its checkpoints were written."""

    def __init__(self, message: str, signum: int | None = None):
        super().__init__(message)
        self.signum = signum


@contextmanager
def watching(signals: tuple[signal.Signals, ...]) -> Iterator[None]:
    """Within this block, training stops cleanly on these signals instead of SIGINT/SIGTERM."""
    global _watched
    previous, _watched = _watched, tuple(signals)
    try:
        yield
    finally:
        _watched = previous


@contextmanager
def stop_requests() -> Iterator[Callable[[], int | None]]:
    """Yield a function giving the first watched signal that arrived since entering (None if none did).

    Signal handlers can only be set from the main thread; elsewhere (a worker thread) nothing is caught.
    """
    if threading.current_thread() is not threading.main_thread():
        yield lambda: None
        return
    received: list[int] = []
    previous = {s: signal.getsignal(s) for s in _watched}

    def note(signum: int, frame: object) -> None:
        received.append(signum)
        signal.signal(signum, previous[signal.Signals(signum)])

    for s in _watched:
        signal.signal(s, note)
    try:
        yield lambda: received[0] if received else None
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
