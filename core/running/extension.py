"""Extending a finished run to more steps (``ica run SPEC --extend``, `extend`), recorded in extensions.json.

A spec that differs from the one a run directory (or a grid's) was made from only by a larger ``training.steps``
(``training.epochs`` where the run counts epochs) may continue that run instead of being refused as another
spec. `prepare_extension` makes the directory this spec's: each finished seed is reopened (its result.json
removed) to go on from its final checkpoint, which a run always writes at its last step and keeps, with its
metrics.jsonl kept; a failed seed stays failed (the longer run fails at the same step); a fitted peer (FastICA,
CEBRA) has no steps to add. The ordinary resume then trains the reopened seeds on to the new length
(`ica.training.checkpoints.resume`) and evaluates every model again. A smaller length is refused, and so is a
directory with seeds stopped part-way (run the spec it was made from to finish them first).

How it compares with an uninterrupted run of the new length: nothing in training depends on the total number
of steps (the plateau schedule counts intervals, not a horizon) except whether ``training.compile: "auto"``
compiles, so a continued seed follows the uninterrupted path exactly, except (a) where the shorter run's last
step is not a multiple of ``log_every``: that run logged there, so metrics.jsonl keeps a line the uninterrupted
run lacks and the next line averages fewer steps, and with ``identifiability.remedy: "perturb"`` the check made
at that line may have changed the prior; (b) where ``compile: "auto"`` chose a different step mode for the two
parts, which agree up to floating-point rounding (result.json's ``step_mode``, and the earlier one recorded).
Each extended directory's extensions.json records the lengths, both spec hashes, the seeds continued with their
earlier result.json, and the differences that apply.

Safe to interrupt: the record is written first, then the shorter run's summaries and the reopened seeds'
result.json are removed, and spec.json (a grid's grid.json, after every cell) is replaced last; until then the
same command prepares again, and after it the run resumes as any run does.
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal

from ica.components.registry import Registry, registry
from ica.errors import IcaError, SpecError
from ica.rundir.json_files import read_checked, read_grid, read_result
from ica.rundir.layout import RunLayout, SeedFiles
from ica.rundir.record import Record, write_record
from ica.rundir.schemas import GridFile, RunSpecFile
from ica.running.building import planned_device
from ica.running.claims import GRID_FILE, check_directory, check_grid_directory, claimed, claimed_change, run_root
from ica.running.environment import batched_seeds
from ica.running.locks import training_lock
from ica.spec.grid import grid_cells, grid_json, has_grid, keep_recorded_directories
from ica.spec.hashing import LengthChange
from ica.spec.load import accepted_hashes, load_spec, spec_hash, spec_json
from ica.spec.experiment import ExperimentSpec, SpecSource
from ica.training.compile_choice import compile_choice

EXTENSIONS_FILE = "extensions.json"
EXTENSIONS_ADVICE = "it records how this run was extended: restore it, or remove the run directory and run again"
Event = Callable[..., None]


class ExtensionEntry(Record):
    """One extension of a run directory (or of a grid's, listing its cells)."""

    unit: Literal["steps", "epochs"]
    before: int
    after: int
    from_spec_hash: str
    to_spec_hash: str
    continued: dict[str, list[int]] = {}  # model label -> the seeds continued from their final checkpoint
    earlier_results: dict[str, dict[str, dict[str, Any]]] = {}  # label -> seed -> its result.json before
    cells: list[str] = []  # a grid's: the cell directories extended
    differences: list[str] = []  # how the run may differ from an uninterrupted one of the new length


class ExtensionsFile(Record):
    """``<run>/extensions.json``: every extension of the run, oldest first."""

    extensions: list[ExtensionEntry]


@dataclass(frozen=True)
class Extended:
    """A directory `prepare_extension` made ready to continue, and its record."""

    directory: Path
    entry: ExtensionEntry

    def message(self) -> str:
        e = self.entry
        seeds = sum(len(s) for s in e.continued.values())
        what = f"{len(e.cells)} cells" if e.cells else f"{seeds} seed(s) continue from their final checkpoints"
        return f"extending {self.directory} from {e.before} to {e.after} {e.unit}: {what}"


def extend(spec: SpecSource, out: str | Path | None = None, **options: Any) -> Any:
    """Continue the run in ``out``, made from ``spec`` with fewer steps, to ``spec``'s length, and return its
    `ica.running.dispatch.RunResult`; ``options`` are `ica.running.dispatch.execute`'s. A directory already of
    ``spec`` resumes as ``ica.run`` resumes it."""
    from ica.running.dispatch import execute

    on_event = options.get("on_event") or (lambda *a, **k: None)
    for done in prepare_extension(spec, out, reg=options.get("reg"), on_event=on_event):
        on_event("notice", message=done.message())
    return execute(spec, out, **options)


def prepare_extension(
    spec: SpecSource, out: str | Path | None = None, *, reg: Registry | None = None, on_event: Event | None = None
) -> list[Extended]:
    """Make the run directory of ``spec`` (``out``) ready to continue to ``spec``'s length (see the module):
    every directory extended, none where it is already this spec's or does not exist yet. Everything is
    checked before anything is written."""
    reg = reg or registry()
    validated = load_spec(spec, reg)
    root = run_root(spec, out)
    notice = on_event or (lambda *a, **k: None)
    if not has_grid(validated):
        plan = _plan_run(RunLayout(root), validated)
        return [] if plan is None else [_carry_out(plan, notice)]
    grid_file = root / GRID_FILE
    if not grid_file.exists() or claimed(grid_file)["spec_hash"] in accepted_hashes(validated):
        return []
    change = _change(grid_file, validated, lambda: check_grid_directory(root, accepted_hashes(validated), validated))
    varied = [axis for axis in validated.grid or {} if axis in ("training.steps", "training.epochs", "training")]
    if varied:
        raise SpecError(f"the grid varies {varied[0]}: its cells cannot be extended as one", where="grid")
    cells = keep_recorded_directories(grid_cells(validated, reg), [c.plain() for c in read_grid(root).cells])
    plans = [_plan_run(RunLayout(root / c.directory), c.spec) for c in cells]
    done = [_carry_out(plan, notice) for plan in plans if plan is not None]
    hashes = (claimed(grid_file)["spec_hash"], spec_hash(validated))
    earlier = [d for e in _entries(root) if (e.from_spec_hash, e.to_spec_hash) == hashes for d in e.cells]
    entry = ExtensionEntry(
        unit=change.unit,
        before=change.before,
        after=change.after,
        from_spec_hash=hashes[0],
        to_spec_hash=hashes[1],
        cells=sorted({*earlier, *(d.directory.name for d in done)}),  # with those an interrupted prepare extended
    )
    _record(root, entry)
    grid = {**grid_json(validated, cells, hashes[1]), "spec": spec_json(validated)}
    write_record(grid_file, GridFile.model_validate(grid))
    return [Extended(root, entry), *done]


@dataclass
class _Plan:
    layout: RunLayout
    spec: ExperimentSpec
    entry: ExtensionEntry


def _change(path: Path, spec: ExperimentSpec, refuse: Callable[[], None]) -> LengthChange:
    """The length that grows, or ``refuse()``'s error (another spec, or a smaller length, said as a run says it)."""
    change = claimed_change(path, spec)
    if change is None or change.after < change.before:
        refuse()
        raise IcaError("this directory was made from a different spec", where=str(path.parent))  # refuse() raised
    return change


def _plan_run(layout: RunLayout, spec: ExperimentSpec) -> _Plan | None:
    """What extending one run directory does, checked (nothing written); None where there is nothing to do."""
    if not layout.spec.exists() or claimed(layout.spec)["spec_hash"] in accepted_hashes(spec):
        return None
    change = _change(layout.spec, spec, lambda: check_directory(layout, spec))
    from_hash = claimed(layout.spec)["spec_hash"]
    pending = next(
        (e for e in _entries(layout.root) if (e.from_spec_hash, e.to_spec_hash) == (from_hash, spec_hash(spec))), None
    )
    continued: dict[str, list[int]] = {}
    earlier: dict[str, dict[str, dict[str, Any]]] = {}
    for label in spec.models:
        for seed in spec.seed_list:
            files = layout.seed(label, seed)
            reopened = _reopened(pending, label, seed)
            if files.result.exists():
                result = read_result(files.result)
                if result.status != "finished" or result.peer is not None or result.scored:
                    continue  # failed seeds stay failed; a fitted peer has no steps to add
                if not files.checkpoint.exists():
                    raise IcaError(
                        f"seed {seed} of {label!r} finished, but its final checkpoint ({files.checkpoint.name}) is "
                        f"gone, so it cannot continue: delete its result.json to train it afresh to {change.after} "
                        f"{change.unit}, or choose another --out",
                        where=str(files.root),
                    )
                earlier.setdefault(label, {})[str(seed)] = result.plain()
            elif reopened is not None:
                earlier.setdefault(label, {})[str(seed)] = reopened
            elif _started(files):
                raise IcaError(
                    f"seed {seed} of {label!r} stopped part-way through the {change.before}-{change.unit[:-1]} "
                    f"run: run the spec this directory was made from (training.{change.unit} {change.before}) to "
                    "finish it, then extend",
                    where=str(layout.root),
                )
            else:
                continue  # never started: it trains to the new length from its start
            continued.setdefault(label, []).append(seed)
    entry = ExtensionEntry(
        unit=change.unit,
        before=change.before,
        after=change.after,
        from_spec_hash=from_hash,
        to_spec_hash=spec_hash(spec),
        continued=continued,
        earlier_results=earlier,
        differences=_differences(spec, earlier, change),
    )
    return _Plan(layout, spec, entry)


def _reopened(pending: ExtensionEntry | None, label: str, seed: int) -> dict[str, Any] | None:
    """The earlier result of a seed an interrupted prepare of the same change reopened, else None."""
    if pending is None or seed not in pending.continued.get(label, []):
        return None
    return pending.earlier_results.get(label, {}).get(str(seed))


def _started(files: SeedFiles) -> bool:
    return files.metrics.exists() or files.checkpoint.exists() or any(files.root.glob("checkpoint.*.pt"))


def _carry_out(plan: _Plan, notice: Event) -> Extended:
    """Record the extension, remove the shorter run's summaries, reopen the seeds, then claim for the new spec."""
    layout = plan.layout
    _record(layout.root, plan.entry)
    with ExitStack() as locks:  # nobody trains or summarises a model while its seeds are reopened
        for label in plan.spec.models:
            if layout.cell(label).is_dir():
                locks.enter_context(training_lock(layout.cell(label), lambda m: notice("notice", message=m)))
        layout.summary.unlink(missing_ok=True)
        for label in plan.spec.models:
            layout.cell_summary(label).unlink(missing_ok=True)
            for seed in plan.entry.continued.get(label, []):
                layout.seed(label, seed).result.unlink(missing_ok=True)
        write_record(layout.spec, RunSpecFile(**spec_json(plan.spec), spec_hash=spec_hash(plan.spec)))
    return Extended(layout.root, plan.entry)


def _differences(
    spec: ExperimentSpec, earlier: dict[str, dict[str, dict[str, Any]]], change: LengthChange
) -> list[str]:
    """How the continued seeds may differ from an uninterrupted run of the new length (see the module); whether
    ``compile: "auto"`` compiles the longer run is estimated as it decides (`compile_choice`), here and now."""
    training = spec.training
    results = [r for seeds in earlier.values() for r in seeds.values()]
    found = []
    off = sorted({r["steps"] for r in results if r.get("steps", 0) % training.log_every})
    if off:
        found.append(
            f"the shorter run logged its last step ({off[0]}), not a multiple of log_every ({training.log_every}): "
            "metrics.jsonl keeps that line, which an uninterrupted run lacks, and the next line averages fewer steps"
        )
        if training.identifiability.remedy == "perturb":
            found.append(
                "the identifiability check at that line may have perturbed the prior (identifiability.remedy "
                "'perturb'): from that step on, training may differ from an uninterrupted run's"
            )
    eager = [r["steps"] for r in results if r.get("step_mode") == "eager" and isinstance(r.get("steps"), int)]
    total = max(eager, default=0) * change.after // max(1, change.before)  # steps or epochs scale alike
    device = planned_device(spec.device).type
    if training.compile == "auto" and eager and compile_choice("auto", total, batched_seeds(spec), device).compiles:
        found.append(
            "the shorter run's steps ran eagerly and training.compile is 'auto': where the longer run compiles "
            "its step (result.json's step_mode), the two parts agree up to floating-point rounding"
        )
    return found


def _entries(root: Path) -> list[ExtensionEntry]:
    path = root / EXTENSIONS_FILE
    return read_checked(path, ExtensionsFile, EXTENSIONS_ADVICE).extensions if path.exists() else []


def _record(root: Path, entry: ExtensionEntry) -> None:
    """Add ``entry`` to ``root``'s extensions.json, replacing an entry of the same change (a prepare that was
    interrupted and is made again)."""
    kept = [
        e for e in _entries(root) if (e.from_spec_hash, e.to_spec_hash) != (entry.from_spec_hash, entry.to_spec_hash)
    ]
    write_record(root / EXTENSIONS_FILE, ExtensionsFile(extensions=[*kept, entry]))
