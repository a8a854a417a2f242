"""Building what a run needs from its spec: the device, the data (standardised on request), the models
(one per group of seeds, initialised per seed) and the metrics (`ica.running.batching` decides which seeds
train together)."""

from __future__ import annotations

from dataclasses import replace
from functools import partial
from typing import Any, Callable

import numpy as np
import torch

from ica.errors import IcaError, SpecError
from ica.components.registry import Registry, component_of
from ica.components.protocols import BuildContext, DataSplits, Split, count_parameters, is_fitted_peer
from ica.running.data_cache import SHARED_DATA_SETS, current_cache, data_key, shared_data  # noqa: F401 - offered here
from ica.running.data_limits import check_evaluation_points, check_splits, check_step_count
from ica.running.resources import check_data_memory, check_model_memory, module_budget, on_meta, out_of_memory
from ica.nn.seeding import NotBatchable, build_seeded, check_seed_axis
from ica.spec.devices import check_device
from ica.spec.models import spec_models
from ica.spec.experiment import ExperimentSpec

Event = Callable[..., None]


def resolve_device(name: str) -> torch.device:
    """The torch device ``name`` (`ica.spec.devices.check_device`: 'auto', 'cpu', 'cuda', 'cuda:N', 'mps') is on
    this machine. 'auto' is CUDA when available, else the CPU (never MPS, which is used only when named).
    A device this machine lacks (CUDA without a GPU, ``cuda:3`` with two GPUs, MPS off Apple or in a torch built
    without it) is a SpecError naming it, said before anything trains."""
    try:
        check_device(name)
    except ValueError as exc:
        raise SpecError(str(exc), where="device") from None
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise SpecError(f"CUDA was asked for ({name}), but no CUDA device is available here", where="device")
        if device.index is not None and device.index >= count:
            raise SpecError(
                f"{name} was asked for, but this machine has {count} CUDA device(s): "
                + ", ".join(f"cuda:{i}" for i in range(min(count, 8)))
                + (", ..." if count > 8 else ""),
                where="device",
            )
    if device.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            built = mps is not None and mps.is_built()
            why = "this machine has no Apple GPU" if built else "this torch was built without MPS (Apple's GPU)"
            raise SpecError(f"{name} was asked for, but {why}", where="device")
    return device


def prepare_data(spec: ExperimentSpec, reg: Registry) -> DataSplits:
    """Build the spec's data set and standardise it with training statistics when asked.

    Inside `shared_data` an equal data spec gets the very same (read-only) DataSplits back instead of a
    second build; outside it every call builds afresh and nothing is kept.
    """
    cache = current_cache()
    if cache is None:
        data = _build_data(spec, reg)
    else:
        data = cache.get(data_key(spec.data), reg, lambda: _build_data(spec, reg))
    check_step_count(spec, len(data.train))
    check_training_memory(spec, reg, data)
    return data


def _build_data(spec: ExperimentSpec, reg: Registry) -> DataSplits:
    data = raw_data(spec, reg)
    if getattr(spec.data, "shuffle_u", False):
        data = u_shuffled(data)
    if getattr(spec.data, "standardize", False):
        data = standardized(data)
    return data


SHUFFLE_U_SEEDS = {"train": 0, "eval": 1}
"""Seeds of `u_shuffled`'s permutations: fixed, so the control is the same data for every model and seed."""


def u_shuffled(data: DataSplits) -> DataSplits:
    """``data`` with u permuted across the points of each split, the sources and observations untouched: the
    same values of u, independent of x (the shuffled-u control: how much of a score needs u to tell about x)."""
    if data.train.u is None:
        raise SpecError("this data set has no u to shuffle", where="data.shuffle_u")

    def shuffle(split: Split, name: str) -> Split:
        if split.u is None:
            return split
        order = torch.from_numpy(np.random.default_rng(SHUFFLE_U_SEEDS[name]).permutation(len(split)))
        return replace(split, u=split.u[order])

    info = {**data.info, "u_shuffled": dict(SHUFFLE_U_SEEDS)}
    return replace(data, train=shuffle(data.train, "train"), eval=shuffle(data.eval, "eval"), info=info)


def raw_data(spec: ExperimentSpec, reg: Registry) -> DataSplits:
    """The spec's data set as its plugin builds it, before ``standardize``."""
    check_data_memory(spec.data)  # before building: 10^12 samples is a message, not an allocation failure
    data = reg.build(spec.data, BuildContext())
    name = component_of(spec.data)[1]
    if not isinstance(data, DataSplits):
        raise TypeError(f"dataset {name!r} returned {type(data).__name__}, not DataSplits")
    check_splits(data, name)
    return data


def standardization(train_x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The means and deviations ``standardize`` uses: of the training split only, per observed dimension
    (``[1, *x_shape]``); a constant dimension keeps deviation 1. A trained model applies the same ones to
    new data (`ica.trained`)."""
    mean = train_x.mean(0, keepdim=True)
    std = train_x.std(0, keepdim=True)
    return mean, torch.where(std > 0, std, torch.ones_like(std))


def standardized(data: DataSplits) -> DataSplits:
    """z-scores of every observed dimension, with means and deviations of the training split only."""
    mean, std = standardization(data.train.x)
    scale = lambda split: replace(split, x=(split.x - mean) / std)  # noqa: E731
    info = {**data.info, "standardized": True, "standardization": (mean, std)}  # preprocessing.json records them
    return replace(data, train=scale(data.train), eval=scale(data.eval), info=info)


def model_context(data: DataSplits) -> BuildContext:
    return BuildContext(seeds=1, x_shape=data.x_shape, latent_dim=data.source_dim or 0, n_u=data.n_u, u_dim=data.u_dim)


def check_training_memory(spec: ExperimentSpec, reg: Registry, data: DataSplits) -> None:
    """Refuse, before any model is built for real, a spec whose models cannot be trained in the memory there
    is: each model built on the meta device for the seeds that will train together (`seeds_together`), its
    parameters x4 (Adam), one step's activations, and the data where it is copied to a GPU."""
    device = planned_device(spec.device)
    ctx = model_context(data)
    data_bytes = split_bytes(data) if device.type == "cuda" else 0  # on the CPU it is already in memory
    for label, options in spec.models.items():
        single = on_meta(partial(reg.build, options, ctx.with_(seeds=1)), f"models.{label}")
        if single is None or is_fitted_peer(single):
            continue  # cannot be built on meta (building it for real reports what is wrong), or not a module
        n = seeds_together(spec.training.batch_seeds, len(spec.seed_list), count_parameters(single), device)
        check_seeds_memory(
            reg, options, data, label, n, spec.training.batch_size, device, data_bytes, single if n == 1 else None
        )


def check_seeds_memory(
    reg: Registry,
    options: Any,
    data: DataSplits,
    label: str,
    seeds: int,
    batch_size: int,
    device: torch.device,
    data_bytes: int,
    model: torch.nn.Module | None = None,
) -> None:
    """Refuse one model of ``seeds`` seeds of ``options`` (``model``: its meta build, where made already) that
    cannot train on ``data`` in the memory there is (`check_model_memory`); a grid's pack of cells is checked so
    too (`ica.running.packing.pack_fits`)."""
    ctx = model_context(data)
    if model is None:
        model = on_meta(lambda: reg.build(options, ctx.with_(seeds=seeds)), f"models.{label}", seeds)
    if model is not None:
        check_model_memory(
            model,
            label=label,
            seeds=seeds,
            batch=min(batch_size, len(data.train)),
            x_shape=data.x_shape,
            device=device,
            data_bytes=data_bytes,
            build_one=lambda: reg.build(options, ctx.with_(seeds=1)),
        )


CPU_BATCHING_LIMIT = 250_000
"""Parameters per seed up to which batched seeds train faster on the CPU (benchmarks/README.md: a 106k-parameter
MLP trains 1.7x faster batched, a 342k one 0.95x, the App. A image networks 0.6-1.1x)."""


def planned_device(name: str) -> torch.device:
    """The device a spec's ``device`` names, for plans (memory, batching): a GPU this machine lacks plans as the
    CPU (refusing it is `resolve_device`'s error, not this one)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    return device if device.type != "cuda" or torch.cuda.is_available() else torch.device("cpu")


def seeds_together(batch_seeds: bool | str, seeds: int, per_seed: int, device: torch.device) -> int:
    """How many seeds one model holds while training: all of them where they are batched (`seed_groups`)."""
    if batch_seeds == "auto":
        batch_seeds = device.type == "cuda" or per_seed <= CPU_BATCHING_LIMIT
    return seeds if batch_seeds else 1


def split_bytes(data: DataSplits) -> int:
    """Bytes of every tensor of both splits."""
    tensors = [t for split in (data.train, data.eval) for t in (split.x, split.u, split.s) if t is not None]
    return sum(t.numel() * t.element_size() for t in tensors)


def build_model(reg: Registry, options: Any, data: DataSplits, seeds: list[int], label: str) -> torch.nn.Module:
    """The model for ``seeds`` (one seed axis entry each), initialised per seed; errors name the model.

    It is first built on the meta device, so that one too large for this machine is refused without
    allocating it (`build_seeded` holds each seed's copy and the stacked model at once: twice the weights).
    A fitted peer (`ica.components.peers.FittedPeer`) is built for one seed only: it has no seed axis, so
    asking for more is `NotBatchable`.
    """
    ctx = model_context(data)
    shapes = on_meta(lambda: reg.build(options, ctx.with_(seeds=len(seeds))), f"models.{label}", len(seeds))
    if shapes is not None and not is_fitted_peer(shapes):
        check_model_memory(
            shapes,
            label=label,
            seeds=len(seeds),
            batch=0,
            x_shape=data.x_shape,
            device=torch.device("cpu"),
            copies=2 if len(seeds) > 1 else 1,
        )

    def build(n: int) -> torch.nn.Module:
        with module_budget(f"models.{label}", n):  # a plugin that cannot be built on meta is guarded here
            model = reg.build(options, ctx.with_(seeds=n))
        if n > 1 and is_fitted_peer(model):
            raise NotBatchable(f"{type(model).__name__} is a fitted estimator, with no seed axis")
        if n > 1:
            check_seed_axis(model, n)
        return model

    try:
        model = build_seeded(build, seeds)
    except IcaError as exc:
        raise type(exc)(exc.message, where=f"models.{label}") from None
    except Exception as exc:
        if not out_of_memory(exc):
            raise
        raise SpecError(
            f"there is not enough memory to build this model ({type(exc).__name__}: {str(exc)[:160]}); make it smaller",
            where=f"models.{label}",
        ) from None
    likelihood = getattr(model, "likelihood", None)
    if getattr(likelihood, "discrete", False) and data.info.get("standardized"):
        raise SpecError(
            "a discrete likelihood scores pixel levels in [0, 1]; it cannot be used with "
            "'standardize': true, which moves the data off those levels",
            where=f"models.{label}.likelihood",
        )
    return model


def build_metrics(spec: ExperimentSpec, reg: Registry, data: DataSplits) -> list[tuple[str, Any]]:
    """The metrics to compute: those named, or every registered one that applies to this data; the evaluation
    points must be enough for those that fit on a part of them and score on the rest."""
    ctx = BuildContext()
    has_sources = data.eval.s is not None
    if spec.evaluation.metrics is None:
        metrics = [(component_of(o)[1], reg.build(o, ctx), o) for o in default_metric_options(reg)]
        metrics = [(n, m, o) for n, m, o in metrics if requirements_met(m, {"requires_sources": has_sources})]
    else:
        metrics = []
        for i, options in enumerate(spec.evaluation.metrics):
            metric = reg.build(options, ctx)
            name = component_of(options)[1]
            if getattr(metric, "requires_sources", False) and not has_sources:
                raise SpecError(
                    f"{name} needs ground-truth sources and the data set has none", where=f"evaluation.metrics[{i}]"
                )
            metrics.append((name, metric, options))
    check_evaluation_points(spec, data, [o for _, _, o in metrics])
    return [(n, m) for n, m, _ in metrics]


def default_metric_options(reg: Registry) -> list[Any]:
    """Every registered metric with its default options, but those that say ``by_default = False`` (computed only
    when a spec names them): a spec's metrics when it names none."""
    options = [spec_models(reg).default("metric", c.name) for c in reg.of_kind("metric")]
    return [o for o in options if getattr(reg.build(o, BuildContext()), "by_default", True)]


def requirements_met(metric: Any, present: dict[str, bool]) -> bool:
    """Whether what ``present`` says is there meets each of those needs ``metric`` declares (its ``requires_*``
    attributes): a default metric list leaves out the metrics an evaluation cannot feed."""
    return all(present[need] or not getattr(metric, need, False) for need in present)
