"""Memory a spec will need, estimated before anything is allocated, against the memory there is.

A spec asking for 10^12 samples, hidden layers of 10^6 units or 10^9 latents must be one clear error
naming the field, not an allocation failure (or the kernel's OOM killer) part-way through. Data sets
say what they will take (`ica.plugin.DatasetOptions.estimated_bytes`); models are built on PyTorch's
``meta`` device, which records shapes without allocating, to count their parameters; where those fit, one
seed's model is run on two examples to measure the activations one training step keeps for the backward
pass.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Any, Callable, Iterator

import torch
from torch import nn

from ica.errors import SpecError

TRAINED_COPIES = 4
"""Adam keeps four float tensors per parameter while training: the weights, their gradients and its two
moment estimates."""

BACKWARD_FACTOR = 2
"""Activations are kept for the backward pass, which makes gradients of about the same size."""


def human(n: float) -> str:
    """'1.5 GB' (powers of 1000, as people read file and memory sizes)."""
    for unit in ("bytes", "kB", "MB", "GB", "TB", "PB"):
        if abs(n) < 1000 or unit == "PB":
            return f"{n:,.0f} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1000
    return f"{n:.1f} PB"


def host_available() -> int | None:
    """Bytes of memory this machine can give without swapping (/proc/meminfo's MemAvailable), or None."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


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
        raise SpecError(f"the data set would take about {human(needed)} in memory, but {human(available)} is "
                        "available on this machine; use fewer samples, segments or dimensions", where="data")


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
        raise TooLarge(f"the model is too large to build: {exc} (the largest shipped model has 55 per seed); "
                        "check the counts in its options (layers, transforms, components)", where=where) from None
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
            raise TooLarge(f"sizes too large for any machine: {type(exc).__name__}: {str(exc)[:200]}",
                            where=where) from None
        return None
    except Exception:
        return None
    return module


def out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is an allocation that failed (or whose size overflowed) rather than a bug."""
    text = str(exc).lower()
    return isinstance(exc, MemoryError) or isinstance(exc, (RuntimeError, ValueError, OverflowError)) and \
        any(word in text for word in ("can't allocate", "cannot allocate", "unable to allocate", "out of memory",
                                      *OVERFLOW))


def parameter_count(module: nn.Module) -> int:
    """Scalar parameters of the whole module (every seed)."""
    return sum(p.numel() for p in module.parameters())


PROBE_BATCH = 2
"""Examples per seed in the forward pass that measures activations (as `ica.running.validate.dry_run` uses)."""


def activation_bytes(build_one: Callable[[], nn.Module], x_shape: tuple[int, ...], seeds: int,
                     batch: int) -> int | None:
    """Rough bytes one training step's forward pass keeps for ``seeds`` seeds of ``batch`` examples: the
    outputs of every leaf module of one seed's model (``build_one()``, real) on `PROBE_BATCH` examples,
    scaled to ``batch`` x ``seeds``. None where the model cannot run.

    Real tensors on the CPU, not meta ones: a forward pass on the meta device goes through PyTorch's Python
    decompositions, which import torch._dynamo and sympy (about 1.5 s added to every process that checks a
    spec). Only called once the weights are known to fit, so building one seed's model is affordable."""
    from ica.components.protocols import Batch

    if batch < 1:
        return None
    total = 0

    def count(_module: nn.Module, _inputs: Any, output: Any) -> None:
        nonlocal total
        for t in output if isinstance(output, (tuple, list)) else (output,):
            if isinstance(t, torch.Tensor):
                total += t.numel() * t.element_size()

    try:
        with torch.random.fork_rng(devices=[]):  # the seeds' own initialisations must not move
            model = build_one()
        hooks = [m.register_forward_hook(count) for m in model.modules() if not list(m.children())]
        n = min(PROBE_BATCH, batch)
        shape = model.noise_shape(n)
        noise = None if shape is None else torch.zeros(1, *shape)
        with torch.no_grad():
            model.loss(Batch(torch.zeros(1, n, *x_shape), torch.zeros(1, n, dtype=torch.long)), noise)
    except Exception:
        return None
    finally:
        for h in locals().get("hooks", []):
            h.remove()
    return total * batch * seeds // n * BACKWARD_FACTOR


def check_model_memory(model: nn.Module, *, label: str, seeds: int, batch: int, x_shape: tuple[int, ...],
                       device: torch.device, data_bytes: int = 0, copies: int = TRAINED_COPIES,
                       build_one: Callable[[], nn.Module] | None = None) -> None:
    """Refuse a model whose training would need more memory than ``device`` has free: parameters (for
    ``seeds`` seeds trained together) times ``copies`` (`TRAINED_COPIES`), one step's activations on
    ``batch`` examples (measured on one seed's model from ``build_one``, once the weights fit; not counted
    without it), and the data where it is copied onto the device (``data_bytes``)."""
    params = parameter_count(model)
    weights = params * 4 * copies
    available, where = device_available(device)
    if available is None:
        return
    activations = 0
    if weights + data_bytes <= available and build_one is not None:  # only then is one seed's model affordable
        activations = activation_bytes(build_one, x_shape, seeds, batch) or 0
    needed = weights + activations + data_bytes
    if needed <= available:
        return
    why = "weights, gradients and Adam's two moments" if copies == TRAINED_COPIES else \
        "each seed built alone, then stacked"
    seed_text = "1 seed" if seeds == 1 else f"{seeds} seeds trained together"
    parts = [f"{human(weights)} for {params:,} parameters x{copies} ({why}) for {seed_text}"]
    if activations:
        parts.append(f"{human(activations)} for one step's activations")
    if data_bytes:
        parts.append(f"{human(data_bytes)} for the data")
    what = "training" if copies == TRAINED_COPIES else "building the model"
    fix = "make the model smaller" if seeds == 1 else \
        "make the model smaller, or train its seeds one at a time (training.batch_seeds: false)"
    raise SpecError(f"{what} would need about {human(needed)} of memory ({', '.join(parts)}), but only "
                    f"{human(available)} is available on {where}; {fix}", where=f"models.{label}")
