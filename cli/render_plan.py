"""How ``ica validate`` and ``ica run --dry-run`` print what a spec would do: its data, models and seeds, every
run of a grid with its steps, and the packs."""

from __future__ import annotations

import sys
from typing import Any

from rich.markup import escape
from rich.table import Table

from ica.cli.output import console
from ica.spec.draws import draw_list


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
    console.print(
        "[green]valid[/]: "
        + escape(
            f"data {data['name']} x{tuple(data['x_shape'])}, {data['n_train']} train / {data['n_eval']} eval points, "
            f"{u_text(data)}, sources: {data['sources']}"
        )
    )
    for label, m in report["models"].items():
        size = "a fitted estimator" if m["parameters"] is None else f"{m['parameters']:,} parameters per seed"
        batching = (
            ""
            if "batched" not in m
            else "; seeds batched"
            if m["batched"]
            else f"; seeds one at a time ({m['why_not_batched']})"
        )
        console.print(escape(f"  model {label} ({m['model']}): {size}{batching}"))
        console.print(escape(f"    metrics: {', '.join(m['metrics'])}"))
    console.print(escape(f"  seeds: {_seeds_text(report['seeds'])}"))


def validation_to_download(report: dict[str, Any]) -> None:
    """A spec valid as far as it can be checked before ``ica run`` downloads its data: say what, and where."""
    downloads = report["downloads"]
    files = downloads["files"]
    listed = ", ".join(files[:4]) + (f" and {len(files) - 4} more" if len(files) > 4 else "")
    console.print(
        "[green]valid[/] "
        + escape(f"(as far as can be checked before its data is downloaded): data {report['data']['name']}")
    )
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
    return (
        f", {len(draws)} draw{'s' if len(draws) != 1 else ''} × {seeds} seeds per setting "
        f"(data seeds {_seeds_text(draws)})"
    )


def plan_table(
    rows: list[dict[str, Any]], packs: list[dict[str, Any]] | None = None, draws: list[int] | None = None
) -> None:
    """``ica run --dry-run``: every run (grid cell) with its models, seeds and steps, and the packs; with data
    draws (``draws``, their data seeds), how many draws and seeds each setting has."""
    table = Table(title="ica run --dry-run: nothing is trained")
    for column in ("run", "directory", "models", "seeds", "steps per seed", "seed-steps"):
        table.add_column(column)
    for r in rows:
        seeds = r["seeds"]
        models = ", ".join(f"{m} (fitted per seed)" if m in r.get("fitted", ()) else m for m in r["models"])
        table.add_row(
            escape(r["cell"] or "(one run)"),
            escape(r["dir"] or "."),
            escape(models),
            f"{len(seeds)}: {seeds[0]}..{seeds[-1]}" if len(seeds) > 1 else str(seeds),
            f"{r['steps']:,}" if r["steps"] is not None else f"{r['epochs']} epochs (data not found)",
            f"{r['seed_steps']:,}" if r["seed_steps"] is not None else "?",
        )
    console.print(table)
    known = [r["seed_steps"] for r in rows if r["seed_steps"] is not None]
    total = (
        f"{sum(known):,} seed-steps in all"
        if len(known) == len(rows)
        else f"{sum(known):,} seed-steps in the {len(known)} run(s) whose data could be read"
    )
    trained = sum((len(r["models"]) - len(r.get("fitted", ()))) * len(r["seeds"]) for r in rows)
    fitted_models = sum(len(r.get("fitted", ())) * len(r["seeds"]) for r in rows)
    also = f" and {fitted_models} fitted" if fitted_models else ""
    draws_said = escape(draws_text(draws, [len(r["seeds"]) for r in rows]))
    console.print(f"{len(rows)} run(s){draws_said}, {trained} trained models{also}, {total}")
    if packs is None:
        console.print("packed cells (training.pack_cells): not known until every cell's data can be read")
    fitted = sorted({m for r in rows for m in r.get("fitted", ())})
    if fitted:
        console.print(
            escape(
                f"fitted peers, fitted seed by seed in each run (no optimisation steps, so not in the "
                f"seed-steps, and never packed): {', '.join(fitted)}"
            )
        )
    for pack in packs or []:
        console.print(
            f"packed: {escape(pack['model'])} trains {pack['seeds']} seeds of {len(pack['cells'])} cells "
            "as one batched model (where its seeds are batched)"
        )
    sys.stdout.flush()


def u_text(data: dict) -> str:
    """What the data's u is: the number of its values, or the columns of a continuous u."""
    if data.get("u_dim"):
        return f"u: continuous, {data['u_dim']} column(s)"
    return f"u values: {data['n_u']}"
