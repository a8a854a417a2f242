"""`grid_mcc`: CCA-aligned MCC between seeds at each position of a latent grid (App. B, Fig. B.1).

"The representations in these models form a grid [...] so when calculating the MCC values we compare each
latent grid position against its matching counterparts from other seeds" (App. B). For every position p
and every pair of seeds, the d latents at p of one seed are compared with the d latents at p of the other
exactly as `cca_mcc` compares whole representations: CCA fitted on a fixed random ``fit_fraction`` of the
evaluation points (``shuffle_seed``; the same points for every position and pair), MCC of the canonical
variates in sample and out of sample. Fig. B.1 plots all P × pairs values (8×8 positions × pairs of seeds).

Records (the positions of a grid of shape ``(h, w, d)`` are named ``[row,col]``, row-major):

- ``grid_mcc_in`` / ``grid_mcc_out``, one per pair of seeds: the median over positions of that pair's
  values, so the cell's statistics are over pairs (n = S(S-1)/2, a failed seed's pairs counted as failed),
  as for `cca_mcc`;
- ``grid_mcc_in[r,c]`` / ``grid_mcc_out[r,c]``, one per pair and position (``per_position``, on by default):
  every value behind Fig. B.1, in each pair's entry of the summary, and per-position statistics over pairs.

Latents without a grid (``grid_shape`` None) are one position holding the whole vector: the per-pair
values then equal `cca_mcc`'s, and no per-position records are written. A pair with a failed seed (or
non-finite latents) gets NaN records with the reason, per pair and per position, so no count shrinks.
"""

from __future__ import annotations

import itertools
import math
from typing import Literal

import numpy as np

from ica.plugin import (
    BuildContext,
    Evaluation,
    Field,
    Measure,
    hookimpl,
    MetricRecord,
    Options,
    pairwise_cca_mcc,
    SeedOutcome,
)

MEASURES = (  # per pair of seeds: the median over positions; per position with its [row,col] index
    Measure(
        "grid_mcc_in",
        "grid MCC in sample",
        "grid MCC in",
        order=30,
        controls=("untrained",),
        headline=True,
        indexed=True,
    ),
    Measure(
        "grid_mcc_out",
        "grid MCC out of sample",
        "grid MCC out",
        order=31,
        controls=("untrained",),
        headline=True,
        indexed=True,
    ),
)


class GridMCCOptions(Options):
    """The split of the evaluation points (as `cca_mcc`) and which records to write."""

    fit_fraction: float = Field(0.5, gt=0, lt=1, description="Fraction of evaluation points CCA is fitted on.")
    method: Literal["pearson", "spearman"] = Field("pearson", description="Correlation coefficient.")
    shuffle_seed: int | None = Field(
        0, ge=0, description="Seed of the fixed permutation of the evaluation points; null keeps their order."
    )
    per_position: bool = Field(
        True, description="Also write one record per pair and grid position (every value of Fig. B.1)."
    )


def position_names(grid_shape: tuple[int, ...] | None) -> list[str]:
    """``['[0,0]', '[0,1]', ...]``: the grid positions in the latents' (row-major) order; one unnamed without a grid."""
    if grid_shape is None or len(grid_shape) < 2:
        return [""]
    return ["[" + ",".join(map(str, index)) + "]" for index in itertools.product(*map(range, grid_shape[:-1]))]


def common_grid(outcomes: list[SeedOutcome]) -> tuple[int, ...] | None:
    """The grid shape the usable seeds share (they are one model's seeds); a ValueError if they differ."""
    grids = {None if o.grid_shape is None else tuple(o.grid_shape) for o in outcomes}
    if len(grids) > 1:
        raise ValueError(f"the seeds' latents have different grid shapes: {sorted(grids, key=str)}")
    return grids.pop() if grids else None


class GridMCC:
    requires_sources = False
    controlled = True
    requires_grid = True  # left out of a default metric list when no seed's latents form a grid

    def __init__(self, options: GridMCCOptions):
        self.options = options

    def per_position(
        self, usable: list[tuple[int, np.ndarray]], grid: tuple[int, ...] | None
    ) -> dict[tuple[int, int], np.ndarray]:
        """``{(seed_a, seed_b): [P, 2]}`` for ``usable`` ``(seed, latents)``: in- and out-of-sample MCC at each of
        the P positions."""
        if len(usable) < 2:
            return {}
        n, width = usable[0][1].shape
        d = grid[-1] if grid is not None else width
        positions = width // d
        if positions * d != width:
            raise ValueError(f"grid shape {grid} does not hold the {width} latents per example")
        seed = self.options.shuffle_seed
        order = np.arange(n) if seed is None else np.random.default_rng(seed).permutation(n)
        grids = [z[order].reshape(n, positions, d) for _, z in usable]
        values = {(a, b): np.empty((positions, 2)) for (a, _), (b, _) in itertools.combinations(usable, 2)}
        for p in range(positions):
            pairs = pairwise_cca_mcc([g[:, p] for g in grids], self.options.fit_fraction, self.options.method)
            for (i, j), r in pairs.items():
                values[(usable[i][0], usable[j][0])][p] = (r.in_sample, r.out_of_sample)
        return values

    def __call__(self, evaluation: Evaluation) -> list[MetricRecord]:
        outcomes = evaluation.seeds
        usable = [o for o in outcomes if o.latents is not None and np.isfinite(o.latents).all()]
        grid = common_grid(usable)
        names = position_names(grid)
        results = self.per_position([(o.seed, o.latents) for o in usable if o.latents is not None], grid)
        records = []
        for pair in itertools.combinations([o.seed for o in outcomes], 2):
            values = results.get(pair)
            why = None if values is not None else "a seed of this pair failed or has non-finite latents"
            for k, side in enumerate(("in", "out")):
                metric = f"grid_mcc_{side}"
                median = float(np.median(values[:, k])) if values is not None else math.nan
                records.append(MetricRecord(metric, median, pair=pair, error=why))
                if self.options.per_position and len(names) > 1:
                    for p, name in enumerate(names):
                        value = float(values[p, k]) if values is not None else math.nan
                        records.append(MetricRecord(metric + name, value, pair=pair, error=why))
        return records


def build(options: GridMCCOptions, ctx: BuildContext) -> GridMCC:
    """Pairwise-seed MCC after CCA at each latent grid position (App. B)."""
    return GridMCC(options)


@hookimpl
def ica_register(register):
    register(
        "metric",
        "grid_mcc",
        GridMCCOptions,
        build,
        measures=MEASURES,
        description="MCC between seeds after CCA at each latent grid position (App. B, Fig. B.1).",
    )
