"""``ica.load``: one model of a finished run, rebuilt from the run directory through the registry.

The run's ``spec.json`` says what to build and ``preprocessing.json`` what for: the shapes that size the
networks and what training did to x and u, so the data set is not built again (a run written before that
file existed builds it again from the spec, as ``ica run`` built it). Each seed's ``model.safetensors`` is
loaded into a model built for the seeds asked for, batched when the model can be. Everything that can be
wrong -- not a run, a grid without a cell named, an unknown label, unfinished seeds, a plugin that is not
installed, weights that do not fit the spec, a file of a later ica -- is one `IcaError` naming it.

Nothing is trusted unread: ``spec.json``'s ``spec_hash`` must be the digest of the rest of it, and each seed's
result.json records the SHA-256 of the spec, the preprocessing and its weights when it finished
(`ica.rundir.digests`); a file that no longer matches -- edited, swapped with another seed's, copied from another
run -- is refused by name, and so are weights that are not finite. A run written before those records loads with
one `UnverifiedRunWarning` saying its files cannot be verified.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Sequence

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_tensors

from ica.components.registry import Registry, registry
from ica.errors import IcaError, SpecError, UnverifiedRunWarning
from ica.rundir.damage import PREPROCESSING_ADVICE, SPEC_ADVICE, WEIGHTS_ADVICE, damaged, read_bytes
from ica.rundir.digests import PREPROCESSING, check_rebuilt_from, read_as_recorded
from ica.rundir.json_files import read_preprocessing, read_result, read_run_spec
from ica.rundir.layout import RunLayout
from ica.rundir.schemas import PreprocessingFile, ResultFile
from ica.running.batching import seed_groups
from ica.running.building import prepare_data, resolve_device
from ica.running.preprocessing import record, shell
from ica.running.claims import GRID_FILE
from ica.spec.load import json_digest, load_spec
from ica.trained.inputs import Inputs
from ica.trained.model import TrainedModel
from ica.spec.experiment import ExperimentSpec


def load(
    run_dir: str | Path,
    model: str | None = None,
    seeds: Sequence[int] | None = None,
    *,
    device: str = "cpu",
    reg: Registry | None = None,
) -> TrainedModel:
    """The trained model ``model`` of the run in ``run_dir`` (a grid's cell: its sub-directory).

    Args:
        run_dir: the run directory ``ica run`` wrote.
        model: the model's label in the spec; may be omitted when the run has one model.
        seeds: which seeds to load (default: all of the spec's, which must all be finished).
        device: ``"cpu"``, ``"cuda"`` or ``"auto"``, where the model encodes.
    """
    reg = reg or registry()
    layout = RunLayout(Path(run_dir))
    spec, spec_bytes = _run_spec(layout, reg)
    label = _label(spec, model)
    results = _finished_results(layout, spec, label, seeds)
    chosen = list(results)
    for seed, result in results.items():
        check_rebuilt_from(layout.spec, spec_bytes, result.rebuilt_from, layout.seed(label, seed).result)
    pre = _preprocessing(layout, spec, reg, {layout.seed(label, s).result: r for s, r in results.items()})
    _say_if_unverified(layout, label, results)
    options = spec.models[label]
    target = resolve_device(device)
    modules = seed_groups(reg, options, shell(pre), chosen, True, label, on_event=lambda *args, **info: None)
    groups = [(group, _loaded(module, layout, label, group, results).to(target).eval()) for group, module in modules]
    module = groups[0][1]
    needs_u = bool(getattr(module, "needs_u", False)) and bool(getattr(module, "represents_with_u", True))
    inputs = Inputs.of(label, pre, needs_u)  # TCL trains on u and represents without it
    return TrainedModel(label=label, seeds=chosen, groups=groups, inputs=inputs, spec=spec, device=target)


def _preprocessing(
    layout: RunLayout, spec: ExperimentSpec, reg: Registry, results: dict[Path, ResultFile]
) -> PreprocessingFile:
    """The run's ``preprocessing.json``, checked against every seed's record of it; for a run written before it
    existed, the same facts from its data set built again (the spec's data must then still be there)."""
    if layout.preprocessing.exists():
        raw = read_bytes(layout.preprocessing, PREPROCESSING_ADVICE)
        pre = read_preprocessing(layout.preprocessing, raw)  # first: a later ica's format is said as such
        for path, result in results.items():
            check_rebuilt_from(layout.preprocessing, raw, result.rebuilt_from, path)
        return pre
    recorded = [path for path, result in results.items() if PREPROCESSING in (result.rebuilt_from or {})]
    if recorded:
        raise damaged(
            layout.preprocessing,
            f"it is missing, though {recorded[0]} records the one the seed was trained with",
            "restore it (the model cannot be rebuilt without it)",
        )
    return PreprocessingFile.model_validate(record(prepare_data(spec, reg)))


def _run_spec(layout: RunLayout, reg: Registry) -> tuple[Any, bytes]:
    """The run's validated spec and the bytes of its spec.json, whose ``spec_hash`` must match the rest."""
    if not layout.root.is_dir():
        raise IcaError("is not a directory", where=str(layout.root))
    if not layout.spec.exists():
        if (layout.root / GRID_FILE).exists():
            raise IcaError(
                "is a grid: load one of its cells, by its sub-directory (see grid.json)", where=str(layout.root)
            )
        raise IcaError("is not a run directory (it has no spec.json)", where=str(layout.root))
    raw = read_bytes(layout.spec, SPEC_ADVICE)
    recorded = read_run_spec(layout.spec, raw)
    data = recorded.plain()
    if data.get("scored") is True:
        raise IcaError(
            "holds embeddings scored by `ica score`, not trained models: there is no model to load",
            where=str(layout.root),
        )
    data = {k: v for k, v in data.items() if k != "spec_hash"}
    if json_digest(data) != recorded.spec_hash:
        raise damaged(
            layout.spec,
            f"its spec_hash {recorded.spec_hash!r} is not the digest of the spec it holds "
            f"({json_digest(data)!r}): one of them was edited after the run was made",
            SPEC_ADVICE,
        )
    try:
        return load_spec(data, reg), raw
    except SpecError as exc:
        raise SpecError(
            f"{exc.message} (is the plugin this run was trained with installed? `ica list` shows what is)",
            where=f"{layout.spec}: {exc.where}" if exc.where else str(layout.spec),
        ) from None


def _label(spec: ExperimentSpec, model: str | None) -> str:
    labels = list(spec.models)
    if model is None:
        if len(labels) == 1:
            return labels[0]
        raise IcaError(f"the run has {len(labels)} models ({', '.join(labels)}): name one", where="model")
    if model not in spec.models:
        raise IcaError(f"the run has no model {model!r} (it has {', '.join(labels)})", where="model")
    return model


def _finished_results(
    layout: RunLayout, spec: ExperimentSpec, label: str, seeds: Sequence[int] | None
) -> dict[int, ResultFile]:
    """The result.json of each seed asked for (default: all of the spec's), in order; each must be finished."""
    known = list(spec.seed_list)
    chosen = known if seeds is None else [int(s) for s in seeds]
    if not chosen:
        raise IcaError("no seeds were asked for", where="seeds")
    unknown = [s for s in chosen if s not in known]
    if unknown or len(set(chosen)) != len(chosen):
        raise IcaError(f"seeds {chosen} are not distinct seeds of the run (it has {known})", where="seeds")
    results = {}
    for seed in chosen:
        files = layout.seed(label, seed)
        if not files.result.exists():
            raise IcaError(
                f"seed {seed} of {label!r} has not finished training (no result.json): finish the run "
                "with `ica run`, or load other seeds",
                where=str(files.root),
            )
        result = read_result(files.result)
        if result.peer:
            raise IcaError(
                f"{label!r} is a fitted peer ({result.peer}), not a network: it has no weights to load; its "
                "latents are in each seed's latents.npz (`ica score` compares them)",
                where=str(files.root),
            )
        if result.status != "finished":
            raise IcaError(
                f"seed {seed} of {label!r} failed in training ({result.error or 'no weights'}): load other seeds",
                where=str(files.root),
            )
        results[seed] = result
    return results


def _say_if_unverified(layout: RunLayout, label: str, results: dict[int, ResultFile]) -> None:
    """One warning for seeds whose result.json records no digests (written by an ica before it recorded them)."""
    old = [seed for seed, result in results.items() if result.rebuilt_from is None]
    if old:
        warnings.warn(
            f"{layout.root}: the files of {label!r} (seeds {', '.join(map(str, old))}) cannot be verified: "
            "the run was written by an earlier ica, which recorded no digests of its spec, preprocessing "
            "and weights",
            UnverifiedRunWarning,
            stacklevel=3,
        )


def _loaded(
    module: torch.nn.Module, layout: RunLayout, label: str, seeds: list[int], results: dict[int, ResultFile]
) -> torch.nn.Module:
    """``module`` with each seed's saved weights (stacked along the seed axis for several seeds), each file
    checked against its seed's record and refused when not finite."""
    states = [_weights(layout, label, seed, results[seed]) for seed in seeds]
    shapes = {k: v.shape for k, v in states[0].items()}
    for seed, state in zip(seeds[1:], states[1:]):
        if {k: v.shape for k, v in state.items()} != shapes:
            raise IcaError(
                f"its weights do not have the names and shapes of seed {seeds[0]}'s, so one of the two "
                "holds another model's weights; restore each seed's own weights, or delete the wrong "
                "one's result.json to train it again",
                where=str(layout.seed(label, seed).weights),
            )
    where = str(layout.seed(label, seeds[0]).weights) if len(seeds) == 1 else str(layout.cell(label))
    try:
        state = states[0] if len(seeds) == 1 else {k: torch.cat([s[k] for s in states]) for k in states[0]}
        module.load_state_dict(state, strict=True)
    except (RuntimeError, KeyError) as exc:
        raise IcaError(
            f"the saved weights do not fit the model the spec builds ({str(exc).splitlines()[0][:200]});"
            " was the run trained with another version of the plugin?",
            where=where,
        ) from None
    return module


def _weights(layout: RunLayout, label: str, seed: int, result: ResultFile) -> dict[str, torch.Tensor]:
    """One seed's ``model.safetensors``: its recorded digest checked, then its tensors, which must be finite."""
    files = layout.seed(label, seed)
    path = files.weights
    raw = read_as_recorded(path, result.rebuilt_from, files.result, WEIGHTS_ADVICE)
    try:
        state = load_tensors(raw)
    except (OSError, SafetensorError, ValueError) as exc:
        raise IcaError(
            f"cannot read the weights ({exc}); train the seed again (delete its result.json)", where=str(path)
        ) from None
    for name, tensor in state.items():
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise damaged(
                path,
                f"the weight {name!r} holds non-finite values (NaN or infinity), which no finished seed has",
                WEIGHTS_ADVICE,
            )
    return state
