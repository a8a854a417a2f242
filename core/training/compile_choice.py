"""Whether ``training.compile: "auto"`` compiles: when the time the compiled step is expected to save exceeds
what compiling costs, counting whether torch's compile cache is still cold.

Compiling is paid once per model and process: 22.8-38.9 s on a cold cache on this project's 2-core machine
(the quick start's iVAE, the Fig. 2 packs), 2.5-12.5 s once the cache holds compiled graphs, as it does for
every later model of a process once its first has compiled (the quick start's VaDE after its iVAE: 9.2 s). So
the cold cost is shared by the models one process trains (`planned_models`): the first pays it, the others
the warm cost. What compiling saves grows with the steps and with the seeds trained together, at the rates
measured with one thread in benchmarks/README.md (2026-12-03, ``benchmarks.seeds``; the mean of iVAE and VaDE
on the TCL MLPs). So a lone model of 20,000 steps of 3 seeds (about 27 s saved) trains eagerly on a fresh
machine, the quick start's two compile (cold 32 s + warm 8 s shared: 20 s each), and Fig. 2 (70,000 steps of
10 seeds) always compiles. On CUDA, where nothing has been measured, a run of `AUTO_STEPS` steps or more
compiles.
"""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterator

AUTO_STEPS = 20_000
"""On CUDA (unmeasured), ``"auto"`` compiles runs of this many steps or more."""

COMPILE_SECONDS = {"cold": 32.0, "warm": 8.0}
"""What compiling one model's step costs on the CPU, with torch's compile cache cold and warm (measured above:
the middle of the cold measurements, 22.8, 31.5 and 38.9 s)."""

SEED_STEP_RATES = ((1, 820.0, 3600.0), (10, 3590.0, 9940.0), (50, 4415.0, 7975.0))
"""(seeds trained together, eager seed-steps/s, compiled seed-steps/s), one thread (measured above)."""

_compiled_here = False  # set once this process has compiled a step: torch keeps the graphs in memory
_planned = 1  # how many models this process is about to train (`planned_models`)


@dataclass(frozen=True)
class CompileChoice:
    """Whether the compiled step is used, and why; the estimate behind an ``"auto"`` choice on the CPU."""

    setting: bool | str
    steps: int | None
    seeds: int
    compiles: bool
    why: str
    expected_saving_s: float | None = None
    compile_cost_s: float | None = None
    cache: str | None = None
    models: int | None = None

    def record(self) -> dict[str, Any]:
        """As env.json keeps it."""
        return asdict(self)


def compile_choice(setting: bool | str, steps: int | None, seeds: int = 1, device: str = "cpu") -> CompileChoice:
    """What ``training.compile`` (True, False or "auto") chooses for ``steps`` steps of ``seeds`` seeds trained
    together on ``device`` ('cpu' or 'cuda')."""
    if setting != "auto":
        why = "compiled step asked for" if setting else "eager step asked for"
        return CompileChoice(setting, steps, seeds, bool(setting), why)
    if steps is None:
        return CompileChoice(setting, steps, seeds, False, "auto: the number of steps is not known")
    if device != "cpu":
        wanted = steps >= AUTO_STEPS
        return CompileChoice(
            setting,
            steps,
            seeds,
            wanted,
            f"auto on {device}: {steps:,} steps "
            f"{'>=' if wanted else '<'} {AUTO_STEPS:,} (only the CPU has been measured)",
        )
    cache, models = compile_cache_state(), _planned
    saving = steps * expected_saving_per_step(seeds)
    cost = compile_cost(cache, models)
    wanted = saving > cost
    shared = f", shared by the {models} models this process trains" if cache == "cold" and models > 1 else ""
    why = (
        f"auto: compiling is expected to save {saving:.1f} s over {steps:,} steps of {seeds} seed(s), "
        f"{'more' if wanted else 'less'} than it costs with a {cache} compile cache ({cost:.1f} s{shared})"
    )
    return CompileChoice(setting, steps, seeds, wanted, why, round(saving, 1), round(cost, 1), cache, models)


def compile_cost(cache: str, models: int) -> float:
    """Seconds of compiling per model: the warm cost, or on a cold cache the cold cost of the first of the
    ``models`` a process trains shared with the warm cost of the rest."""
    if cache == "warm":
        return COMPILE_SECONDS["warm"]
    return (COMPILE_SECONDS["cold"] + (models - 1) * COMPILE_SECONDS["warm"]) / models


@contextlib.contextmanager
def planned_models(count: int) -> Iterator[None]:
    """Within the block this process trains ``count`` models (a run's models, a grid's cells times its models):
    the cold compile is paid once for all of them."""
    global _planned
    before, _planned = _planned, max(1, count)
    try:
        yield
    finally:
        _planned = before


def expected_saving_per_step(seeds: int) -> float:
    """Seconds the compiled step saves per step of ``seeds`` seeds: the measured rates, interpolated linearly
    in log(seeds) and held constant beyond the measured range."""
    points = [(math.log(s), s / eager - s / compiled) for s, eager, compiled in SEED_STEP_RATES]
    x = math.log(max(1, seeds))
    if x <= points[0][0]:
        return points[0][1]
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        if x <= x1:
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    _, eager, compiled = SEED_STEP_RATES[-1]
    return seeds * (1 / eager - 1 / compiled)


def compile_cache_state() -> str:
    """'warm' when this process has compiled a step, or torch's compile cache holds compiled graphs; else
    'cold'. Any graph counts, not only this model's, so a warm estimate can be optimistic."""
    if _compiled_here:
        return "warm"
    folder = (
        Path(os.environ.get("TORCHINDUCTOR_CACHE_DIR") or Path(tempfile.gettempdir()) / f"torchinductor_{_user()}")
        / "fxgraph"
    )
    try:
        return "warm" if folder.is_dir() and any(folder.iterdir()) else "cold"
    except OSError:
        return "cold"


def mark_compiled() -> None:
    """This process has compiled a step: later ones load its graphs."""
    global _compiled_here
    _compiled_here = True


def _user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
