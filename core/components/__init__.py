"""Components: what a component is and where components come from.

Owns: the options every component declares (`options`: ``Options``, ``DatasetOptions``, ``Slot``), the one
hook plugins implement (`hookspecs`), the contracts components honour (`protocols`: encoder, decoder, prior,
likelihood, model, metric, data splits, ``BuildContext``), the registry that finds plugins in
``registry.toml`` and entry points and is the only place names are looked up (`registry`), the
check-only switch data sets consult so that ``ica validate`` never downloads (`checking`), and what loaders
share: the memory there is (`memory`) and the binarisation of images (`binarizing`).
May import: ica.errors
Exports: ``Registry``, ``Options``, ``DatasetOptions``, ``Slot``, ``hookimpl``, ``KINDS`` and the
protocols. Plugin authors import these through ``ica.plugin``, the stable surface.
"""

from ica.components.checking import DownloadNeeded, checking_only, is_checking
from ica.components.hookspecs import hookimpl, hookspec
from ica.components.options import DatasetOptions, Options, Slot, slot_kind
from ica.components.protocols import (
    KINDS,
    Batch,
    BuildContext,
    DataSplits,
    Decoder,
    Encoder,
    Likelihood,
    LossOutput,
    Metric,
    MetricRecord,
    Model,
    Prior,
    Representation,
    Split,
)

# ``registry()`` (the loaded registry) is not re-exported here: the name would hide the module
# ``ica.components.registry``; call ``ica.registry()``.
from ica.components.registry import Component, PluginFailure, PluginInfo, Registry

__all__ = [
    "Registry",
    "Component",
    "PluginInfo",
    "PluginFailure",
    "Options",
    "DatasetOptions",
    "Slot",
    "slot_kind",
    "hookimpl",
    "hookspec",
    "KINDS",
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
    "DownloadNeeded",
    "checking_only",
    "is_checking",
]
