"""The report's contents as blocks, in order: what the experiment is, its tables, failed seeds, the figures.

Kept apart from `ica.reporting.report`, which draws the figures and writes the files, so that what a report
says (and the sentences that explain each table) can be read, and tested, without writing anything.
"""

from __future__ import annotations

from ica.evaluation.corrections import NAMES
from ica.evaluation.inference import MIN_UNITS
from ica.reporting.benchmark import benchmark_table
from ica.reporting.comparisons import ComparisonOptions
from ica.reporting.experiment import Experiment
from ica.reporting.figures import FigureFile
from ica.reporting.render import Block
from ica.reporting.tables import (
    FLOOR_TOLERANCE,
    comparison_table,
    control_sentences,
    controls_table,
    failures,
    metrics_table,
    reference_table,
)


def document(
    exp: Experiment, figures: list[FigureFile], comparison: ComparisonOptions = ComparisonOptions()
) -> list[Block]:
    """The report's contents, in order: what the experiment is, the tables, failed seeds, then the figures."""
    runs = len(exp.runs)
    seeds = sum(len(c.seeds) for r in exp.runs for c in r.cells)
    failed = sum(c.count("failed") for r in exp.runs for c in r.cells)
    what = "a single run" if exp.kind == "run" else f"{runs} runs ({exp.axis})"
    where = (
        f"Experiment directories {', '.join(map(str, exp.directories))}"
        if len(exp.directories) > 1
        else f"Experiment directory {exp.root}"
    )
    blocks = [
        Block("heading", f"Report: {exp.name}", level=1),
        Block(
            "text",
            f"{where}: {what}; models {', '.join(exp.labels)}; "
            f"{seeds} trained seeds, {failed} failed; metrics on the {exp.split} split.",
        ),
    ]
    blocks += benchmark_blocks(exp, comparison)
    blocks += [
        Block("heading", "Results"),
        Block(
            "text",
            "Median [first quartile, third quartile] over seeds, or over pairs of seeds for the pairwise "
            "metrics (CCA-MCC, grid MCC, cluster ARI/NMI); n counts every seed or pair, failed ones "
            "included, and failures are spelled out.",
        ),
    ]
    header, rows = metrics_table(exp)
    blocks.append(Block("table", header=header, rows=rows))
    ref = reference_table(exp)
    if ref is not None:
        blocks += [
            Block(
                "text",
                "Reference values computed once per run on the same evaluation points "
                "(e.g. MCC of the observations themselves and of FastICA to the sources):",
            ),
            Block("table", header=ref[0], rows=ref[1]),
        ]
    blocks += significance_blocks(exp, comparison)
    waiting = [r.setting or str(r.directory) for r in exp.runs if not r.cells]
    if waiting:
        blocks.append(Block("text", f"Not started yet (no spec.json in the run directory): {', '.join(waiting)}."))
    problems = failures(exp)
    if problems:
        blocks += [Block("heading", "Failed seeds"), Block("list", items=problems)]
    blocks.append(Block("heading", "Figures"))
    for i, fig in enumerate(figures, 1):
        blocks += [Block("heading", fig.heading, level=3), Block("figure", figure=fig, number=i)]
    return blocks


def benchmark_blocks(exp: Experiment, options: ComparisonOptions = ComparisonOptions()) -> list[Block]:
    """The lead table of an experiment over several data sets: every model on every data set beside its controls
    (`ica.reporting.benchmark`); nothing for one data set."""
    found = benchmark_table(exp, options.margin)
    if found is None:
        return []
    header, rows, tests = found
    margin = "no equivalence test" if options.margin is None else f"equivalence within ±{options.margin:g} MCC by TOST"
    return [
        Block("heading", "Every model on every data set"),
        Block(
            "text",
            "Means over data draws (each draw's mean over its seeds) with 95% intervals. The last two columns "
            "compare each model's MCC with its untrained networks' and with the observations' on the same points: "
            f"the mean difference over draws, its interval, and a verdict from a paired t test over draws ({margin}), "
            f"p corrected by Holm over the table's {tests} comparisons; 'inconclusive' is not 'the same'.",
        ),
        Block("table", header=header, rows=rows),
    ]


def significance_blocks(exp: Experiment, options: ComparisonOptions = ComparisonOptions()) -> list[Block]:
    """The controls beside each metric (with what lies within their range) and the comparison of models."""
    blocks = []
    controls = controls_table(exp)
    if controls is not None:
        said = control_sentences(exp)
        blocks += [
            Block("heading", "Controls"),
            Block(
                "text",
                "Each metric beside its null controls on the same points: the same metric for every seed's "
                "untrained network (its initialisation) and the floors of the raw observations, their PCA "
                "and FastICA. The 95% interval is of the mean: t with a jackknife over seeds (pairwise "
                "metrics too: seeds are left out, never pairs), hierarchical over data draws; fewer than "
                f"{MIN_UNITS['seed']} seeds ({MIN_UNITS['pair']} for pairwise metrics) give no interval. "
                "A median counts as within a control's range between the untrained networks' "
                f"quartiles, or within {FLOOR_TOLERANCE:g} of a floor.",
            ),
            Block("table", header=controls[0], rows=controls[1]),
            Block("list", items=said) if said else Block("text", "No median lies within a control's range."),
        ]
    comparison = comparison_table(exp, options)
    margin = f"±{options.margin:g}" if options.margin is not None else None
    only = f" Only {', '.join(options.metrics)} compared." if options.metrics else ""
    if comparison is not None:
        blocks += [
            Block("heading", "Model comparison"),
            Block(
                "text",
                f"Every two models of each setting, on the same data (data draws pooled): the effect is "
                "the difference of their means (first minus second) with its 95% interval; p is two-sided "
                "(Welch's t with a jackknife over seeds within one draw, a paired t over draws with two or "
                f"more), corrected by {NAMES[options.correction]} over every row of this table; "
                + (
                    f"'p equiv.' is the equivalence test (two one-sided tests) against a margin of {margin} "
                    "in the metric's units, corrected likewise. "
                    if margin
                    else "no equivalence margin. "
                )
                + "Verdict at α = 0.05: better when the corrected p is below α, "
                + (f"equivalent within {margin} when the corrected equivalence p is, " if margin else "")
                + "otherwise inconclusive; 'too few seeds' where no test exists. Controls are never "
                "compared." + only,
            ),
            Block("table", header=comparison[0], rows=comparison[1]),
        ]
    return blocks
