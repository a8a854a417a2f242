"""How ``ica run`` shows training: progress bars on a terminal, a plain line about every 10% of each seed group in
logs and pipes, and the run's events (resumed, failed seeds, SLURM submissions) as they come."""

from __future__ import annotations

import time
from typing import Any

from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from ica.cli.output import console
from ica.running.progress_text import MANY_SEEDS, losses_text, seeds_text

__all__ = ["MANY_SEEDS", "RunProgress", "losses_text", "seeds_text"]  # the shared pieces, as before


class RunProgress:
    """Progress bars on a terminal; otherwise a plain line about every 10% of each seed group."""

    def __init__(self) -> None:
        self.live = console.is_terminal
        self.progress = (
            Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=console,
                transient=False,
            )
            if self.live
            else None
        )
        self.tasks: dict[Any, Any] = {}
        self.next_report: dict[Any, int] = {}

    def __enter__(self) -> "RunProgress":
        if self.progress:
            self.progress.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.progress:
            self.progress.stop()

    def event(self, name: str, **info: Any) -> None:
        key = (info.get("cell"), tuple(info.get("seeds", ())))
        label = escape(f"{info.get('cell')} {seeds_text(key[1])}")  # user text: never read as markup
        if name == "run_start":
            self._say(escape(f"run directory: {info['out']}"))
        elif name == "cell_start":
            done = len(info["seeds"]) - len(info["todo"])
            if done:
                self._say(escape(f"{info['cell']}: {done} seed(s) already finished, {len(info['todo'])} to train"))
        elif name == "train_start":
            if self.progress:
                self.tasks[key] = self.progress.add_task(label, total=info["steps"], completed=info["step"])
            else:
                self.next_report[key] = info["step"] + max(1, info["steps"] // 10)
                self._say(
                    f"{label}: fitting"
                    if info.get("step_mode") == "fit"
                    else f"{label}: training from step {info['step']} to {info['steps']}"
                )
        elif name == "progress":
            if self.progress and key in self.tasks:
                self.progress.update(self.tasks[key], completed=info["step"])
            elif not self.progress and info["step"] >= self.next_report.get(key, 0):
                self.next_report[key] = info["step"] + max(1, info["steps"] // 10)
                losses = losses_text(info["loss"])
                self._say(f"{label}: step {info['step']}/{info['steps']} loss {losses}")
        elif name == "submitted":
            jobs = info["jobs"]
            what = f"a job array of {len(jobs)} tasks" if len(jobs) > 1 else "1 job"
            self._say(
                f"submitted {what} ({escape(', '.join(jobs[:3]))}{', ...' if len(jobs) > 3 else ''}); "
                f"logs in {escape(info['folder'])}"
            )
        elif name == "unit_done":
            self._say(f"trained {escape(info['unit'])}")
        elif name == "interrupted":
            self._say(f"{label}: stopped at step {info['step']}; checkpoints written")
        elif name == "grid_cell":
            self._say(
                f"[bold]grid cell {info['index'] + 1}/{info['total']}[/]: {escape(info['cell_name'])} "
                f"-> {escape(info['out'])}"
            )
        elif name == "notice":
            message, cell = info["message"], info.get("cell")
            if cell and not message.startswith(f"{cell}:"):
                message = f"{cell}: {message}"
            self._say(f"[yellow]notice[/]: {escape(message)}")
        elif name == "resumed":
            self._say(f"{label}: resumed from the checkpoint at step {info['step']}")
        elif name == "seed_failed":
            self._say(
                f"[red]{escape(str(info['cell']))} seed {info['seed']} failed[/]: non-finite loss by step "
                f"{info['step']}"
            )
        elif name == "train_end" and (not self.progress or info.get("compile_seconds")):
            compiled = (
                f" (compiled step: {info['compile_seconds']:.1f} s of it compiling)"
                if info.get("compile_seconds")
                else ""
            )
            verb = "fitted" if info.get("step_mode") == "fit" else "trained"
            self._say(f"{label}: {verb} in {info['seconds']:.1f} s{compiled}")

    def _say(self, text: str) -> None:
        if self.progress:
            self.progress.console.print(text, highlight=False)
        else:
            console.print(f"[{time.strftime('%H:%M:%S')}] {text}", highlight=False, soft_wrap=True)
