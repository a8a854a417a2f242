"""Seed-batching for ordinary modules: S copies of a module with no seed axis, held as ``[S, ...]`` tensors.

Third-party networks (a zuko flow, say) know nothing of the seed axis. `SeedStacked` makes one of them
honour the seed-batching contract (``ica.components.protocols``) without rewriting it: it builds S independent
copies, stacks their parameters and buffers into ``[S, ...]`` tensors registered on itself (so the
optimiser, ``check_seed_axis`` and checkpoints see them), and evaluates all S at once by substituting
seed i's tensors into one *template* copy with ``torch.func.functional_call``, vectorised over the seed
axis with ``torch.func.vmap``. The template lives on the ``meta`` device outside the module tree: it
holds the code, never numbers, and is never trained.

Initialisation is per copy and in order from the current RNG, so ``SeedStacked(make, 1)`` built under
seed k's RNG equals copy k of a stack built by ``ica.nn.seeding.build_seeded`` (which stacks singles
through ``state_dict``): parameter names and order are the template's, with ``[S, ...]`` shapes.

Limits: the wrapped module's computation must use only its parameters and buffers (a plain tensor
attribute would stay on ``meta`` and fail loudly), and randomness inside it is not supported under
vmap; ``vectorize=False`` evaluates the seeds one after another instead (same parameters, same results).
"""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch import Tensor, nn
from torch.func import functional_call, vmap


class _Call(nn.Module):
    """Runs ``fn(module, *inputs)`` as a forward pass, so `functional_call` can evaluate any function of it."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module

    def forward(self, fn: Callable[..., Any], *inputs: Any) -> Any:
        return fn(self.module, *inputs)


class _Shell(nn.Module):
    """A node of the mirror tree: holds the stacked tensors of one of the template's submodules."""

    def extra_repr(self) -> str:
        tensors = [*self._parameters.items(), *self._buffers.items()]
        return ", ".join(f"{k}: {list(v.shape)}" for k, v in tensors if v is not None)


class SeedStacked(nn.Module):
    """``seeds`` independent copies of ``make()``, stored stacked and evaluated together.

    Args:
        make: returns a fresh module (no seed axis); called ``seeds`` times, in order, from the current RNG.
            Every copy must have the same parameter and buffer names and shapes.
        seeds: S, the leading size of every stored tensor.
        vectorize: evaluate with ``vmap`` over the seed axis (one batched pass); False loops over seeds.
            A single seed is always a plain call (vmap over one seed only adds overhead).

    The stored tensors sit in ``self.module`` under the template's own names (``module.<name>``), with
    the template's ``requires_grad`` and buffer persistence.
    """

    _caller: _Call  # set in __init__ through __dict__, outside the module tree

    def __init__(self, make: Callable[[], nn.Module], seeds: int, *, vectorize: bool = True):
        super().__init__()
        if seeds < 1:
            raise ValueError(f"seeds must be at least 1, got {seeds}")
        copies = [make() for _ in range(seeds)]
        template = copies[0]
        self.seeds, self.vectorize = seeds, vectorize
        self.module = _Shell()  # a shell tree mirroring the template's, holding the stacked tensors
        states = [_tensors(c) for c in copies]
        for i, state in enumerate(states[1:], start=1):
            if {k: v.shape for k, v in state.items()} != {k: v.shape for k, v in states[0].items()}:
                raise ValueError(f"copy {i} of {type(template).__name__} differs in its parameters or buffers")
        self._slots: list[tuple[str, nn.Module, str]] = []  # (template name, owning shell, attribute)
        for name, tensor in states[0].items():
            stacked = torch.stack([s[name].detach() for s in states])
            owner_path, _, leaf = name.rpartition(".")
            owner = _shell(self.module, owner_path)
            if isinstance(tensor, nn.Parameter):
                owner.register_parameter(leaf, nn.Parameter(stacked, requires_grad=tensor.requires_grad))
            else:
                persistent = leaf not in template.get_submodule(owner_path)._non_persistent_buffers_set
                owner.register_buffer(leaf, stacked, persistent=persistent)
            self._slots.append((name, owner, leaf))
        # Outside the module tree (set through __dict__): not a submodule, its tensors are not ours.
        self.__dict__["_caller"] = _Call(template.to("meta"))

    @property
    def template(self) -> nn.Module:
        """The module whose code every seed runs (on ``meta``: shapes only)."""
        return self._caller.module

    def stacked_state(self) -> dict[str, Tensor]:
        """Every parameter and buffer, ``[S, ...]``, under the template's names."""
        # Read from the owners' tables on every call: `.to()` and `load_state_dict` may replace entries.
        return {name: _stored(owner, leaf) for name, owner, leaf in self._slots}

    def per_seed(self, fn: Callable[..., Any], *inputs: Any) -> Any:
        """``fn(module, *inputs_i)`` for every seed i with seed i's tensors, outputs stacked on a new axis 0.

        Tensor inputs carry the seed axis first (``[S, ...]``); other inputs are passed unchanged to
        every seed. ``fn`` returns a tensor or a tuple/list/dict of tensors.
        """
        state = self.stacked_state()
        seed_axis = tuple(0 if isinstance(x, Tensor) else None for x in inputs)
        if self.vectorize and self.seeds > 1:  # one seed: a plain call, without vmap's overhead

            def one_seed(seed_state: dict[str, Tensor], *seed_inputs: Any) -> Any:
                return functional_call(self._caller, _prefixed(seed_state), (fn, *seed_inputs), strict=True)

            return vmap(one_seed, in_dims=(0, *seed_axis))(state, *inputs)
        outputs = []
        for i in range(self.seeds):
            seed_state = {k: v[i] for k, v in state.items()}
            seed_inputs = [x[i] if axis == 0 else x for x, axis in zip(inputs, seed_axis)]
            outputs.append(functional_call(self._caller, _prefixed(seed_state), (fn, *seed_inputs), strict=True))
        return _stack(outputs)

    def forward(self, *inputs: Any) -> Any:
        """The template's forward for every seed: inputs and outputs ``[S, ...]``."""
        return self.per_seed(_forward, *inputs)

    def train(self, mode: bool = True) -> "SeedStacked":
        super().train(mode)
        self.template.train(mode)
        return self

    def extra_repr(self) -> str:
        how = "vmap" if self.vectorize else "loop"
        return f"template={type(self.template).__name__}, seeds={self.seeds}, evaluation={how}"


def _forward(module: nn.Module, *inputs: Any) -> Any:
    return module(*inputs)


def _tensors(module: nn.Module) -> dict[str, Tensor]:
    return {**dict(module.named_parameters()), **dict(module.named_buffers())}


def _shell(root: nn.Module, path: str) -> nn.Module:
    """The empty submodule of ``root`` at dotted ``path``, created on the way."""
    node = root
    for part in path.split(".") if path else []:
        child = node._modules.get(part)
        if child is None:
            child = _Shell()
            node.add_module(part, child)
        node = child
    return node


def _stored(owner: nn.Module, leaf: str) -> Tensor:
    """The stacked tensor an owning shell holds as ``leaf`` (a parameter or a buffer)."""
    tensor = owner._parameters[leaf] if leaf in owner._parameters else owner._buffers[leaf]
    if tensor is None:
        raise RuntimeError(f"the stacked tensor {leaf!r} was set to None")
    return tensor


def _prefixed(state: dict[str, Tensor]) -> dict[str, Tensor]:
    return {f"module.{k}": v for k, v in state.items()}


def _stack(outputs: list[Any]) -> Any:
    first = outputs[0]
    if isinstance(first, Tensor):
        return torch.stack(outputs)
    if isinstance(first, (tuple, list)):
        return type(first)(_stack(list(parts)) for parts in zip(*outputs))
    if isinstance(first, dict):
        return {k: _stack([o[k] for o in outputs]) for k in first}
    raise TypeError(f"cannot stack outputs of type {type(first).__name__} over seeds")
