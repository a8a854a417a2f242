"""What ``ica run`` prints around the progress display: the decision to start workers, and the result."""

from __future__ import annotations

from typing import Any, Callable

from ica.cli import render


def announcing(event: Callable[..., None], auto_workers: bool) -> Callable[..., None]:
    """``event``, which also says when workers start that the user did not ask for (and how to avoid them)."""

    def on_event(name: str, **info: Any) -> None:
        if name == "decided":
            decisions = info["decisions"]
            if auto_workers and decisions.workers > 1:
                render.console.print(f"training in {decisions.workers_why} (--workers 1: all in this process)")
            return
        event(name, **info)

    return on_event


def run_result(result: Any) -> None:
    """Each run directory's summary table, or what a ``--no-wait`` SLURM submission left to do."""
    submitted = result.submitted
    if submitted is not None:
        if submitted["submitted"]:
            render.console.print(
                f"submitted {len(submitted['submitted'])} task(s); logs in {submitted['folder']}; "
                "run the same command again to write the summaries"
            )
        else:
            render.console.print(
                f"nothing to submit: {len(submitted['busy'])} model(s) are still being trained; "
                "run the same command again when they finish"
            )
        return
    for entry in result.runs:
        render.summary_table(entry.summary)
