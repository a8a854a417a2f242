"""Training's progress events in words: which seeds a line is about and their losses, written the same way by
``ica run``'s progress (`ica.cli.render_progress`) and an estimator's ``verbose`` fit (`ica.estimators.progress`).
The events are the training loop's (`ica.training.loop.Trainer`): ``progress`` carries one loss per seed, None for
a seed that failed."""

from __future__ import annotations

MANY_SEEDS = 8
"""From this many seeds in one training loop (packed grid cells), progress lines summarise them."""


def seeds_text(seeds: tuple[int, ...]) -> str:
    if len(seeds) >= MANY_SEEDS:
        return f"{len(seeds)} seeds"
    return f"seed{'s' if len(seeds) > 1 else ''} {','.join(map(str, seeds))}"


def losses_text(losses: list[float | None]) -> str:
    """Each seed's loss, or for many seeds their median and range (and how many failed)."""
    if len(losses) < MANY_SEEDS:
        return ", ".join("failed" if v is None else f"{v:.4g}" for v in losses)
    finite = sorted(v for v in losses if v is not None)
    failed = len(losses) - len(finite)
    if not finite:
        return f"all {failed} failed"
    middle = len(finite) // 2
    median = finite[middle] if len(finite) % 2 else (finite[middle - 1] + finite[middle]) / 2
    return f"median {median:.4g} [{finite[0]:.4g}, {finite[-1]:.4g}]" + (f", {failed} failed" if failed else "")
