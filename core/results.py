"""The run directory: where each file lives, and writing every one of them atomically.

A file is written to a temporary name in the same folder, flushed to disk, then renamed over the
target, so a crash leaves either the old file or the new one, never half of one.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ica.errors import IcaError


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers only ever see a complete file."""
    tmp = _write_temp(path, data)
    try:
        os.replace(tmp, path)
    except BaseException:
        _discard(tmp)
        raise


_UMASK = os.umask(0)
os.umask(_UMASK)


def _write_temp(path: Path, data: bytes) -> str:
    """Write ``data`` to a new temporary file beside ``path``, flushed to disk, and return its name.

    On any failure (a full disk while writing or flushing) the temporary file is removed again.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp's 0600 would hide results from the rest of a shared group
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        _discard(tmp)
        raise
    return tmp


def _discard(tmp: str) -> None:
    try:
        os.unlink(tmp)
    except FileNotFoundError:
        pass


def write_json(path: Path, obj: Any) -> None:
    atomic_write(path, (json.dumps(obj, indent=2, sort_keys=False, allow_nan=False) + "\n").encode())


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise IcaError(f"cannot read {path.name}: {exc}", where=str(path)) from None


def save_torch(path: Path, obj: Any) -> None:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    atomic_write(path, buffer.getvalue())


def load_torch(path: Path) -> Any:
    """Load a checkpoint without executing code from it (``weights_only=True``)."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise IcaError(f"checkpoint is corrupt or unreadable ({type(exc).__name__}: {exc})", where=str(path)) from None


def save_checkpoint(files: "SeedFiles", state: Any, keep: int) -> None:
    """Make ``state`` the new ``checkpoint.pt``, shifting the older ones down (``checkpoint.1.pt``, ...).

    The new checkpoint is first written whole to a temporary file beside them and flushed to disk; only
    then are the older files shifted (each an atomic rename) and the temporary file renamed to
    ``checkpoint.pt``. So a failure while writing -- typically a full disk -- leaves every existing
    checkpoint exactly as it was, and no temporary file. A failure or kill between the renames (rare: a
    rename needs no new data blocks) leaves only complete files, though the newest may then be only at
    ``checkpoint.1.pt`` and the oldest kept one gone; resuming takes the newest step all seeds of a group
    have (`Trainer.checkpoint_states`). The error itself is always re-raised. Only a kill while writing
    can leave a temporary ``.checkpoint.pt.*.tmp`` behind (never read; a later save does not remove it).
    """
    buffer = io.BytesIO()
    torch.save(state, buffer)
    tmp = _write_temp(files.checkpoint, buffer.getvalue())
    try:
        paths = files.checkpoints(keep)
        for older, newer in zip(reversed(paths[1:]), reversed(paths[:-1])):
            if newer.exists():
                os.replace(newer, older)
        os.replace(tmp, files.checkpoint)
    except BaseException:
        _discard(tmp)
        raise


def save_npz(path: Path, **arrays: np.ndarray) -> None:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    atomic_write(path, buffer.getvalue())


def save_safetensors(path: Path, tensors: dict[str, torch.Tensor]) -> None:
    from safetensors.torch import save

    atomic_write(path, save({k: v.detach().contiguous().cpu() for k, v in tensors.items()}))


@dataclass(frozen=True)
class SeedFiles:
    """The files of one seed of one cell."""

    root: Path

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.jsonl"

    @property
    def checkpoint(self) -> Path:
        return self.root / "checkpoint.pt"

    def checkpoints(self, keep: int) -> list[Path]:
        """The newest checkpoint first, then the ``keep - 1`` kept before it."""
        return [self.checkpoint] + [self.root / f"checkpoint.{k}.pt" for k in range(1, keep)]

    @property
    def weights(self) -> Path:
        return self.root / "model.safetensors"

    @property
    def latents(self) -> Path:
        return self.root / "latents.npz"

    @property
    def result(self) -> Path:
        return self.root / "result.json"


@dataclass(frozen=True)
class RunLayout:
    """``<out>/spec.json, env.json, summary.json`` and ``<out>/<label>/seeds/<seed>/...`` per cell."""

    root: Path

    @property
    def spec(self) -> Path:
        return self.root / "spec.json"

    @property
    def env(self) -> Path:
        return self.root / "env.json"

    @property
    def summary(self) -> Path:
        return self.root / "summary.json"

    def cell(self, label: str) -> Path:
        return self.root / label

    def cell_summary(self, label: str) -> Path:
        return self.cell(label) / "summary.json"

    def seed(self, label: str, seed: int) -> SeedFiles:
        return SeedFiles(self.cell(label) / "seeds" / str(seed))
