"""The devices a spec, ``ica run --device`` and the estimators may name, written as torch writes them.

Whether a name is well formed is torch's own parser's answer (``torch.device``), so ``cuda:1`` here is
``cuda:1`` in torch; `ica` then keeps the kinds it trains on. Whether this machine has the device is another
question, asked where a run starts (`ica.running.building.resolve_device`): a spec written on a laptop may
name the cluster's ``cuda:1``.
"""

from __future__ import annotations

DEVICE_TYPES = ("cpu", "cuda", "mps")
"""The kinds of device `ica` trains on: the CPU, NVIDIA GPUs (``cuda``, ``cuda:N``) and Apple's GPU (``mps``)."""

DEVICE_HELP = "auto, cpu, cuda, cuda:N (one GPU of several) or mps (Apple's GPU)"
"""The accepted names, in words, for help texts and messages."""

DEVICE_PATTERN = r"^(auto|(cpu|mps)(:0)?|cuda(:(0|[1-9][0-9]*))?)$"
"""The accepted names as a regular expression, for the JSON Schema (editors); `check_device` decides."""


def check_device(name: object) -> str:
    """``name`` if it names a device `ica` can train on ('auto', or a torch device string of `DEVICE_TYPES`);
    else a ValueError saying what was wrong. Only CUDA has numbered devices (``mps:0``, how torch prints a
    tensor's device on Apple's GPU, is the one MPS device)."""
    if not isinstance(name, str):
        raise ValueError(f"a device is a string such as 'cuda:1', got {name!r}; expected {DEVICE_HELP}")
    if name == "auto":
        return name
    import torch

    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):  # torch's message lists every device type it knows: too many to help
        raise ValueError(
            f"unknown device {name!r}; expected cpu, cuda or auto, or one device as torch writes it (cuda:1, mps)"
        ) from None
    if device.type not in DEVICE_TYPES:
        raise ValueError(f"ica does not train on {device.type!r} devices ({name!r}); expected {DEVICE_HELP}")
    if device.type != "cuda" and device.index not in (None, 0):
        raise ValueError(f"{name!r}: only CUDA devices are numbered; write {device.type!r}")
    return name
