"""How the CLI shows things: rich tables on a terminal, plain lines in logs and pipes."""

from __future__ import annotations

import json
import sys
import time
import types
import typing
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from ica.components.options import slot_kind
from ica.spec.draws import draw_list
from ica.spec.models import spec_models

# Logs and pipes get a wide fixed width so tables are not folded into unreadable columns.
console = Console(width=None if sys.stdout.isatty() else 160)
errors = Console(stderr=True, width=None if sys.stderr.isatty() else 160)


def error(message: str) -> None:
    errors.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)


def warning(message: str) -> None:
    errors.print(f"[yellow]warning:[/] {escape(message)}", highlight=False, soft_wrap=True)


def notice(message: str) -> None:
    """Something a command passed over (links not followed, unreadable folders): stderr keeps the output clean."""
    errors.print(f"[yellow]notice:[/] {escape(message)}", highlight=False, soft_wrap=True)


# ------------------------------------------------------------------------------------ registry
def registry_json(reg: Any, kind: str | None) -> dict[str, Any]:
    return {
        "components": [
            {"kind": c.kind, "name": c.name, "plugin": c.plugin.name, "version": c.plugin.version,
             "module": c.plugin.module, "description": c.description}
            for c in reg.of_kind(kind)
        ],
        "failures": [{"plugin": f.plugin, "version": f.version, "error": f.error} for f in reg.failures],
        "conflicts": [
            {"kind": k, "name": n, "plugins": [p.name for p in ps]} for (k, n), ps in reg.conflicts.items()
            if kind is None or k == kind
        ],
    }


def registry_table(reg: Any, kind: str | None) -> None:
    table = Table(title="Registered components", show_lines=False)
    for col in ("kind", "name", "plugin", "version", "description"):
        table.add_column(col, overflow="fold")
    for c in reg.of_kind(kind):
        table.add_row(c.kind, escape(c.name), escape(c.plugin.name), escape(c.plugin.version), escape(c.description))
    console.print(table)
    conflicts = [(k, n, ps) for (k, n), ps in reg.conflicts.items() if kind is None or k == kind]
    if reg.failures or conflicts:
        bad = Table(title="Plugins with problems", title_style="bold red")
        bad.add_column("plugin")
        bad.add_column("version")
        bad.add_column("problem", overflow="fold")
        for f in reg.failures:
            bad.add_row(escape(f.plugin), escape(f.version), escape(f.error))
        for k, n, ps in conflicts:
            bad.add_row(escape(" & ".join(p.name for p in ps)), "", escape(f"both register {k} {n!r}; it cannot be used"))
        console.print(bad)


def component_options(reg: Any, component: Any) -> None:
    """Every option with its type, default and description, read from the options class: nothing is
    validated, so a component with required options (npz's ``path``) is shown like any other."""
    table = Table(title=escape(f"{component.kind} ") + f"[bold]{escape(component.name)}[/]" +
                  escape(f" ({component.plugin.name}) - {component.description}"),
                  caption=escape(provided_by(component)))
    for col in ("option", "type", "default", "description"):
        table.add_column(col, overflow="fold")
    for name, field in component.options.model_fields.items():
        sub_kind = slot_kind(field)
        if field.is_required():
            shown = "(required)"
        else:
            default = field.get_default(call_default_factory=True)
            shown = json.dumps(slot_default(reg, sub_kind, default) if sub_kind else _jsonable(default))
        type_text = f"any {sub_kind}" if sub_kind else _type_name(field.annotation)
        table.add_row(escape(name), escape(type_text), escape(shown), escape(field.description or ""))
    console.print(table)


def provided_by(component: Any) -> str:
    """'provided by ica 0.2.0 (built in), module ica.plugins.priors.gmm': where to read or report a component."""
    plugin = component.plugin
    module = getattr(component.build, "__module__", None) or plugin.module
    return f"provided by {plugin.name} {plugin.version} ({plugin.source}), module {module}"


def slot_default(reg: Any, kind: str, default: Any) -> Any:
    """A nested component's default with its own defaults filled in, or as written where it does not
    validate alone (it has required options)."""
    try:
        models = spec_models(reg)
        options = models.union(kind) and models.tagged[(kind, default["name"])].model_validate(default)
        return {"name": options.name, **options.model_dump(mode="json", exclude={"name"})}
    except Exception:
        return _jsonable(default)


def _jsonable(value: Any) -> Any:
    """``value`` as JSON data (a tuple as a list, a model as its fields)."""
    from pydantic import TypeAdapter

    try:
        return TypeAdapter(Any).dump_python(value, mode="json")
    except Exception:
        return str(value)


def _type_name(annotation: Any) -> str:
    """'int', 'list[int]', "'analytic' | 'sample'", 'float | None' rather than typing internals."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Literal:
        return " | ".join(repr(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_name(a) for a in args)
    if origin is typing.Annotated:
        return _type_name(args[0])
    if origin is not None:
        return f"{getattr(origin, '__name__', str(origin))}[{', '.join(_type_name(a) for a in args)}]"
    if annotation is type(None):
        return "None"
    return getattr(annotation, "__name__", str(annotation).replace("typing.", ""))


def validation(report: dict[str, Any]) -> None:
    if "grid" in report:
        draws = draws_text(draw_list(report["spec"]), [len(cell.get("seeds") or []) for cell in report["grid"]])
        console.print(f"[green]valid[/]: a grid of {len(report['grid'])} runs" + escape(draws))
        for cell in report["grid"]:
            console.print(f"[bold]{escape(cell['name'])}[/] -> {escape(cell['dir'])}/")
            validation(cell)
        return
    data = report["data"]
    if "downloads" in report:
        validation_to_download(report)
        return
    console.print("[green]valid[/]: " + escape(
        f"data {data['name']} x{tuple(data['x_shape'])}, {data['n_train']} train / {data['n_eval']} eval points, "
        f"u values: {data['n_u']}, sources: {data['sources']}"))
    for label, m in report["models"].items():
        size = "a fitted estimator" if m["parameters"] is None else f"{m['parameters']:,} parameters per seed"
        batching = "" if "batched" not in m else "; seeds batched" if m["batched"] else \
            f"; seeds one at a time ({m['why_not_batched']})"
        console.print(escape(f"  model {label} ({m['model']}): {size}{batching}"))
        console.print(escape(f"    metrics: {', '.join(m['metrics'])}"))
    console.print(escape(f"  seeds: {_seeds_text(report['seeds'])}"))


def validation_to_download(report: dict[str, Any]) -> None:
    """A spec valid as far as it can be checked before ``ica run`` downloads its data: say what, and where."""
    downloads = report["downloads"]
    files = downloads["files"]
    listed = ", ".join(files[:4]) + (f" and {len(files) - 4} more" if len(files) > 4 else "")
    console.print("[green]valid[/] " + escape(f"(as far as can be checked before its data is downloaded): data "
                                              f"{report['data']['name']}"))
    console.print(escape(f"  ica run will download {len(files)} file(s) into {downloads['root']}: {listed}"))
    console.print(escape(f"  not checked: {report['skipped']}"))
    models = ", ".join(f"{label} ({m['model']})" for label, m in report["models"].items())
    console.print(escape(f"  models: {models}; seeds: {_seeds_text(report['seeds'])}"))


def _seeds_text(seeds: list[int]) -> str:
    """The seed list, shortened where it is long (10,000 seeds are one line, not a page)."""
    if len(seeds) <= 12:
        return str(seeds)
    return f"{len(seeds)} seeds: [{', '.join(map(str, seeds[:5]))}, ..., {seeds[-1]}]"


def draws_text(draws: list[int] | None, seed_counts: list[int]) -> str:
    """With data draws (`ica.spec.draws`): ', N draws × S seeds per setting (data seeds [...])'; else ''."""
    if draws is None:
        return ""
    counts = sorted(set(seed_counts))
    seeds = str(counts[0]) if len(counts) == 1 else f"{counts[0]}-{counts[-1]}" if counts else "?"
    return f", {len(draws)} draw{'s' if len(draws) != 1 else ''} × {seeds} seeds per setting " \
           f"(data seeds {_seeds_text(draws)})"


def plan_table(rows: list[dict[str, Any]], packs: list[dict[str, Any]] | None = None,
               draws: list[int] | None = None) -> None:
    """``ica run --dry-run``: every run (grid cell) with its models, seeds and steps, and the packs; with data
    draws (``draws``, their data seeds), how many draws and seeds each setting has."""
    table = Table(title="ica run --dry-run: nothing is trained")
    for column in ("run", "directory", "models", "seeds", "steps per seed", "seed-steps"):
        table.add_column(column)
    for r in rows:
        seeds = r["seeds"]
        models = ", ".join(f"{m} (fitted per seed)" if m in r.get("fitted", ()) else m for m in r["models"])
        table.add_row(escape(r["cell"] or "(one run)"), escape(r["dir"] or "."), escape(models),
                      f"{len(seeds)}: {seeds[0]}..{seeds[-1]}" if len(seeds) > 1 else str(seeds),
                      f"{r['steps']:,}" if r["steps"] is not None else f"{r['epochs']} epochs (data not found)",
                      f"{r['seed_steps']:,}" if r["seed_steps"] is not None else "?")
    console.print(table)
    known = [r["seed_steps"] for r in rows if r["seed_steps"] is not None]
    total = f"{sum(known):,} seed-steps in all" if len(known) == len(rows) else \
        f"{sum(known):,} seed-steps in the {len(known)} run(s) whose data could be read"
    trained = sum((len(r["models"]) - len(r.get("fitted", ()))) * len(r["seeds"]) for r in rows)
    fitted_models = sum(len(r.get("fitted", ())) * len(r["seeds"]) for r in rows)
    also = f" and {fitted_models} fitted" if fitted_models else ""
    draws_said = escape(draws_text(draws, [len(r["seeds"]) for r in rows]))
    console.print(f"{len(rows)} run(s){draws_said}, {trained} trained models{also}, {total}")
    if packs is None:
        console.print("packed cells (training.pack_cells): not known until every cell's data can be read")
    fitted = sorted({m for r in rows for m in r.get("fitted", ())})
    if fitted:
        console.print(escape(f"fitted peers, fitted seed by seed in each run (no optimisation steps, so not in the "
                             f"seed-steps, and never packed): {', '.join(fitted)}"))
    for pack in packs or []:
        console.print(f"packed: {escape(pack['model'])} trains {pack['seeds']} seeds of {len(pack['cells'])} cells "
                      "as one batched model (where its seeds are batched)")
    sys.stdout.flush()


# ------------------------------------------------------------------------------------ progress
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


class RunProgress:
    """Progress bars on a terminal; otherwise a plain line about every 10% of each seed group."""

    def __init__(self) -> None:
        self.live = console.is_terminal
        self.progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
            console=console, transient=False,
        ) if self.live else None
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
                self._say(f"{label}: fitting" if info.get("step_mode") == "fit" else
                          f"{label}: training from step {info['step']} to {info['steps']}")
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
            self._say(f"submitted {what} ({escape(', '.join(jobs[:3]))}{', ...' if len(jobs) > 3 else ''}); "
                      f"logs in {escape(info['folder'])}")
        elif name == "unit_done":
            self._say(f"trained {escape(info['unit'])}")
        elif name == "interrupted":
            self._say(f"{label}: stopped at step {info['step']}; checkpoints written")
        elif name == "grid_cell":
            self._say(f"[bold]grid cell {info['index'] + 1}/{info['total']}[/]: {escape(info['cell_name'])} "
                      f"-> {escape(info['out'])}")
        elif name == "notice":
            message, cell = info["message"], info.get("cell")
            if cell and not message.startswith(f"{cell}:"):
                message = f"{cell}: {message}"
            self._say(f"[yellow]notice[/]: {escape(message)}")
        elif name == "resumed":
            self._say(f"{label}: resumed from the checkpoint at step {info['step']}")
        elif name == "seed_failed":
            self._say(f"[red]{escape(str(info['cell']))} seed {info['seed']} failed[/]: non-finite loss by step "
                      f"{info['step']}")
        elif name == "train_end" and (not self.progress or info.get("compile_seconds")):
            compiled = f" (compiled step: {info['compile_seconds']:.1f} s of it compiling)" \
                if info.get("compile_seconds") else ""
            done = "fitted" if info.get("step_mode") == "fit" else "trained"
            self._say(f"{label}: {done} in {info['seconds']:.1f} s{compiled}")

    def _say(self, text: str) -> None:
        if self.progress:
            self.progress.console.print(text, highlight=False)
        else:
            console.print(f"[{time.strftime('%H:%M:%S')}] {text}", highlight=False, soft_wrap=True)


# ------------------------------------------------------------------------------------- summary
def fmt(stats: dict[str, Any] | None, digits: int = 3) -> str:
    """'0.912 [0.887, 0.934] n=5' (median [quartiles] count), with failures spelled out."""
    if not stats:
        return "-"
    if stats["median"] is None:
        return f"failed n={stats['n']}"
    text = f"{stats['median']:.{digits}f} [{stats['q25']:.{digits}f}, {stats['q75']:.{digits}f}] n={stats['n']}"
    return text + (f" ({stats['n_failed']} failed)" if stats["n_failed"] else "")


def summary_table(summary: dict[str, Any]) -> None:
    columns = [("mcc", "MCC to sources"), ("cca_mcc_in", "CCA-MCC in"), ("cca_mcc_out", "CCA-MCC out"),
               ("grid_mcc_in", "grid MCC in"), ("grid_mcc_out", "grid MCC out"), ("cluster_ari", "cluster ARI"),
               ("elbo_train", "ELBO (train)"), ("bpd_eval", "bits/dim (eval)")]
    cells = summary["cells"]
    shown = [(k, t) for k, t in columns if any(k in c["stats"] for c in cells.values())]
    title = escape(f"{summary.get('name') or 'run'}: median [q25, q75] over seeds (over seed pairs for CCA-MCC), "
                   f"on the {summary['split']} split")
    table = Table(title=title)
    table.add_column("model")
    for _, title in shown:
        table.add_column(title)
    two_decimals = ("elbo_train", "bpd_eval")
    for label, cell in cells.items():
        table.add_row(escape(f"{label} ({cell['model']})"),
                      *[fmt(cell["stats"].get(k), 2 if k in two_decimals else 3) for k, _ in shown])
    console.print(table)
    floors = {}
    for cell in cells.values():
        floors.update({k: v for k, v in cell["cell"].items() if k.startswith("mcc_")})
    if floors:
        names = {"mcc_observations": "observations themselves", "mcc_fastica": "FastICA"}
        console.print(escape("floors (same evaluation points): " + ", ".join(
            f"{names.get(k, k)} {v:.3f}" for k, v in floors.items() if v is not None)))
    sys.stdout.flush()
