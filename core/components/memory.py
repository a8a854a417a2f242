"""The memory this machine has free, and byte counts written for people: what a data set's loader uses to
refuse a file too large to load before it allocates anything (and what `ica.running.resources` checks whole
models with)."""

from __future__ import annotations

import os


def format_bytes(n: float) -> str:
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
