"""Null controls: the value of every consistency and recovery metric for each seed's *untrained* network.

A consistency number means little alone: two random networks of the same architecture already agree after
CCA far above zero, and an affine map of any invertible function of x recovers much of the sources. So for
every metric that declares itself ``controlled`` (`ica.components.protocols.Metric`), ``ica`` evaluates the
same metric on each seed's network as it was initialised (built again from the seed: `build_model` is
deterministic per seed, so nothing needs to be stored), and records its per-seed and per-pair values as
``<metric>_untrained``. The floors of the observations themselves (and their PCA, FastICA) come from the
metrics' own ``floors`` (`evaluation.controls` "observations").

Cost: building the model once more and one forward pass over the evaluation points per seed, the same as
taking the trained representation; no training. Peers that are not torch modules have no untrained network.
"""

from __future__ import annotations

from typing import Any

import torch

from ica.components.protocols import DataSplits, MetricRecord
from ica.components.registry import Registry
from ica.evaluation.seeds import Evaluation, SeedOutcome, representation
from ica.running.batching import seed_groups
from ica.spec.experiment import ExperimentSpec

SUFFIX = "_untrained"


def untrained_outcomes(
    reg: Registry, spec: ExperimentSpec, label: str, options: Any, data: DataSplits
) -> list[SeedOutcome]:
    """Each seed's representation of the evaluation points by its network at initialisation, in eval mode.

    ``data`` is on the CPU. Empty when the model is not a torch module (a fitted peer). Seeds are built as
    training builds them (batched where training batches them), so each has the very initialisation its
    training started from.
    """
    points = data.eval if spec.evaluation.split == "eval" else data.train
    quiet = lambda *a, **k: None  # noqa: E731 - training already told the user how seeds are grouped
    outcomes = []
    for group, model in seed_groups(reg, options, data, list(spec.seed_list), spec.training.batch_seeds, label, quiet):
        if not isinstance(model, torch.nn.Module):
            return []
        rep = representation(model, points)
        for i, seed in enumerate(group):
            assignments = None if rep.assignments is None else rep.assignments[i].numpy()
            outcomes.append(
                SeedOutcome(seed, "finished", rep.latents[i].numpy(), assignments, grid_shape=rep.grid_shape)
            )
    return outcomes


def control_records(metrics: list[Any], evaluation: Evaluation) -> list[MetricRecord]:
    """The per-seed and per-pair records of every ``controlled`` metric on the untrained ``evaluation``,
    renamed ``<metric>_untrained`` (per-cell values, such as floors, are the trained run's and dropped)."""
    records = []
    for metric in metrics:
        if not getattr(metric, "controlled", False):
            continue
        for r in metric(evaluation):
            if r.seed is not None or r.pair is not None:
                records.append(MetricRecord(r.metric + SUFFIX, r.value, r.seed, r.pair, r.error))
    return records
