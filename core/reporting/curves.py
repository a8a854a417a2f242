"""The training-curve figure of `ica report`: every quantity the trainer logged in metrics.jsonl against the
step, one line per seed coloured by model, a failed seed's last step marked, so a diverging or failed seed
is seen, not hidden. Values a component logs (`ica.components.protocols.LogsValues`, such as a Gaussian
likelihood's learnt σ, ``likelihood_scale``) are curves like any other.
"""

from __future__ import annotations

from ica.reporting import plots
from ica.reporting.figures import FigureFile, is_finite_number, run_slug
from ica.reporting.experiment import Experiment
from ica.reporting.rundirs import RunRecord

CURVE_SKIP = {"step", "failed", "last_finite_loss", "l_perturbed"}
"""Keys of a metrics.jsonl line that are not curves: the step and per-line flags."""
CURVE_LABELS = {
    "loss": "nats per example",
    "log_likelihood": "nats per example",
    "kl": "nats per example",
    "lr": "learning rate (log scale)",
    "l_condition": "condition number of L (log scale)",
    "likelihood_scale": "learnt σ of p(x|z) (log scale)",
}
"""y labels of the quantities the trainer logs (the loss and its terms are means over each log window; lr and
the logged values of components, at the log step); other keys: CURVE_OTHER."""
CURVE_OTHER = "mean over each log window"
LOG_SCALE = ("lr", "l_condition", "likelihood_scale")


def _quantities(run: RunRecord) -> list[str]:
    """Every numeric quantity any seed logged, loss first and the log-scale ones last."""
    quantities: list[str] = []
    for cell in run.cells:
        for seed in cell.seeds:
            for line in seed.curve:
                quantities += [
                    k
                    for k, v in line.items()
                    if k not in CURVE_SKIP
                    and k not in quantities
                    and isinstance(v, (int, float))
                    and not isinstance(v, bool)
                ]
    order = ["loss"] + [q for q in quantities if q not in ("loss", *LOG_SCALE)] + list(LOG_SCALE)
    return [q for q in order if q in quantities]


def _panel(run: RunRecord, q: str, colours: dict[str, str]) -> plots.CurvePanel:
    log = q in LOG_SCALE
    curves = []
    for cell in run.cells:
        logged = any(q in line for seed in cell.seeds for line in seed.curve)
        for seed in cell.seeds:
            points = [
                (line["step"], float(line[q]))
                for line in seed.curve
                if is_finite_number(line.get(q)) and (not log or line[q] > 0)
            ]
            failed = next((line["step"] for line in seed.curve if line.get("failed")), None) if logged else None
            marked = [line["step"] for line in seed.curve if line.get("l_perturbed")] if q == "l_condition" else []
            curves.append(
                plots.Curve(colours[cell.label], [p[0] for p in points], [p[1] for p in points], failed, marked)
            )
    return plots.CurvePanel(q, CURVE_LABELS.get(q, CURVE_OTHER), log, curves)


def training_figure(exp: Experiment, run: RunRecord, colours: dict[str, str]) -> FigureFile | None:
    """Every logged quantity against the step, one line per seed, coloured by model."""
    quantities = _quantities(run)
    if not quantities:
        return None
    panels = [_panel(run, q, colours) for q in quantities]
    counts = []
    for cell in run.cells:
        failed = cell.count("failed")
        counts.append(f"{cell.label}: {len(cell.seeds)} seeds" + (f", {failed} failed" if failed else ""))
    legend = [(text, colours[cell.label]) for text, cell in zip(counts, run.cells)]
    where = run.setting or exp.name
    png = plots.curves(panels, f"Training curves ({where}), one line per seed", legend)
    name = "training.png" if exp.kind == "run" else f"training_{run_slug(exp.root, run.directory)}.png"
    caption = (
        f"Training curves of {where}: {', '.join(p.title for p in panels)} against the step, one line per "
        f"seed ({'; '.join(counts)})."
    )
    return FigureFile(name, f"Training curves: {where}", caption, png)
