"""A seed's checkpoint read back: loaded without running code from it, and checked before anything resumes.

`load_torch` loads it with ``weights_only``; `check_checkpoint` holds it against its format (`CHECKPOINT_FORMAT`),
its digest (`state_digest`) and what the trainer being resumed expects (`CheckpointExpectation`: shapes, dtypes,
sizes), and `check_group` against the other seeds of its group; a damaged one is a `RunFileError` naming it.
Used by `ica.training.loop.Trainer`. Writing checkpoints is `ica.rundir.writing.save_checkpoint`.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ica.errors import IcaError
from ica.rundir.damage import CHECKPOINT_ADVICE, RunFileError, damaged


# The layout of a checkpoint `ica.training.loop.Trainer` writes: a checkpoint of another format is refused.
CHECKPOINT_FORMAT = 1


def load_torch(path: Path) -> Any:
    """Load a checkpoint without executing code from it (``weights_only=True``)."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise IcaError(f"checkpoint is corrupt or unreadable ({type(exc).__name__}: {exc})", where=str(path)) from None


@dataclass(frozen=True)
class CheckpointExpectation:
    """What one seed's checkpoint must hold for a trainer to resume from it (`ica.training.loop.Trainer`): shapes and
    dtypes come from the model and optimiser being resumed, sizes from its sampler and generators."""

    seed: int
    total_steps: int
    model: dict[str, tuple[tuple[int, ...], Any]]  # key -> (this seed's shape, dtype)
    adam: list[tuple[tuple[int, ...], Any]]  # one per optimised parameter
    scheduler: bool
    perm_length: int  # the seed's sampler draws permutations of this many examples
    positions: int  # batches per epoch: the sampler's position lies in 0..positions
    order_state: tuple[int, str]  # (size of the generator state, device) of the sampler's generator
    noise_state: tuple[int, str]  # the same for the reparameterisation noise


class _Bad(Exception):
    pass


def check_checkpoint(state: Any, path: Path, expect: CheckpointExpectation) -> dict[str, Any]:
    """``state`` (loaded from ``path`` with ``weights_only``) as `ica.training.loop.Trainer.save_checkpoints` writes it,
    or a `RunFileError` naming the file and what is wrong. Nothing is loaded into a model before this passes,
    so a damaged checkpoint never half-resumes a run and never makes it start again over the files."""

    if not isinstance(state, dict):
        raise damaged(path, f"it holds a {type(state).__name__}, not an ica checkpoint (a dict)", CHECKPOINT_ADVICE)
    if state.get("format") != CHECKPOINT_FORMAT:
        raise RunFileError(
            f"{path.name} is not a checkpoint this version of ica can resume (format "
            f"{state.get('format')!r}, expected {CHECKPOINT_FORMAT}); nothing was changed: use the "
            "ica version that wrote it, or delete the seed's checkpoint*.pt and metrics.jsonl to "
            "train it from the start",
            where=str(path),
        )
    digest = state.get("digest")
    if digest is not None and digest != state_digest(state):
        raise damaged(path, "its contents differ from what was written (its digest does not match)", CHECKPOINT_ADVICE)
    try:
        _check_state(state, expect)
    except _Bad as exc:
        raise damaged(path, str(exc), CHECKPOINT_ADVICE) from None
    return state


def state_digest(state: dict[str, Any]) -> str:
    """SHA-256 of a checkpoint's contents (every tensor's dtype, shape and bytes; every other value's type and
    repr), less its ``digest``: a byte flipped inside a tensor loads without complaint, so it is checked here.
    Checkpoints written before digests were recorded have none and are checked by their schema only."""
    h = hashlib.sha256()
    _feed(h, {k: v for k, v in state.items() if k != "digest"})
    return h.hexdigest()


def _feed(h: Any, value: Any) -> None:
    if isinstance(value, torch.Tensor):
        t = value.detach().to("cpu").contiguous()
        h.update(f"T{t.dtype}{tuple(t.shape)}:".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    elif isinstance(value, dict):
        h.update(f"D{len(value)}:".encode())
        for key in sorted(value, key=repr):
            _feed(h, key)
            _feed(h, value[key])
    elif isinstance(value, (list, tuple)):
        h.update(f"L{len(value)}:".encode())
        for item in value:
            _feed(h, item)
    else:
        h.update(f"{type(value).__name__}:{value!r};".encode())


def _check_state(state: dict[str, Any], expect: CheckpointExpectation) -> None:
    seed = _integer(state, "seed")
    if seed != expect.seed:
        raise _Bad(f"it is seed {seed}'s checkpoint, in seed {expect.seed}'s directory")
    step = _integer(state, "step")
    if not 0 <= step <= expect.total_steps:
        raise _Bad(f"'step' is {step}, outside this run's 0..{expect.total_steps} steps")
    _check_model(_field(state, "model", dict), expect)
    _check_adam(_field(state, "adam", dict), expect, step)
    plateau = state.get("plateau")
    if expect.scheduler:
        plateau = _field(state, "plateau", dict, "the spec has a scheduler")
        _tensor(plateau, "best", (1,), "f", "plateau.")
        bad = _tensor(plateau, "bad", (1,), "i", "plateau.")
        if int(bad.min()) < 0:
            raise _Bad("'plateau.bad' is negative")
    elif plateau is not None:
        raise _Bad("it holds a scheduler's state, but the spec has no scheduler")
    _check_sampler(_field(state, "sampler", dict), expect)
    _generator(state, "noise", expect.noise_state, "")
    for window in ("log_window", "plateau_window"):
        _check_window(_field(state, window, dict), window, step)
    failed_at = state.get("failed_at", "missing")
    if failed_at is not None and not (_is_int(failed_at) and 0 <= failed_at <= step):
        raise _Bad(f"'failed_at' is {failed_at!r}, not None or a step up to {step}")
    loss = state.get("last_finite_loss", "missing")
    if loss is not None and not (_is_number(loss) and math.isfinite(loss)):
        raise _Bad(f"'last_finite_loss' is {loss!r}, not None or a finite number")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _field(state: dict[str, Any], key: str, kind: type, why: str = "", prefix: str = "") -> Any:
    if key not in state:
        raise _Bad(f"it has no '{prefix}{key}'" + (f" ({why})" if why else ""))
    value = state[key]
    if not isinstance(value, kind):
        raise _Bad(f"'{prefix}{key}' is a {type(value).__name__}, not a {kind.__name__}")
    return value


def _integer(state: dict[str, Any], key: str, prefix: str = "") -> int:
    value = state.get(key, "missing")
    if not _is_int(value):
        raise _Bad(f"'{prefix}{key}' is {_short(value)}, not a whole number")
    return value


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _tensor(state: dict[str, Any], key: str, shape: tuple[int, ...] | None, kinds: str | None, prefix: str = "") -> Any:
    """``state[key]``: a tensor of ``shape`` whose dtype is of ``kinds`` ('f' floating, 'i' integer, 'u' uint8;
    None: any)."""
    value = _field(state, key, torch.Tensor, prefix=prefix)
    kind = (
        "f"
        if value.dtype.is_floating_point
        else "u"
        if value.dtype == torch.uint8
        else "i"
        if not value.dtype.is_complex and value.dtype != torch.bool
        else "?"
    )
    if kinds is not None and kind not in kinds:
        raise _Bad(f"'{prefix}{key}' is a {value.dtype} tensor")
    if shape is not None and tuple(value.shape) != tuple(shape):
        raise _Bad(f"'{prefix}{key}' has shape {tuple(value.shape)}, expected {tuple(shape)}")
    return value


def _check_model(model: dict[str, Any], expect: CheckpointExpectation) -> None:
    missing = sorted(set(expect.model) - set(model))
    extra = sorted(set(model) - set(expect.model))
    if missing or extra:
        raise _Bad(
            "'model' does not fit this model: "
            + "; ".join(
                part
                for part in (
                    missing and f"missing {', '.join(missing[:3])}",
                    extra and f"unexpected {', '.join(map(str, extra[:3]))}",
                )
                if part
            )
        )
    for key, (shape, dtype) in expect.model.items():
        tensor = _tensor(model, key, shape, None, "model.")
        if tensor.dtype != dtype:
            raise _Bad(f"'model.{key}' is {tensor.dtype}, the model's is {dtype}")


def _check_adam(adam: dict[str, Any], expect: CheckpointExpectation, step: int) -> None:
    lr = _tensor(adam, "lr", (1,), "f", "adam.")
    if not (bool(torch.isfinite(lr).all()) and float(lr.min()) >= 0):
        raise _Bad("'adam.lr' is not a finite learning rate")
    adam_step = _integer(adam, "step", "adam.")
    if not 0 <= adam_step <= step:
        raise _Bad(f"'adam.step' is {adam_step}, not a step count up to the checkpoint's {step}")
    for key in ("exp_avg", "exp_avg_sq"):
        moments = adam.get(key)
        if not isinstance(moments, list) or len(moments) != len(expect.adam):
            count = len(moments) if isinstance(moments, list) else _short(moments)
            raise _Bad(f"'adam.{key}' holds {count} moments, the model has {len(expect.adam)} parameters")
        for i, (tensor, (shape, _)) in enumerate(zip(moments, expect.adam)):
            _tensor({str(i): tensor}, str(i), shape, "f", f"adam.{key}.")


def _check_sampler(sampler: dict[str, Any], expect: CheckpointExpectation) -> None:
    position = _integer(sampler, "position", "sampler.")
    if not 0 <= position <= expect.positions:
        raise _Bad(f"'sampler.position' is {position}, outside 0..{expect.positions} batches of an epoch")
    _generator(sampler, "generator", expect.order_state, "sampler.")
    if sampler.get("perm", "missing") is None:
        if position != expect.positions:
            raise _Bad("'sampler.perm' is missing in the middle of an epoch")
        return
    perm = _tensor(sampler, "perm", (expect.perm_length,), "i", "sampler.")
    if perm.dtype != torch.long or not torch.equal(torch.sort(perm.cpu()).values, torch.arange(expect.perm_length)):
        raise _Bad(f"'sampler.perm' is not an order of the {expect.perm_length} training examples")


def _generator(state: dict[str, Any], key: str, expected: tuple[int, str], prefix: str) -> None:
    """A torch generator's state: a uint8 tensor of the size the generator uses, that it accepts."""
    size, device = expected
    value = _tensor(state, key, (size,), "u", prefix)
    try:
        torch.Generator(device=device).set_state(value.cpu())
    except (RuntimeError, ValueError, TypeError) as exc:
        raise _Bad(f"'{prefix}{key}' is not a random generator's state ({str(exc)[:80]})") from None


def _check_window(window: dict[str, Any], name: str, step: int) -> None:
    count = _integer(window, "count", f"{name}.")
    if not 0 <= count <= step:
        raise _Bad(f"'{name}.count' is {count}, not a number of steps up to {step}")
    sums = _field(window, "sums", dict, prefix=f"{name}.")
    for key in sums:
        if not isinstance(key, str):
            raise _Bad(f"'{name}.sums' has a key {_short(key)}")
        _tensor(sums, key, (1,), "f", f"{name}.sums.")
    if count and not sums:
        raise _Bad(f"'{name}' counts {count} steps but holds no sums")


def check_group(states: list[dict[str, Any]], paths: list[Path], shared_sampler: bool) -> None:
    """The seeds of a group resume as one: their windows must hold the same quantities, and a shared sampler
    the same position (the first seed's is used for all)."""
    first = states[0]
    for state, path in zip(states[1:], paths[1:]):
        if shared_sampler and state["sampler"]["position"] != first["sampler"]["position"]:
            raise damaged(path, f"'sampler.position' disagrees with {paths[0]} of the same step", CHECKPOINT_ADVICE)
        for window in ("log_window", "plateau_window"):
            if (
                set(state[window]["sums"]) != set(first[window]["sums"])
                or state[window]["count"] != first[window]["count"]
            ):
                raise damaged(path, f"'{window}' disagrees with {paths[0]} of the same step", CHECKPOINT_ADVICE)
