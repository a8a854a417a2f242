"""``env.json``: the versions, device, git commit and plugins a run was made with."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from typing import Any

import numpy as np
import torch

from ica.components.registry import Registry


def environment(device: torch.device, reg: Registry) -> dict[str, Any]:
    """Versions, device and code revision: what is needed to tell two runs' conditions apart."""
    from ica.components.registry import ica_version

    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "ica": ica_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor(),
        "threads": torch.get_num_threads(),
        "git_commit": _git_commit(),
        "plugins": [{"name": p.name, "version": p.version, "module": p.module} for p in reg.plugins],
    }


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=os.getcwd())
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None
