"""What an estimator shows while it fits (``verbose``), from the training loop's events (`ica.training.loop`).

Three ways to show a fit, chosen once per ``fit`` (`display_mode`):

- ``"live"``: a rich progress bar per group of seeds trained together (steps done / total, each seed's loss,
  elapsed time) on stderr, in an interactive terminal or a notebook; the finished bar stays as the fit's record.
- ``"lines"``: one plain line at the start, about every 10% of the steps and at the end, each written whole, so
  that the lines of fits running side by side (``GridSearchCV(n_jobs=2)``: joblib's worker processes or threads,
  which share one terminal) interleave without garbling; a worker's lines name its process. Also what a log
  file or a pipe gets.
- ``"off"``: nothing.

``verbose=False`` (or 0, the default) is off. ``verbose=True`` (or 1, or more) shows the fit: live in this
process's main thread on an interactive stderr, as lines anywhere else. ``verbose=None`` is "where someone is
watching": live in an interactive terminal or notebook, off in a worker and when stderr is a file or a pipe.
At 2 and above the run's notices (how it trains, and why) are shown too. The bar's pieces follow ``ica run``'s
(`ica.cli.render_progress`): the same seed and loss texts (`ica.running.progress_text`).
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading
import time
from typing import Any, Literal

import numpy as np
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ica.estimators.fitting import InvalidParameter
from ica.running.progress_text import losses_text, seeds_text

Mode = Literal["off", "live", "lines"]


def check_verbose(verbose: Any) -> int | None:
    """``verbose`` as a level (None: where someone is watching); anything but None, a bool or a whole number
    >= 0 is refused."""
    if verbose is None or isinstance(verbose, (bool, np.bool_)):
        return None if verbose is None else int(verbose)
    if isinstance(verbose, (int, np.integer)) and verbose >= 0:
        return int(verbose)
    raise InvalidParameter(f"must be None, True/False or a whole number >= 0, got {verbose!r}", where="verbose")


def in_worker() -> bool:
    """Whether this fit runs beside others: in a child process (joblib's loky workers, multiprocessing) or in a
    thread other than the main one (joblib's threading backend)."""
    return multiprocessing.parent_process() is not None or threading.current_thread() is not threading.main_thread()


def watched(console: Console) -> bool:
    """Whether ``console`` can show a live bar: an interactive terminal, or a notebook with ipywidgets (rich's
    live display there; without it a notebook gets lines)."""
    if console.is_jupyter:
        try:
            import ipywidgets  # noqa: F401
        except ImportError:
            return False
        return True
    return console.is_interactive


def display_mode(verbose: Any, console: Console) -> Mode:
    """How one fit is shown (the module's docstring says why)."""
    level = check_verbose(verbose)
    worker = in_worker()
    if level is None:
        return "live" if not worker and watched(console) else "off"
    if level == 0:
        return "off"
    return "live" if not worker and watched(console) else "lines"


class FitProgress:
    """Shows one ``fit``: use as a context manager and pass `event` as the run's ``on_event``."""

    def __init__(self, verbose: Any, label: str):
        self.console = Console(stderr=True)
        self.mode = display_mode(verbose, self.console)
        self.notices = (check_verbose(verbose) or 1) >= 2
        self.label = label
        self.prefix = f"[{multiprocessing.current_process().name} {os.getpid()}] " if in_worker() else ""
        self.progress: Progress | None = None
        self.tasks: dict[tuple[int, ...], Any] = {}
        self.next_line: dict[tuple[int, ...], int] = {}
        self.started: dict[tuple[int, ...], float] = {}

    def __enter__(self) -> "FitProgress":
        if self.mode == "live":
            self.progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("loss {task.fields[loss]}"),
                TimeElapsedColumn(),
                console=self.console,
                transient=False,
            )
            self.progress.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.progress is not None:
            self.progress.stop()

    def event(self, name: str, **info: Any) -> None:
        """One event of the run (``train_start``, ``progress``, ``train_end``, ``seed_failed``, ``notice``)."""
        if self.mode == "off":
            return
        key = tuple(info.get("seeds", ()))
        who = f"{self.label} {seeds_text(key)}"
        if name == "train_start":
            self.started[key] = time.perf_counter()
            self.next_line[key] = info["step"] + max(1, info["steps"] // 10)
            if self.progress is not None:
                self.tasks[key] = self.progress.add_task(
                    escape(who), total=info["steps"], completed=info["step"], loss="-"
                )
            else:
                self._say(f"{who}: training from step {info['step']} to {info['steps']}")
        elif name == "progress":
            losses = losses_text(info["loss"])
            if self.progress is not None and key in self.tasks:
                self.progress.update(self.tasks[key], completed=info["step"], loss=escape(losses))
            elif self.progress is None and (
                info["step"] >= self.next_line.get(key, 0) or info["step"] == info["steps"]
            ):
                self.next_line[key] = info["step"] + max(1, info["steps"] // 10)
                seconds = time.perf_counter() - self.started.get(key, time.perf_counter())
                self._say(f"{who}: step {info['step']}/{info['steps']} loss {losses} ({seconds:.1f} s)")
        elif name == "train_end" and self.progress is None:
            self._say(f"{who}: trained to step {info['step']} in {info['seconds']:.1f} s")
        elif name == "seed_failed":
            self._say(f"{self.label} seed {info['seed']} failed: non-finite loss by step {info['step']}")
        elif name == "notice" and self.notices:
            self._say(f"notice: {info['message']}")

    def _say(self, text: str) -> None:
        """One line: above the live bars, or written whole to stderr (one write, so lines never garble)."""
        if self.progress is not None:
            self.progress.console.print(escape(text), highlight=False)
            return
        stream = sys.stderr
        stream.write(f"{self.prefix}{text}\n")
        stream.flush()
