"""Memory a spec will need, estimated before anything is allocated, against the memory there is.

A spec asking for 10^12 samples, hidden layers of 10^6 units or 10^9 latents must be one clear error
naming the field, not an allocation failure (or the kernel's OOM killer) part-way through. Data sets
say what they will take (`ica.plugin.DatasetOptions.estimated_bytes`); models are built on PyTorch's
``meta`` device, which records shapes without allocating, to count their parameters; where those fit, one
seed's model computes its loss on two and on four examples while autograd's saved tensors are counted: the
activations one training step keeps for the backward pass, the intermediates of a mixture prior's density
included, extended to the batch. ``ica validate`` and ``ica run`` both decide through `check_model_memory`.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, Iterator, NamedTuple, cast

import torch
from torch import nn

from ica.components.memory import format_bytes, host_available
from ica.errors import SpecError

TRAINED_COPIES = 4
"""Adam keeps four float tensors per parameter while training: the weights, their gradients and its two
moment estimates."""

BACKWARD_FACTOR = 2
"""Activations are kept for the backward pass, which makes gradients of about the same size."""


def device_available(device: torch.device) -> tuple[int | None, str]:
    """Free bytes on ``device`` and how to name it in a message ('this machine', 'cuda:0')."""
    if device.type == "cuda":
        try:
            free, _total = torch.cuda.mem_get_info(device)
            return int(free), f"{device} (free)"
        except Exception:  # no driver, or a device index that does not exist: the run reports it
            return None, str(device)
    return host_available(), "this machine (MemAvailable)"


def check_data_memory(options: Any) -> None:
    """Refuse a data set that cannot fit in memory, from its own estimate and before it is built."""
    estimate = getattr(options, "estimated_bytes", None)
    try:
        needed = estimate() if callable(estimate) else None
    except Exception:  # an estimate is a courtesy: a broken one must not stop a data set that would load
        needed = None
    if needed is None:
        return
    available = host_available()
    if available is not None and needed > available:
        raise SpecError(
            f"the data set would take about {format_bytes(needed)} in memory, but "
            f"{format_bytes(available)} is available on this machine; use fewer samples, segments or "
            "dimensions",
            where="data",
        )


OVERFLOW = ("overflow", "too big", "too large", "exceeds")
"""How PyTorch and numpy say that a shape's size cannot even be computed (10^18 units in a layer)."""


MAX_MODULES = 10_000
"""Sub-modules one seed's model may create while being built: the largest shipped ones (GMM-Flow, the
ResNet VaDE) have 55, so more means a count in its options (layers, transforms) beyond any model, which
would otherwise keep building, one small module after another, for ever."""


class TooManyModules(Exception):
    """Raised from inside a build that registers more than `MAX_MODULES` sub-modules."""


class TooLarge(SpecError):
    """A model that no machine could build (`module_budget`, or sizes that overflow)."""


@contextmanager
def module_budget(where: str, seeds: int = 1) -> Iterator[None]:
    """Within the block, creating more than `MAX_MODULES` modules per seed is a SpecError naming ``where``
    (raised from inside the build, which would otherwise not end). Plugins that cannot be built on the
    meta device are guarded this way while they are built for real."""
    limit, count = MAX_MODULES * max(1, seeds), 0

    def hook(_module: nn.Module, _name: str, _submodule: nn.Module | None) -> None:
        nonlocal count
        count += 1
        if count > limit:
            raise TooManyModules(f"it creates more than {limit:,} modules")

    handle = torch.nn.modules.module.register_module_module_registration_hook(hook)
    try:
        yield
    except TooManyModules as exc:
        raise TooLarge(
            f"the model is too large to build: {exc} (the largest shipped model has 55 per seed); "
            "check the counts in its options (layers, transforms, components)",
            where=where,
        ) from None
    finally:
        handle.remove()


def on_meta(build: Callable[[], nn.Module], where: str, seeds: int = 1) -> nn.Module | None:
    """``build()`` on the meta device (shapes only, nothing allocated), or None where a plugin cannot be
    built there (it computes with its tensors' values while building). Sizes whose byte count overflows
    even on meta, and builds of more than `MAX_MODULES` modules per seed, are refused (naming ``where``):
    no machine could build them."""
    try:
        with module_budget(where, seeds), torch.device("meta"):
            module = build()
    except TooLarge:
        raise
    except (RuntimeError, ValueError, OverflowError, MemoryError) as exc:
        if any(word in str(exc).lower() for word in OVERFLOW):
            raise TooLarge(
                f"sizes too large for any machine: {type(exc).__name__}: {str(exc)[:200]}", where=where
            ) from None
        return None
    except Exception:
        return None
    return module


def out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is an allocation that failed (or whose size overflowed) rather than a bug."""
    text = str(exc).lower()
    return (
        isinstance(exc, MemoryError)
        or isinstance(exc, (RuntimeError, ValueError, OverflowError))
        and any(
            word in text
            for word in ("can't allocate", "cannot allocate", "unable to allocate", "out of memory", *OVERFLOW)
        )
    )


def parameter_count(module: nn.Module) -> int:
    """Scalar parameters of the whole module (every seed)."""
    return sum(p.numel() for p in module.parameters())


PROBE_BATCHES = (2, 4)
"""Examples per seed in the two forward passes that measure activations (the first as
`ica.running.validate.dry_run` uses): what a step keeps grows linearly with its batch, so two sizes tell
what each example adds from what every step keeps whatever its size (a flow's masked weights, say)."""


class Activations(NamedTuple):
    """What one training step's forward pass keeps for the backward pass, in bytes; ``partial``: the
    measurement stopped once it passed the memory there is, so the step needs more than ``bytes``."""

    bytes: int
    partial: bool = False


class _Enough(Exception):
    """Raised from inside a measuring forward pass once what it keeps passes its limit."""


def saved_bytes(model: nn.Module, x_shape: tuple[int, ...], n: int, limit: float) -> tuple[int, int]:
    """Bytes of the tensors autograd saves for the backward pass while ``model`` computes its loss on ``n``
    zero examples of one seed, and of the largest of them: the activations a training step holds, every
    intermediate of a mixture's density included, its parameters and buffers not (they are counted as
    weights). Raises `_Enough` once they pass ``limit``, so that measuring a model too large for memory stops
    early."""
    from ica.components.protocols import Batch, Model
    from ica.components.sequences import reads_pairs

    own = {t.untyped_storage()._cdata for t in (*model.parameters(), *model.buffers())}
    held: dict[int, Any] = {}  # the storages themselves: a freed one's address cannot be reused while measuring
    total = largest = 0

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        nonlocal total, largest
        storage = tensor.untyped_storage()
        key = storage._cdata
        if key not in own and key not in held:
            held[key] = storage
            total += storage.nbytes()
            largest = max(largest, storage.nbytes())
            if total > limit:
                raise _Enough
        return tensor

    trained = cast(Model, model)  # a model plugin's module: it keeps the training contract
    shape = trained.noise_shape(n)
    noise = None if shape is None else torch.zeros(1, *shape)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        x = torch.zeros(1, n, *x_shape)
        trained.loss(Batch(x, torch.zeros(1, n, dtype=torch.long), x.clone() if reads_pairs(model) else None), noise)
    return total, largest


def at_batch(measured: list[tuple[int, int]], batch: int) -> float:
    """A size measured at two batch sizes ``(n, bytes)``, extended linearly to ``batch``: what each example adds,
    plus what every step keeps whatever its batch."""
    (n1, b1), (n2, b2) = measured[0], measured[-1]
    per_example = max((b2 - b1) / (n2 - n1) if n2 > n1 else b1 / n1, 0.0)
    return max(b1 - per_example * n1, 0.0) + per_example * batch


def activation_bytes(
    build_one: Callable[[], nn.Module], x_shape: tuple[int, ...], seeds: int, batch: int, budget: float = float("inf")
) -> Activations | None:
    """Bytes one training step's activations take for ``seeds`` seeds of ``batch`` examples: what autograd
    keeps for the backward pass (`saved_bytes`) on one seed's model (``build_one()``, real) at the two
    `PROBE_BATCHES` sizes, extended linearly to ``batch``, times `BACKWARD_FACTOR`, plus one more of the
    largest (a temporary of its size lives beside them while it is computed), for each of ``seeds``.
    Past ``budget`` the measurement stops (a partial answer, already beyond it); an allocation that fails
    while measuring is one too. None where the model cannot run.

    Real tensors on the CPU, not meta ones: a forward pass on the meta device goes through PyTorch's Python
    decompositions, which import torch._dynamo and sympy (about 1.5 s added to every process that checks a
    spec). Only called once the weights are known to fit, so building one seed's model is affordable."""
    if batch < 1:
        return None
    limit = budget / (seeds * BACKWARD_FACTOR)  # a lower bound of what the step needs passes the budget there
    measured = []
    try:
        with torch.random.fork_rng(devices=[]):  # the seeds' own initialisations must not move
            model = build_one()
            for n in sorted({min(p, batch) for p in PROBE_BATCHES}):
                measured.append((n, *saved_bytes(model, x_shape, n, limit)))
    except _Enough:
        return Activations(int(budget), partial=True)
    except Exception as exc:
        return Activations(int(budget), partial=True) if out_of_memory(exc) else None
    kept = at_batch([(n, total) for n, total, _ in measured], batch)
    largest = at_batch([(n, big) for n, _, big in measured], batch)
    return Activations(int((kept * BACKWARD_FACTOR + largest) * seeds))


def check_model_memory(
    model: nn.Module,
    *,
    label: str,
    seeds: int,
    batch: int,
    x_shape: tuple[int, ...],
    device: torch.device,
    data_bytes: int = 0,
    copies: int = TRAINED_COPIES,
    build_one: Callable[[], nn.Module] | None = None,
) -> None:
    """Refuse a model whose training would need more memory than ``device`` has free: parameters (for
    ``seeds`` seeds trained together) times ``copies`` (`TRAINED_COPIES`), one step's activations on
    ``batch`` examples (measured on one seed's model from ``build_one``, once the weights fit; not counted
    without it), and the data where it is copied onto the device (``data_bytes``)."""
    params = parameter_count(model)
    weights = params * 4 * copies
    available, where = device_available(device)
    if available is None:
        return
    measured = None
    if weights + data_bytes <= available and build_one is not None:  # only then is one seed's model affordable
        measured = activation_bytes(build_one, x_shape, seeds, batch, budget=available - weights - data_bytes)
    activations, partial = measured if measured is not None else (0, False)
    needed = weights + activations + data_bytes
    if needed <= available and not partial:
        return
    why = (
        "weights, gradients and Adam's two moments"
        if copies == TRAINED_COPIES
        else "each seed built alone, then stacked"
    )
    seed_text = "1 seed" if seeds == 1 else f"{seeds} seeds trained together"
    parts = [f"{format_bytes(weights)} for {params:,} parameters x{copies} ({why}) for {seed_text}"]
    if partial:
        parts.append(
            f"more than the {format_bytes(activations)} left for one step's activations on {batch} examples per seed"
        )
    elif activations:
        parts.append(f"{format_bytes(activations)} for one step's activations on {batch} examples per seed")
    if data_bytes:
        parts.append(f"{format_bytes(data_bytes)} for the data")
    what = "training" if copies == TRAINED_COPIES else "building the model"
    fix = "make the model or training.batch_size smaller" if activations > weights else "make the model smaller"
    if seeds > 1:
        fix += ", or train its seeds one at a time (training.batch_seeds: false)"
    amount = f"more than {format_bytes(available)}" if partial else f"about {format_bytes(needed)}"
    raise SpecError(
        f"{what} would need {amount} of memory ({', '.join(parts)}), but only "
        f"{format_bytes(available)} is available on {where}; {fix}",
        where=f"models.{label}",
    )
