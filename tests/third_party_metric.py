"""A third-party metric that declares its measure, one from before measures existed, and a run directory written by
hand with their records beside the built-ins': how `ica run`'s table, `ica results` and `ica report` show a metric
they were never told about (`tests/reporting/test_measures_display.py`, `tests/cli/test_results_columns.py`)."""

from __future__ import annotations

import json
import math
import types
from pathlib import Path

import numpy as np

from ica.components.registry import Registry
from ica.evaluation.seeds import summarise
from ica.plugin import Measure, MetricRecord, Options, hookimpl

SPREAD = Measure(
    "spread",
    "spread of the latents",
    "latent spread",
    order=12,
    higher_is_better=None,
    controls=("untrained",),
    headline=True,
)


class NoOptions(Options):
    pass


class Spread:
    """Per seed: the mean standard deviation of the latents' coordinates."""

    measures = (SPREAD,)  # the class registered declares its measures

    def __init__(self, options, ctx):
        pass

    def __call__(self, evaluation):
        return [
            MetricRecord("spread", math.nan, seed=o.seed, error=o.error or "no latents")
            if o.latents is None
            else MetricRecord("spread", float(np.std(o.latents, axis=0).mean()), seed=o.seed)
            for o in evaluation.seeds
        ]


class Legacy(Spread):
    """The same number under another name, from a metric written before measures existed."""

    measures = None

    def __call__(self, evaluation):
        return [MetricRecord("legacy_score", r.value, seed=r.seed, error=r.error) for r in super().__call__(evaluation)]


def plugin() -> types.ModuleType:
    module = types.ModuleType("third_party_metric")

    @hookimpl
    def ica_register(register):
        register("metric", "spread", NoOptions, Spread)
        register("metric", "legacy_score", NoOptions, Legacy)

    module.ica_register = ica_register
    return module


def registry_with_plugin() -> Registry:
    return Registry.load(entry_points=False, extra=[("third-party", plugin())])


SEEDS = 4


def write_run(directory: Path, positions: int = 0) -> dict:
    """A finished run of two models with the built-ins' headline records (and their controls), ``mcc_spearman``,
    per-position grid values (``positions``), the third-party ``spread`` and the undeclared ``legacy_score``;
    returns summary.json."""
    rng = np.random.default_rng(0)
    pairs = [(a, b) for a in range(SEEDS) for b in range(a + 1, SEEDS)]
    models = {"ivae": "ivae", "vade": "vade"}
    spec = {
        "name": "measured",
        "data": {"name": "tcl"},
        "models": {k: {"name": v} for k, v in models.items()},
        "training": {},
        "seeds": SEEDS,
        "evaluation": {"split": "eval"},
        "device": "cpu",
        "spec_hash": "0",
    }
    directory.mkdir(parents=True)
    (directory / "spec.json").write_text(json.dumps(spec))
    cells = {}
    for label, model in models.items():
        records = [
            MetricRecord(name, value, seed=s)
            for s in range(SEEDS)
            for name, value in (
                ("mcc", 0.8 + 0.05 * rng.random()),
                ("mcc_untrained", 0.3 + 0.05 * rng.random()),
                ("mcc_spearman", 0.75 + 0.05 * rng.random()),
                ("elbo_train", -12.0 + rng.random()),
                ("elbo_eval", -12.5 + rng.random()),
                ("spread", 0.9 + 0.1 * rng.random()),
                ("spread_untrained", 0.2 + 0.1 * rng.random()),
                ("legacy_score", rng.random()),
            )
        ]
        for pair in pairs:
            records += [
                MetricRecord("cca_mcc_in", 0.9 + 0.05 * rng.random(), pair=pair),
                MetricRecord("cca_mcc_out", 0.85 + 0.05 * rng.random(), pair=pair),
                MetricRecord("cca_mcc_out_untrained", 0.5 + 0.05 * rng.random(), pair=pair),
                MetricRecord("grid_mcc_in", 0.7 + 0.05 * rng.random(), pair=pair),
            ]
            records += [MetricRecord(f"grid_mcc_in[0,{p}]", rng.random(), pair=pair) for p in range(positions)]
        records += [MetricRecord("mcc_observations", 0.51), MetricRecord("mcc_fastica", 0.62)]
        cells[label] = {"model": model, **summarise(records), "status": {str(s): "finished" for s in range(SEEDS)}}
        for s in range(SEEDS):
            folder = directory / label / "seeds" / str(s)
            folder.mkdir(parents=True)
            (folder / "result.json").write_text(
                json.dumps({"seed": s, "status": "finished", "steps": 3, "elbo": {"train": -12.0, "eval": -12.5}})
            )
    summary = {"name": "measured", "spec_hash": "0", "device": "cpu", "split": "eval", "data": {}, "cells": cells}
    (directory / "summary.json").write_text(json.dumps(summary, allow_nan=False))
    return summary
