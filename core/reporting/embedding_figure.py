"""The report's embedding figure: each model's posterior means as a scatter, one figure per run.

For each model of a run, the latents of its first finished seed (``latents.npz``, checked as every reader checks
it: `ica.rundir.latents`) on the evaluation points, drawn by `ica.reporting.embedding` with one panel per colouring
the run has: the true source that best matches the x axis, the data set's label u, the model's cluster
assignment. Latents of more than two dimensions are drawn through the two directions that best match the sources
where the data set has them, else the labels u, else their principal components (`ica.reporting.directions`).

The sources and labels are not in the run directory: the data set is built again from spec.json, as ``ica run``
built it but without downloading or writing anything (`ica.components.checking.checking_only`), once per data
set of the report; a setting with several data draws is drawn once, from its first. Where that cannot be done
here (the data's files are elsewhere, a plugin is missing, scored embeddings), the figure is drawn without them
and its caption says why. At most `MAX_POINTS` points are drawn
per panel, the same fixed random subset for every model of a run (directions are fitted on every point), so a
large evaluation split neither hides its structure under overdrawn points nor bloats the document.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from matplotlib.figure import Figure

from ica.reporting.directions import Projection, is_discrete
from ica.reporting.embedding import embedding_axes, plot_embedding
from ica.reporting.experiment import Experiment
from ica.reporting.figures import FigureFile, run_slug
from ica.reporting.plot_canvas import DPI, _png
from ica.reporting.rundirs import CellRecord, RunRecord, SeedRecord
from ica.rundir.latents import Latents, read_latents

MAX_POINTS = 2000
"""Points drawn per panel at most: a fixed random subset beyond this (every point below it)."""
PANEL_INCHES = (3.3, 2.8)
"""Each panel's size: three panels across are 10 inches, which the HTML report shows at (nearly) their own size."""


@dataclass
class Truth:
    """The evaluation points' true sources and labels u as the data set gives them, or why there are none."""

    sources: np.ndarray | None = None
    labels: np.ndarray | None = None
    note: str = ""


def run_truth(run: RunRecord, cache: dict[str, Truth]) -> Truth:
    """The sources and labels of the points ``run``'s latents were computed on, its data set built again (once
    per data set and split in ``cache``); an empty `Truth` saying why when that cannot be done here."""
    spec, split = run.spec, run.split or "eval"
    if spec is None:
        return Truth(note="the run has no spec.json yet")
    if spec.get("scored"):
        return Truth(note="scored embeddings carry no data set to take sources or labels from")
    key = json.dumps([spec.get("data"), split], sort_keys=True, default=str)
    if key not in cache:
        cache[key] = _built_truth(spec, split)
    return cache[key]


def _built_truth(spec: dict[str, Any], split: str) -> Truth:
    from ica.components.checking import checking_only
    from ica.components.registry import registry
    from ica.running.building import raw_data
    from ica.spec.load import load_spec

    try:
        reg = registry()
        with checking_only():
            data = raw_data(load_spec({k: v for k, v in spec.items() if k != "spec_hash"}, reg), reg)
    except Exception as exc:  # whatever stops it (files elsewhere, a plugin missing): the figure says so
        reason = " ".join(str(exc).split())
        return Truth(note=f"the data set could not be built again here ({reason[:160]}), so no sources or labels")
    points = data.eval if split == "eval" else data.train
    plain = lambda t: None if t is None else t.detach().cpu().numpy()  # noqa: E731
    return Truth(plain(points.s), plain(points.u))


def first_latents(cell: CellRecord) -> tuple[SeedRecord, Latents] | None:
    """The first finished seed that left its latents, and them (checked against its result.json)."""
    for seed in cell.seeds:
        path = seed.folder / "latents.npz"
        if seed.status == "finished" and seed.result is not None and path.exists():
            return seed, read_latents(path, seed.result.latents_sha256)
    return None


Colouring = tuple[str, Any, Literal["auto", "discrete", "continuous"]]
"""What a panel is coloured by (its title's words), one value per point (or None), and how they are read."""


def colourings(shown: Projection, truth: Truth, latents: Latents) -> list[Colouring]:
    """(what, one value per point, kind) for each panel of a model: the true source that best matches the x
    axis, the label u, the cluster assignment, as the run has them; one plain panel where it has none."""
    found: list[Colouring] = []
    if truth.sources is not None:
        x = shown.coords[:, 0]
        r = [abs(_correlation(x, truth.sources[:, j])) for j in range(truth.sources.shape[1])]
        j = int(np.nanargmax(r)) if not np.isnan(r).all() else 0
        found.append((f"true source {j} (|r| with x axis {r[j]:.2f})", truth.sources[:, j], "continuous"))
    if truth.labels is not None:
        u = truth.labels
        if u.ndim == 2:
            found.append(("label u[0]" if u.shape[1] > 1 else "label u", u[:, 0], "continuous"))
        else:
            found.append(("label u", u, "discrete" if is_discrete(u) else "continuous"))
    if latents.assignments is not None and not _same_partition(latents.assignments, truth.labels):
        found.append(("cluster", latents.assignments, "discrete"))
    return found or [("", None, "auto")]


def _same_partition(assignments: np.ndarray, labels: np.ndarray | None) -> bool:
    """Whether the clusters are the labels u renamed (an iVAE's are its u): a second panel would repeat the first."""
    if labels is None or labels.ndim != 1 or not is_discrete(labels):
        return False
    pairs = len(set(zip(assignments.tolist(), labels.tolist())))
    return pairs == len(set(assignments.tolist())) == len(set(labels.tolist()))


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    if a.std() == 0 or b.std() == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def embedding_figure(exp: Experiment, run: RunRecord, cache: dict[str, Truth], draws: int = 1) -> FigureFile | None:
    """The scatter of every model's first finished seed in ``run``, or None where no seed has latents yet; a
    setting with ``draws`` data draws is drawn once, from ``run``, its first draw (the others are replicates)."""
    models = [(cell, found) for cell in run.cells if (found := first_latents(cell)) is not None]
    if not models:
        return None
    truth = run_truth(run, cache)
    n = len(models[0][1][1].latents)
    if any(t is not None and len(t) != n for t in (truth.sources, truth.labels)):
        truth = Truth(note="the data set built again here has other points than the latents, so it is not used")
    method = "sources" if truth.sources is not None else "labels" if truth.labels is not None else "pca"
    rows = []
    for cell, (seed, latents) in models:
        shown = embedding_axes(latents.latents, 2, method, truth.sources, truth.labels)
        rows.append((cell, seed, latents, shown, colourings(shown, truth, latents)))
    columns = max(len(r[4]) for r in rows)
    width, height = PANEL_INCHES
    fig = Figure(figsize=(width * columns, height * len(rows) + 0.3), dpi=DPI, layout="constrained")
    axes = fig.subplots(len(rows), columns, squeeze=False)
    for i, (cell, seed, latents, shown, colours) in enumerate(rows):
        for j, ax in enumerate(axes[i]):
            if j >= len(colours):
                ax.set_visible(False)
                continue
            what, values, kind = colours[j]
            plot_embedding(
                shown.coords, values, color_kind=kind, ax=ax, max_points=MAX_POINTS, color_label=what.split(" (")[0]
            )
            ax.set_xlabel(shown.names[0], fontsize=7.5)
            ax.set_ylabel(shown.names[1], fontsize=7.5)
            title = f"{cell.label} (seed {seed.seed}, d={latents.latents.shape[1]})"
            ax.set_title(f"{title}\ncoloured by {what}" if what else title, fontsize=8.5)
    where = run.setting or exp.name
    fig.suptitle(f"Embeddings ({where}): posterior means of each model's first finished seed", fontsize=10)
    name = "embedding.png" if exp.kind == "run" else f"embedding_{run_slug(exp.root, run.directory)}.png"
    return FigureFile(name, f"Embeddings: {where}", _caption(exp, rows, truth, n, draws), _png(fig))


def _caption(exp: Experiment, rows: list, truth: Truth, n: int, draws: int) -> str:
    drawn = f"{min(n, MAX_POINTS)} of {n} points"
    drawn += " (a fixed random subset, the same for every model)" if n > MAX_POINTS else ""
    described = list(dict.fromkeys(r[3].description for r in rows))
    axes = described[0] if len(described) == 1 else "; ".join(f"{r[0].label}: {r[3].description}" for r in rows)
    kinds = {c[0].split(" ")[0] for r in rows for c in r[4]}
    colours = [
        text
        for key, text in (
            ("true", "the true source that best matches the x axis (|r| in the panel's title)"),
            ("label", "the data set's label u"),
            ("cluster", "the model's cluster assignment (where it is not u itself)"),
        )
        if key in kinds
    ]
    text = (
        f"Posterior means of the first finished seed of each model on the {exp.split} split"
        + (f" of the first of {draws} data draws" if draws > 1 else "")
        + f", {drawn}. "
        f"Axes: {axes}. Colours: {'; '.join(colours) or 'one colour (no sources, labels or clusters)'}."
    )
    return text + (f" Note: {truth.note}." if truth.note else "")
