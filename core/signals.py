"""Stopping cleanly: SIGINT (Ctrl-C) and SIGTERM (a scheduler's preemption) end training at a step boundary.

A signal only sets a flag; the trainer finishes the step it is in, writes every seed's checkpoint and
raises `Interrupted`, so the run resumes from exactly that step with exactly the same results. A second
signal acts at once (the previous handler is restored after the first).
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Callable, Iterator

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):
    """Training was stopped by a signal after its checkpoints were written."""


@contextmanager
def stop_requests() -> Iterator[Callable[[], bool]]:
    """Yield a function that says whether SIGINT or SIGTERM arrived since entering.

    Signal handlers can only be set from the main thread; elsewhere (a worker thread) nothing is caught.
    """
    if threading.current_thread() is not threading.main_thread():
        yield lambda: False
        return
    received: list[int] = []
    previous = {s: signal.getsignal(s) for s in SIGNALS}

    def note(signum: int, frame: object) -> None:
        received.append(signum)
        signal.signal(signum, previous[signum])

    for s in SIGNALS:
        signal.signal(s, note)
    try:
        yield lambda: bool(received)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
