"""The contracts of the components around the models: data sets, metrics (and the measures they declare), and
every kind's options."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ica.components.measures import problems
from ica.components.protocols import BuildContext, DataSplits, MetricRecord
from ica.evaluation.seeds import Evaluation, SeedOutcome
from ica.testing.contract import NotApplicable, require
from ica.testing.inputs import DZ, Inputs, tiny_data


def options_round_trip(reg: Any, name: str, extra: dict | None = None) -> None:
    """The options of every component called ``name`` (defaults, or those given) survive a JSON round trip
    unchanged: a spec written by `ica` reads back as the same run."""
    matches = reg.find(name)
    require(matches, f"no component named {name!r}")
    for component in matches:
        try:
            opts = Inputs(reg, extra).options(component.kind, name)
        except Exception as exc:
            raise NotApplicable(
                f"has required options without defaults ({type(exc).__name__}); give them as "
                "check_component(..., options={...})"
            ) from None
        again = type(opts).model_validate_json(opts.model_dump_json())
        require(again == opts, f"options change in a JSON round trip: {opts!r} became {again!r}")


def dataset_contract(reg: Any, name: str, extra: dict | None = None) -> None:
    """Train and eval splits of float32 finite observations with the same shape, u int64 (or None), sources
    (or None) one row per example."""
    if "root" in reg.get("dataset", name).options.model_fields and not (extra or {}).get("root"):
        raise NotApplicable("reads files from its root: give check_component(..., options={'root': ...})")
    try:
        options = Inputs(reg, extra).options("dataset", name)
    except Exception:
        raise NotApplicable(
            "has required options (a file, say): give them as check_component(..., options=...)"
        ) from None
    data = reg.build(options, BuildContext())
    require(isinstance(data, DataSplits), f"build gives {type(data).__name__}, expected ica.plugin.DataSplits")
    for part, split in (("train", data.train), ("eval", data.eval)):
        require(split.x.dtype == torch.float32, f"{part}.x is {split.x.dtype}, expected torch.float32")
        require(torch.isfinite(split.x).all(), f"{part}.x is not finite")
        require(
            split.u is None or (split.u.dtype == torch.int64 and len(split.u) == len(split)),
            f"{part}.u must be None or int64 with one value per example",
        )
        require(split.s is None or len(split.s) == len(split), f"{part}.s must be None or one row per example")
    require(
        data.eval.x.shape[1:] == data.train.x.shape[1:],
        f"eval observations {tuple(data.eval.x.shape[1:])} "
        f"and train observations {tuple(data.train.x.shape[1:])} differ in shape",
    )


def metric_contract(reg: Any, name: str, extra: dict | None = None) -> None:
    """Called on three finished seeds and one failed: `MetricRecord`s, finite for the finished ones, and records
    of the failed seed (or its pairs) NaN with an error, so that failures are counted, never silently dropped."""
    records = _scored(reg, name, extra)
    require(
        records and all(isinstance(r, MetricRecord) for r in records),
        "a metric returns a non-empty list of ica.plugin.MetricRecord",
    )
    failed = [r for r in records if r.seed == 3 or (r.pair and 3 in r.pair)]
    require(failed, "no record for the failed seed 3: a failure must be counted (a NaN record with an error)")
    require(all(np.isnan(r.value) and r.error for r in failed), "the failed seed's records must be NaN with an error")
    finished = [r for r in records if r not in failed]
    require(all(np.isfinite(r.value) for r in finished), "a finished seed's record is not finite")


def metric_measures(reg: Any, name: str, extra: dict | None = None) -> None:
    """The measures a metric declares (`ica.plugin.Measure`: how tables show its records) are well formed, one per
    key, and every record it writes on three finished seeds and one failed is one of them, a member of an indexed
    one, or one of their controls: a record no measure names would be shown under its bare key."""
    measures = reg.get("metric", name).measures
    if not measures:
        raise NotApplicable(
            "declares no measures: its records are shown under their own names, after every declared "
            "one; declare them with register(..., measures=(Measure(...), ...))"
        )
    found = [problem for m in measures for problem in problems(m)]
    require(not found, "malformed measure: " + "; ".join(found))
    keys = [m.key for m in measures]
    twice = sorted({k for k in keys if keys.count(k) > 1})
    require(not twice, f"measures declared twice: {', '.join(twice)}")
    written = dict.fromkeys(r.metric for r in _scored(reg, name, extra) if isinstance(r, MetricRecord))
    unnamed = [r for r in written if not any(m.declares(r) for m in measures)]
    require(
        not unnamed,
        f"records {', '.join(unnamed)} are not among the measures declared ({', '.join(keys)}) nor their controls",
    )


def _scored(reg: Any, name: str, extra: dict | None) -> list:
    """The metric's records on tiny data: three finished seeds and one failed (seed 3)."""
    data = tiny_data(40)
    rng = np.random.default_rng(0)
    outcomes = [
        SeedOutcome(s, "finished", rng.normal(size=(40, DZ)), rng.integers(0, 3, 40), {"train": -1.0, "eval": -1.5})
        for s in range(3)
    ]
    outcomes.append(SeedOutcome(3, "failed", error="diverged"))
    metric = reg.build(Inputs(reg, extra).options("metric", name), BuildContext())
    return metric(Evaluation(data, "eval", outcomes))
