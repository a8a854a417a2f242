"""The one import of a plugin author: everything a component needs, re-exported from the rooms that own it.

This module is the stable surface of `ica`. A name here keeps its meaning across minor releases, and a name
that moves or goes away first stays importable with a ``DeprecationWarning`` for one release. Everything
else in the package is internal: import it at your own risk. The built-in plugins import only this module,
exactly as a third-party package would::

    from ica.plugin import Field, Options, hookimpl

    class MyPriorOptions(Options):
        scale: float = Field(1.0, gt=0, description="...")

    @hookimpl
    def ica_register(register):
        register("prior", "my_prior", MyPriorOptions, build_my_prior)

``build(options, ctx)`` receives the validated options and a `BuildContext`. Third-party packages declare
``[project.entry-points.ica] my_plugin = "my_module"``.

What is here, by what a plugin writes:

* **registering**: `hookimpl`, `Options`, `DatasetOptions`, `Field`, `slot` and `Part` (a field holding a
  nested component, typed; `Slot[kind]` is the older spelling of the same field), the `KINDS` of component,
  and `Measure` (how a metric's records are shown: name, order, direction, decimals, controls);
* **the contracts** (``ica.components.protocols``): `BuildContext`, `Split`, `DataSplits`, `Batch`,
  `Encoder`, `Decoder`, `Prior`, `Likelihood`, `Model`, `LossOutput`, `Representation`, `Metric`,
  `MetricRecord`, `count_parameters`; `FittedPeer` and `is_fitted_peer` (a model fitted per seed, as FastICA),
  `LogsValues` (a component's own numbers in metrics.jsonl);
* **the seed axis** (``ica.nn``): `SeedLinear`, `SeedMLP`, `SeedDropout`, `activation`, `one_hot`,
  `seed_matmul` and `column_major` (a batched product with a narrow weight, the fast way), the
  grouped convolutions, `SeedStacked`, the distributions helpers, and `seed_rand`, the one source of
  randomness inside a training step;
* **metrics** (``ica.evaluation``): `Evaluation`, `SeedOutcome`, `mcc`, `correlation_matrix`, `cca_mcc`,
  `pairwise_cca_mcc`, `affine_recovery`, `consistency_r2`, `fixed_order`, and the observations' side of floors
  and observation controls (`reduced`, `observation_views`, `observations_vary`, `observation_records`, `cached`,
  `data_digest`);
* **data** (``ica.components``): `DownloadNeeded` and `is_checking` (``ica validate`` never downloads),
  `host_available` and `format_bytes` (a loader's own memory check; `human` is its old name, kept with a warning
  until ica 0.4.0), `binarized` (an image set's ``binarize`` option), `sequence_problem` (what is wrong with a
  data set's time order, ``Split.sequence``);
* **errors**: `SpecError` (an option that cannot work), `DataError` (a file or data set that is wrong),
  `IcaError`.
"""

from __future__ import annotations

import warnings
from typing import Any

from ica._moved import REMOVED_IN
from ica.components.binarizing import binarized
from ica.components.checking import DownloadNeeded, is_checking
from ica.components.hookspecs import PROJECT, hookimpl, hookspec
from ica.components.measures import Measure
from ica.components.memory import format_bytes, host_available
from ica.components.options import DatasetOptions, Field, Options, Part, Slot, slot, slot_kind
from ica.components.protocols import (
    KINDS,
    Batch,
    BuildContext,
    DataSplits,
    Decoder,
    Encoder,
    FittedPeer,
    Likelihood,
    LogsValues,
    LossOutput,
    Metric,
    MetricRecord,
    Model,
    Prior,
    Representation,
    Split,
    count_parameters,
    is_fitted_peer,
)
from ica.components.sequences import sequence_problem
from ica.errors import DataError, IcaError, SpecError
from ica.evaluation.affine import affine_recovery, consistency_r2
from ica.evaluation.cca_pairs import cca_mcc, pairwise_cca_mcc
from ica.evaluation.correlation import correlation_matrix, mcc
from ica.evaluation.observations import (
    cached,
    data_digest,
    observation_records,
    observation_views,
    observations_vary,
    reduced,
)
from ica.evaluation.seeds import Evaluation, SeedOutcome, fixed_order
from ica.nn.conv import (
    SeedBatchNorm2d,
    SeedConv2d,
    SeedConvTranspose2d,
    from_grouped,
    grouped_flatten,
    grouped_unflatten,
    to_grouped,
)
from ica.nn.distributions import (
    DiagonalGaussianMixture,
    diagonal_normal,
    gives_mixture,
    is_mixture,
    joint_log_prob,
    responsibilities,
    seed_sample,
    xavier_uniform_,
)
from ica.nn.layers import ACTIVATIONS, SeedDropout, SeedLinear, SeedMLP, activation, column_major, one_hot, seed_matmul
from ica.nn.seeding import seed_rand, seed_randn
from ica.nn.stacked import SeedStacked

__all__ = [
    # registering
    "hookimpl",
    "hookspec",
    "PROJECT",
    "Options",
    "DatasetOptions",
    "Field",
    "Slot",
    "slot",
    "Part",
    "slot_kind",
    "KINDS",
    "Measure",
    # the contracts
    "BuildContext",
    "Split",
    "DataSplits",
    "Batch",
    "Encoder",
    "Decoder",
    "Prior",
    "Likelihood",
    "Model",
    "LossOutput",
    "Representation",
    "Metric",
    "MetricRecord",
    "count_parameters",
    "FittedPeer",
    "is_fitted_peer",
    "LogsValues",
    # the seed axis
    "SeedLinear",
    "SeedMLP",
    "SeedDropout",
    "activation",
    "one_hot",
    "ACTIVATIONS",
    "seed_matmul",
    "column_major",
    "SeedConv2d",
    "SeedConvTranspose2d",
    "SeedBatchNorm2d",
    "to_grouped",
    "from_grouped",
    "grouped_flatten",
    "grouped_unflatten",
    "SeedStacked",
    "seed_rand",
    "seed_randn",
    "seed_sample",
    "diagonal_normal",
    "DiagonalGaussianMixture",
    "is_mixture",
    "gives_mixture",
    "joint_log_prob",
    "responsibilities",
    "xavier_uniform_",
    # metrics
    "Evaluation",
    "SeedOutcome",
    "mcc",
    "correlation_matrix",
    "cca_mcc",
    "pairwise_cca_mcc",
    "affine_recovery",
    "consistency_r2",
    "fixed_order",
    "reduced",
    "observation_views",
    "observations_vary",
    "observation_records",
    "cached",
    "data_digest",
    # data
    "DownloadNeeded",
    "is_checking",
    "host_available",
    "format_bytes",
    "binarized",
    "sequence_problem",
    # errors
    "SpecError",
    "DataError",
    "IcaError",
]

RENAMED = {"human": "format_bytes"}
"""Old names of this surface -> their new ones: still importable, with a ``DeprecationWarning``, until the
release that removes them (`ica._moved.REMOVED_IN`)."""


def __getattr__(name: str) -> Any:
    if name in RENAMED:
        warnings.warn(
            f"ica.plugin.{name} is now ica.plugin.{RENAMED[name]}; the old name goes in ica {REMOVED_IN}",
            DeprecationWarning,
            stacklevel=2,
        )
        return globals()[RENAMED[name]]
    raise AttributeError(f"module 'ica.plugin' has no attribute {name!r}")
