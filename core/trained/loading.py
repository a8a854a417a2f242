"""``ica.load``: one model of a finished run, rebuilt from the run directory through the registry.

The run's ``spec.json`` says what to build and ``preprocessing.json`` what for: the shapes that size the
networks and what training did to x and u, so the data set is not built again (a run written before that
file existed builds it again from the spec, as ``ica run`` built it). Each seed's ``model.safetensors`` is
loaded into a model built for the seeds asked for, batched when the model can be. Everything that can be
wrong -- not a run, a grid without a cell named, an unknown label, unfinished seeds, a plugin that is not
installed, weights that do not fit the spec, a file of a later ica -- is one `IcaError` naming it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from ica.components.registry import Registry, registry
from ica.errors import IcaError, SpecError
from ica.rundir.json_files import read_preprocessing, read_result, read_run_spec
from ica.rundir.layout import RunLayout
from ica.rundir.schemas import PreprocessingFile
from ica.running.batching import seed_groups
from ica.running.building import prepare_data, resolve_device
from ica.running.preprocessing import record, shell
from ica.running.claims import GRID_FILE
from ica.spec.load import load_spec
from ica.trained.inputs import Inputs
from ica.trained.model import TrainedModel


def load(run_dir: str | Path, model: str | None = None, seeds: Sequence[int] | None = None, *,
         device: str = "cpu", reg: Registry | None = None) -> TrainedModel:
    """The trained model ``model`` of the run in ``run_dir`` (a grid's cell: its sub-directory).

    Args:
        run_dir: the run directory ``ica run`` wrote.
        model: the model's label in the spec; may be omitted when the run has one model.
        seeds: which seeds to load (default: all of the spec's, which must all be finished).
        device: ``"cpu"``, ``"cuda"`` or ``"auto"``, where the model encodes.
    """
    reg = reg or registry()
    layout = RunLayout(Path(run_dir))
    spec = _run_spec(layout, reg)
    label = _label(spec, model)
    chosen = _seeds(layout, spec, label, seeds)
    pre = _preprocessing(layout, spec, reg)
    options = spec.models[label]
    target = resolve_device(device)
    modules = seed_groups(reg, options, shell(pre), chosen, True, label, on_event=lambda *args, **info: None)
    groups = [(group, _loaded(module, layout, label, group).to(target).eval()) for group, module in modules]
    inputs = Inputs.of(label, pre, bool(getattr(groups[0][1], "needs_u", False)))
    return TrainedModel(label=label, seeds=chosen, groups=groups, inputs=inputs, spec=spec, device=target)


def _preprocessing(layout: RunLayout, spec: Any, reg: Registry) -> PreprocessingFile:
    """The run's ``preprocessing.json``; for a run written before it existed, the same facts from its data set
    built again (the spec's data must then still be there)."""
    if layout.preprocessing.exists():
        return read_preprocessing(layout.preprocessing)
    return PreprocessingFile.model_validate(record(prepare_data(spec, reg)))


def _run_spec(layout: RunLayout, reg: Registry) -> Any:
    if not layout.root.is_dir():
        raise IcaError("is not a directory", where=str(layout.root))
    if not layout.spec.exists():
        if (layout.root / GRID_FILE).exists():
            raise IcaError("is a grid: load one of its cells, by its sub-directory (see grid.json)",
                           where=str(layout.root))
        raise IcaError("is not a run directory (it has no spec.json)", where=str(layout.root))
    _, data = read_run_spec(layout.spec)
    if data.get("scored") is True:
        raise IcaError("holds embeddings scored by `ica score`, not trained models: there is no model to load",
                       where=str(layout.root))
    data = {k: v for k, v in data.items() if k != "spec_hash"}
    try:
        return load_spec(data, reg)
    except SpecError as exc:
        raise SpecError(f"{exc.message} (is the plugin this run was trained with installed? `ica list` shows "
                        "what is)", where=f"{layout.spec}: {exc.where}" if exc.where else str(layout.spec)) from None


def _label(spec: Any, model: str | None) -> str:
    labels = list(spec.models)
    if model is None:
        if len(labels) == 1:
            return labels[0]
        raise IcaError(f"the run has {len(labels)} models ({', '.join(labels)}): name one", where="model")
    if model not in spec.models:
        raise IcaError(f"the run has no model {model!r} (it has {', '.join(labels)})", where="model")
    return model


def _seeds(layout: RunLayout, spec: Any, label: str, seeds: Sequence[int] | None) -> list[int]:
    known = list(spec.seed_list)
    chosen = known if seeds is None else [int(s) for s in seeds]
    if not chosen:
        raise IcaError("no seeds were asked for", where="seeds")
    unknown = [s for s in chosen if s not in known]
    if unknown or len(set(chosen)) != len(chosen):
        raise IcaError(f"seeds {chosen} are not distinct seeds of the run (it has {known})", where="seeds")
    for seed in chosen:
        files = layout.seed(label, seed)
        if not files.result.exists():
            raise IcaError(f"seed {seed} of {label!r} has not finished training (no result.json): finish the run "
                           "with `ica run`, or load other seeds", where=str(files.root))
        result, raw = read_result(files.result)
        if raw.get("peer"):
            raise IcaError(f"{label!r} is a fitted peer ({raw['peer']}), not a network: it has no weights to load; its "
                           "latents are in each seed's latents.npz (`ica score` compares them)", where=str(files.root))
        if result.status != "finished":
            raise IcaError(f"seed {seed} of {label!r} failed in training ({result.error or 'no weights'}): load "
                           "other seeds", where=str(files.root))
    return chosen


def _loaded(module: torch.nn.Module, layout: RunLayout, label: str, seeds: list[int]) -> torch.nn.Module:
    """``module`` with each seed's saved weights (stacked along the seed axis for several seeds)."""
    states = []
    for seed in seeds:
        path = layout.seed(label, seed).weights
        try:
            states.append(load_file(str(path)))
        except (OSError, SafetensorError) as exc:
            raise IcaError(f"cannot read the weights ({exc}); train the seed again (delete its result.json)",
                           where=str(path)) from None
    state = states[0] if len(seeds) == 1 else {k: torch.cat([s[k] for s in states]) for k in states[0]}
    try:
        module.load_state_dict(state, strict=True)
    except (RuntimeError, KeyError) as exc:
        where = str(layout.seed(label, seeds[0]).weights) if len(seeds) == 1 else str(layout.cell(label))
        raise IcaError(f"the saved weights do not fit the model the spec builds ({str(exc).splitlines()[0][:200]});"
                       " was the run trained with another version of the plugin?", where=where) from None
    return module
